//! Disk images built with the real tools, for VM image tests: `mke2fs -d` makes an ext4
//! filesystem from a directory, `debugfs -w` changes files inside it without mounting,
//! `sgdisk`/`sfdisk` write GPT and MBR tables, `qemu-img` converts to qcow2 (compressed,
//! or as an overlay over a backing file), `mkfs.xfs -p` makes an XFS filesystem from a
//! protofile and `xfs_db -x` changes it. Nothing here needs root.

// Test support: a failed step is a failed test, so panicking on it is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Bytes per sector in every image built here.
pub const SECTOR: u64 = 512;
/// Where the root partition starts in the partitioned images (sector 18432 = 9 MiB, after an
/// 8 MiB ESP at sector 2048 on GPT; MBR uses the same start for simplicity).
pub const ROOT_START_SECTOR: u64 = 18432;

/// True when every tool the disk helpers use is installed (see [`crate::require_tool`]).
pub fn require_disk_tools() -> bool {
    [
        "mke2fs", "debugfs", "sgdisk", "sfdisk", "qemu-img", "cpio", "gzip",
    ]
    .iter()
    .all(|t| crate::require_tool(t))
}

/// Runs a command, panicking with its output when it fails.
pub fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes an ext4 image of `size_mib` MiB at `out` holding the tree at `root` (`mke2fs -d`).
/// The UUID and timestamps are fixed, so two images of the same tree are identical.
pub fn mke2fs(root: &Path, out: &Path, size_mib: u64) {
    run(Command::new("mke2fs")
        .env("E2FSPROGS_FAKE_TIME", "1700000000")
        .args(["-q", "-F", "-t", "ext4", "-L", "crowsnest-root"])
        .args([
            "-U",
            "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
            "-E",
            "hash_seed=1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        ])
        .arg("-d")
        .arg(root)
        .arg(out)
        .arg(format!("{size_mib}M")));
}

/// Runs debugfs requests (`mkdir a/b`, `write HOSTFILE a/b/c`, `symlink a b`) on the ext4
/// image `image`, writing.
pub fn debugfs(image: &Path, requests: &[String]) {
    let script = image.with_extension("debugfs");
    std::fs::write(&script, requests.join("\n") + "\n").unwrap();
    run(Command::new("debugfs")
        .arg("-w")
        .arg("-f")
        .arg(&script)
        .arg(image));
    let _ = std::fs::remove_file(script);
}

/// The partition table of [`partitioned`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// GPT: partition 1 an 8 MiB EFI system partition, partition 2 the root.
    GptWithEsp,
    /// MBR: partition 1 the root, marked bootable.
    Mbr,
}

/// Builds a raw disk at `out` holding `fs_image` as its root partition starting at
/// [`ROOT_START_SECTOR`], with the table `table` written by `sgdisk` or `sfdisk`. Returns the
/// root partition's number.
pub fn partitioned(fs_image: &Path, table: Table, out: &Path) -> u32 {
    let fs_len = std::fs::metadata(fs_image).unwrap().len();
    assert_eq!(fs_len % SECTOR, 0);
    let fs_sectors = fs_len / SECTOR;
    // Room for the backup GPT after the root partition, rounded to whole MiB.
    let total = ((ROOT_START_SECTOR + fs_sectors + 2048) * SECTOR).div_ceil(1 << 20) << 20;
    let file = std::fs::File::create(out).unwrap();
    file.set_len(total).unwrap();
    drop(file);
    let last = ROOT_START_SECTOR + fs_sectors - 1;
    let number = match table {
        Table::GptWithEsp => {
            run(Command::new("sgdisk")
                .args(["-n", "1:2048:18431", "-t", "1:ef00", "-c", "1:EFI"])
                .args([
                    "-n",
                    &format!("2:{ROOT_START_SECTOR}:{last}"),
                    "-t",
                    "2:8300",
                    "-c",
                    "2:root",
                ])
                .arg(out));
            2
        }
        Table::Mbr => {
            let script = format!(
                "label: dos\nstart={ROOT_START_SECTOR}, size={fs_sectors}, type=83, bootable\n"
            );
            let mut child = Command::new("sfdisk")
                .args(["--quiet", "--no-reread", "--no-tell-kernel"])
                .arg(out)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(script.as_bytes())
                .unwrap();
            assert!(child.wait().unwrap().success(), "sfdisk failed");
            1
        }
    };
    run(Command::new("dd")
        .arg(format!("if={}", fs_image.display()))
        .arg(format!("of={}", out.display()))
        .args(["bs=1M", "conv=notrunc,sparse", "status=none"])
        .arg("oflag=seek_bytes")
        .arg(format!("seek={}", ROOT_START_SECTOR * SECTOR)));
    number
}

/// Converts `input` (raw) to a compressed qcow2 at `out` (`qemu-img convert -c`).
pub fn qcow2_compressed(input: &Path, out: &Path) {
    run(Command::new("qemu-img")
        .args(["convert", "-q", "-f", "raw", "-O", "qcow2", "-c"])
        .arg(input)
        .arg(out));
}

/// Converts `input` (raw) to a plain qcow2 at `out`.
pub fn qcow2(input: &Path, out: &Path) {
    run(Command::new("qemu-img")
        .args(["convert", "-q", "-f", "raw", "-O", "qcow2"])
        .arg(input)
        .arg(out));
}

/// Converts the disk `input` from qemu-img format `from` to `to` (`raw`, `vpc`, `vmdk`, …)
/// at `out`, with `options` each passed as `-o` (`subformat=dynamic`).
pub fn convert(input: &Path, from: &str, to: &str, options: &[&str], out: &Path) {
    let mut cmd = Command::new("qemu-img");
    cmd.args(["convert", "-q", "-f", from, "-O", to]);
    for o in options {
        cmd.args(["-o", o]);
    }
    run(cmd.arg(input).arg(out));
}

/// What QEMU reports of `image` (`qemu-img info --output=json`): its `format`, its
/// `virtual-size`, …; read as `format` when given (a fixed VHD is detected as raw).
pub fn qemu_info(image: &Path, format: Option<&str>) -> serde_json::Value {
    let mut cmd = Command::new("qemu-img");
    cmd.args(["info", "--output=json"]);
    if let Some(f) = format {
        cmd.args(["-f", f]);
    }
    let out = cmd.arg(image).output().expect("running qemu-img info");
    assert!(out.status.success(), "qemu-img info {}", image.display());
    serde_json::from_slice(&out.stdout).expect("qemu-img info's JSON")
}

/// A raw GPT disk `dir/disk.raw`: an EFI system partition and an ext4 root holding a Debian 12
/// os-release, the host's /bin/sh and 3 MiB of data (`/bin/data`), so that a conversion
/// allocates several blocks or grains beyond the first.
pub fn debian_gpt_disk(dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::create_dir_all(tree.join("bin")).unwrap();
    std::fs::write(
        tree.join("etc/os-release"),
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
    )
    .unwrap();
    std::fs::copy("/bin/sh", tree.join("bin/sh")).unwrap();
    std::fs::write(tree.join("bin/data"), vec![0xa5u8; 3 << 20]).unwrap();
    let ext4 = dir.join("root.ext4");
    mke2fs(&tree, &ext4, 24);
    let raw = dir.join("disk.raw");
    partitioned(&ext4, Table::GptWithEsp, &raw);
    raw
}

/// Builds a qcow2 overlay at `out` over `backing` (a qcow2 of the raw disk `base`, in the same
/// directory, recorded by file name only so the pair can move together) holding exactly the
/// 64 KiB clusters in which the raw disk `changed` differs from `base`: `qemu-img create -b`
/// makes the empty overlay and `qemu-io` writes each differing cluster into it. Returns how
/// many clusters were written.
pub fn qcow2_overlay(base: &Path, changed: &Path, backing: &Path, out: &Path) -> usize {
    const CLUSTER: usize = 64 << 10;
    let dir = out.parent().unwrap();
    run(Command::new("qemu-img")
        .current_dir(dir)
        .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(backing.file_name().unwrap())
        .arg(out));
    let a = std::fs::read(base).unwrap();
    let b = std::fs::read(changed).unwrap();
    assert_eq!(a.len(), b.len(), "base and changed disks differ in size");
    let mut cmd = Command::new("qemu-io");
    cmd.args(["-f", "qcow2"]).arg(out);
    let mut written = 0;
    for (i, (x, y)) in a.chunks(CLUSTER).zip(b.chunks(CLUSTER)).enumerate() {
        if x == y {
            continue;
        }
        let piece = dir.join(format!("cluster-{i}.bin"));
        std::fs::write(&piece, y).unwrap();
        cmd.arg("-c").arg(format!(
            "write -q -s {} {} {}",
            piece.display(),
            i * CLUSTER,
            y.len()
        ));
        written += 1;
    }
    run(&mut cmd);
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("cluster-") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    written
}

/// Builds a newc cpio archive of `dir` with the real `cpio`, gzip-compressed, at `out`: the
/// shape of a Debian initramfs.
pub fn initramfs_gz(dir: &Path, out: &Path) {
    let script = format!(
        "cd '{}' && find . | LC_ALL=C sort | cpio --quiet -o -H newc | gzip -9 > '{}'",
        dir.display(),
        out.display()
    );
    run(Command::new("sh").arg("-c").arg(script));
}

/// A scratch directory for one test's disks under the shared test cache; `name` must differ
/// between tests of one binary (they share the process id).
pub fn scratch(name: &str) -> PathBuf {
    let dir = crate::cache_dir("disks").join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The body of an `mkfs.xfs -p` protofile (mkfs.xfs(8), "prototype file") describing the
/// trees at `roots` merged (an entry of an earlier root wins; directories present in several
/// are merged): one line per entry (`name type-suid-sgid-mode uid gid [source | target |
/// major minor]`), directories closed by `$`, without the two header lines, the root's line
/// and its closing `$`. Returns the body and the entries the format cannot express (names or
/// symlink targets with whitespace, a name `$`, sockets), relative to the roots, which are
/// left out. mkfs.xfs cannot set the sticky bit (three octal digits): see [`xfs_db_write`].
pub fn xfs_protofile(roots: &[&Path]) -> (String, Vec<String>) {
    use std::collections::BTreeMap;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    fn walk(rel: &Path, roots: &[&Path], out: &mut String, skipped: &mut Vec<String>) {
        let mut entries: BTreeMap<String, PathBuf> = BTreeMap::new();
        for root in roots.iter().rev() {
            let dir = root.join(rel);
            if !dir.is_dir() || dir.is_symlink() {
                continue;
            }
            for e in std::fs::read_dir(&dir).unwrap() {
                let e = e.unwrap();
                entries.insert(e.file_name().to_string_lossy().into_owned(), e.path());
            }
        }
        for (name, path) in entries {
            let rel = rel.join(&name);
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let ft = meta.file_type();
            let target = ft.is_symlink().then(|| {
                std::fs::read_link(&path)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            });
            let awkward = |s: &str| s.is_empty() || s == "$" || s.contains(char::is_whitespace);
            if awkward(&name) || target.as_deref().is_some_and(awkward) || ft.is_socket() {
                skipped.push(rel.to_string_lossy().into_owned());
                continue;
            }
            let kind = if ft.is_dir() {
                'd'
            } else if ft.is_symlink() {
                'l'
            } else if ft.is_file() {
                '-'
            } else if ft.is_char_device() {
                'c'
            } else if ft.is_block_device() {
                'b'
            } else {
                'p'
            };
            let mode = meta.mode();
            let suid = if mode & 0o4000 != 0 { 'u' } else { '-' };
            let sgid = if mode & 0o2000 != 0 { 'g' } else { '-' };
            out.push_str(&format!(
                "{name} {kind}{suid}{sgid}{:03o} {} {}",
                mode & 0o777,
                meta.uid(),
                meta.gid()
            ));
            match kind {
                '-' => out.push_str(&format!(" {}\n", path.display())),
                'l' => out.push_str(&format!(" {}\n", target.unwrap())),
                'b' | 'c' => {
                    let rdev = meta.rdev();
                    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
                    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
                    out.push_str(&format!(" {major} {minor}\n"));
                }
                'd' => {
                    out.push('\n');
                    walk(&rel, roots, out, skipped);
                    out.push_str("$\n");
                }
                _ => out.push('\n'),
            }
        }
    }
    let mut out = String::new();
    let mut skipped = Vec::new();
    walk(Path::new(""), roots, &mut out, &mut skipped);
    (out, skipped)
}

/// Makes an XFS image of `size_mib` MiB (mkfs.xfs wants at least 300) at `out` from the
/// protofile body `body` (see [`xfs_protofile`]) under a root directory of mode 0755, with
/// `extra` mkfs.xfs options (`-m crc=0` for a v4 filesystem). No root privileges needed.
pub fn mkfs_xfs(body: &str, out: &Path, size_mib: u64, extra: &[&str]) {
    let proto = out.with_extension("proto");
    std::fs::write(&proto, format!("/dev/null\n0 0\nd--755 0 0\n{body}$\n")).unwrap();
    let file = std::fs::File::create(out).unwrap();
    file.set_len(size_mib << 20).unwrap();
    drop(file);
    run(Command::new("mkfs.xfs")
        .args(["-q", "-f", "-L", "crowsnestxfs"])
        .args(extra)
        .arg("-p")
        .arg(&proto)
        .arg(out));
    let _ = std::fs::remove_file(proto);
}

/// Runs `xfs_db -x` commands (`path /a`, `write core.mode 041777`) on the XFS image `image`,
/// writing: how a test changes an XFS image without mounting it.
pub fn xfs_db_write(image: &Path, commands: &[String]) {
    let mut cmd = Command::new("xfs_db");
    cmd.arg("-x");
    for c in commands {
        cmd.arg("-c").arg(c);
    }
    run(cmd.arg(image));
}

/// What `xfs_db -r` prints for `commands` on `image`: the reference reading of an XFS image.
pub fn xfs_db_print(image: &Path, commands: &[String]) -> String {
    let mut cmd = Command::new("xfs_db");
    cmd.arg("-r");
    for c in commands {
        cmd.arg("-c").arg(c);
    }
    let out = cmd.arg(image).output().unwrap();
    assert!(
        out.status.success(),
        "xfs_db: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
