#![allow(clippy::unwrap_used, clippy::expect_used)]
//! VMDK (monolithicSparse) disks written by `qemu-img convert -O vmdk` from a raw GPT disk
//! built with mke2fs -d and sgdisk: every byte read through the VMDK reader must equal the raw
//! disk qemu-img converted, the virtual size must be what `qemu-img info` reports, and
//! inspection must find the same system. A truncated VMDK and a streamOptimized one (compressed
//! grains, not read) fail with `invalid_image`.

use std::path::Path;
use std::process::Command;

use crowsnest_testkit::disk::{self, Table};
use crowsnest_vm::{open_disk, DiskFormat, DiskLimits, VmImage};

/// A raw GPT disk (EFI system partition + ext4 root holding an os-release and the host's
/// /bin/sh) and its vmdk conversion, in `dir`.
fn build(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::create_dir_all(tree.join("bin")).unwrap();
    std::fs::write(
        tree.join("etc/os-release"),
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
    )
    .unwrap();
    std::fs::copy("/bin/sh", tree.join("bin/sh")).unwrap();
    // Some data past the first grains, so grain tables beyond the first are used.
    std::fs::write(tree.join("bin/data"), vec![0xa5u8; 3 << 20]).unwrap();
    let ext4 = dir.join("root.ext4");
    disk::mke2fs(&tree, &ext4, 24);
    let raw = dir.join("disk.raw");
    disk::partitioned(&ext4, Table::GptWithEsp, &raw);
    let vmdk = dir.join("disk.vmdk");
    disk::run(
        Command::new("qemu-img")
            .args(["convert", "-q", "-f", "raw", "-O", "vmdk"])
            .arg(&raw)
            .arg(&vmdk),
    );
    (raw, vmdk)
}

fn qemu_virtual_size(image: &Path) -> u64 {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(image)
        .output()
        .unwrap();
    assert!(out.status.success());
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["format"], "vmdk");
    info["virtual-size"].as_u64().unwrap()
}

#[test]
fn monolithic_sparse_vmdk_reads_as_the_raw_disk_it_came_from() {
    if !disk::require_disk_tools() {
        return;
    }
    let dir = disk::scratch("vmdk-read");
    let (raw, vmdk) = build(&dir);
    let (device, format) = open_disk(&vmdk, &DiskLimits::default()).unwrap();
    let DiskFormat::Vmdk(info) = &format else {
        panic!("{format:?}")
    };
    assert_eq!(format.name(), "vmdk");
    let raw_bytes = std::fs::read(&raw).unwrap();
    assert_eq!(info.virtual_size, qemu_virtual_size(&vmdk));
    assert_eq!(device.size(), raw_bytes.len() as u64);
    // Every byte, in odd-sized reads that straddle grains.
    let mut read = vec![0u8; raw_bytes.len()];
    for (i, chunk) in read.chunks_mut(100_003).enumerate() {
        device.read_at(i as u64 * 100_003, chunk).unwrap();
    }
    assert!(read == raw_bytes, "the vmdk does not read as the raw disk");
    assert!(device.read_at(device.size() - 10, &mut [0u8; 11]).is_err());

    let image = VmImage::open(&vmdk, &DiskLimits::default()).unwrap();
    let found = image.inspect();
    assert_eq!(found.format, "vmdk");
    assert_eq!(found.boot_mode, "UEFI");
    assert_eq!(found.root_partition, Some(2));
    assert_eq!(found.os.unwrap().id, "debian");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn truncated_and_stream_optimized_vmdk_fail_with_invalid_image() {
    if !disk::require_disk_tools() {
        return;
    }
    let dir = disk::scratch("vmdk-bad");
    let (raw, vmdk) = build(&dir);
    let bytes = std::fs::read(&vmdk).unwrap();
    for (cut, what) in [(300, "header"), (bytes.len() / 2, "grain")] {
        let truncated = dir.join(format!("cut-{cut}.vmdk"));
        std::fs::write(&truncated, &bytes[..cut]).unwrap();
        let err = match VmImage::open(&truncated, &DiskLimits::default()) {
            Err(e) => e,
            Ok(image) => {
                // The header and tables may all precede the cut: reading the disk fails then.
                assert!(image.root_fs().is_none(), "{what}: read past the cut");
                continue;
            }
        };
        assert_eq!(err.code().as_str(), "invalid_image", "{what}: {err}");
        assert!(err.to_string().contains("truncated"), "{what}: {err}");
    }
    let stream = dir.join("stream.vmdk");
    disk::run(
        Command::new("qemu-img")
            .args(["convert", "-q", "-f", "raw", "-O", "vmdk"])
            .args(["-o", "subformat=streamOptimized"])
            .arg(&raw)
            .arg(&stream),
    );
    let Err(err) = open_disk(&stream, &DiskLimits::default()) else {
        panic!("opened a streamOptimized vmdk")
    };
    assert_eq!(err.code().as_str(), "invalid_image");
    assert!(err.to_string().contains("streamOptimized"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
