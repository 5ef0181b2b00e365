#!/bin/sh
# Builds a 2 GiB qcow2 (the cached debootstrap root plus 1.8 GiB of incompressible filler in a
# 2.75 GiB ext4) and times inspecting and scanning it with crates/crowsnest-vm/examples/vm_bench.rs
# under /usr/bin/time -v. Needs mke2fs, debugfs, qemu-img and the debootstrap cache that
# `cargo test -p crowsnest-vm` creates (target/crowsnest-test-cache/debian/bookworm-minbase).
# Not part of CI. Usage: scripts/vm-bench.sh [WORKDIR]
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
root="$repo/target/crowsnest-test-cache/debian/bookworm-minbase"
work=${1:-"$repo/target/vm-bench"}
[ -f "$root/var/lib/dpkg/status" ] || { echo "no debootstrap root at $root; run cargo test -p crowsnest-vm first" >&2; exit 1; }
mkdir -p "$work"
if [ ! -f "$work/bench.qcow2" ]; then
    E2FSPROGS_FAKE_TIME=1700000000 mke2fs -q -F -t ext4 -d "$root" "$work/root.ext4" 2816M
    head -c 1850M /dev/urandom > "$work/filler.bin"
    debugfs -w -R "write $work/filler.bin var/filler.bin" "$work/root.ext4" >/dev/null
    rm -f "$work/filler.bin"
    qemu-img convert -q -f raw -O qcow2 "$work/root.ext4" "$work/bench.qcow2"
    rm -f "$work/root.ext4"
fi
ls -l "$work/bench.qcow2"
cargo build -q --release -p crowsnest-vm --example vm_bench
bin="${CARGO_TARGET_DIR:-$repo/target}/release/examples/vm_bench"
# One warm-up run so the figures are for a warm page cache, then the measured one.
"$bin" "$work/bench.qcow2" >/dev/null
/usr/bin/time -v "$bin" "$work/bench.qcow2" 2>&1 | grep -E '^[a-zA-Z +]+:|Elapsed|Maximum resident'
