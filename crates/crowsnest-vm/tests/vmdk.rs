#![allow(clippy::unwrap_used, clippy::expect_used)]
//! VMDK (monolithicSparse) disks written by `qemu-img convert -O vmdk` from a raw GPT disk
//! built with mke2fs -d and sgdisk: every byte read through the VMDK reader must equal the raw
//! disk qemu-img converted, the virtual size must be what `qemu-img info` reports, and
//! inspection must find the same system; the same for a streamOptimized VMDK (compressed grains
//! behind markers, the header in a footer). Truncated and otherwise hostile copies fail with
//! `invalid_image` or `image_oversized`.

use std::path::{Path, PathBuf};

use crowsnest_testkit::disk;
use crowsnest_vm::{open_disk, DiskFormat, DiskLimits, VmError, VmImage};

/// A raw GPT disk (EFI system partition + ext4 root holding an os-release, the host's
/// /bin/sh and data past the first grains, so grain tables beyond the first are used) and its
/// vmdk conversion, in `dir`.
fn build(dir: &Path) -> (PathBuf, PathBuf) {
    let raw = disk::debian_gpt_disk(dir);
    let vmdk = dir.join("disk.vmdk");
    disk::convert(&raw, "raw", "vmdk", &[], &vmdk);
    (raw, vmdk)
}

fn qemu_virtual_size(image: &Path) -> u64 {
    let info = disk::qemu_info(image, None);
    assert_eq!(info["format"], "vmdk");
    info["virtual-size"].as_u64().unwrap()
}

/// Reads the whole device in odd-sized pieces that straddle grains.
fn read_all(device: &dyn crowsnest_vm::disk::BlockDevice) -> Result<Vec<u8>, VmError> {
    let mut read = vec![0u8; device.size() as usize];
    for (i, chunk) in read.chunks_mut(100_003).enumerate() {
        device.read_at(i as u64 * 100_003, chunk)?;
    }
    Ok(read)
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
    assert!(
        read_all(device.as_ref()).unwrap() == raw_bytes,
        "the vmdk does not read as the raw disk"
    );
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
fn truncated_vmdk_fails_with_invalid_image() {
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
    let _ = raw;
    let _ = std::fs::remove_dir_all(dir);
}

/// `raw` converted to a streamOptimized VMDK (compressed grains behind markers, the header
/// in a footer).
fn stream_optimized(raw: &Path) -> PathBuf {
    let stream = raw.with_file_name("stream.vmdk");
    disk::convert(raw, "raw", "vmdk", &["subformat=streamOptimized"], &stream);
    stream
}

#[test]
fn stream_optimized_vmdk_reads_as_the_raw_disk_it_came_from() {
    if !disk::require_disk_tools() {
        return;
    }
    let dir = disk::scratch("vmdk-stream");
    let (raw, _) = build(&dir);
    let stream = stream_optimized(&raw);
    let (device, format) = open_disk(&stream, &DiskLimits::default()).unwrap();
    let DiskFormat::Vmdk(info) = &format else {
        panic!("{format:?}")
    };
    assert!(info.compressed);
    assert_eq!(info.virtual_size, qemu_virtual_size(&stream));
    let raw_bytes = std::fs::read(&raw).unwrap();
    assert!(
        read_all(device.as_ref()).unwrap() == raw_bytes,
        "the streamOptimized vmdk does not read as the raw disk"
    );
    let found = VmImage::open(&stream, &DiskLimits::default())
        .unwrap()
        .inspect();
    assert_eq!(found.boot_mode, "UEFI");
    assert_eq!(found.os.unwrap().id, "debian");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn hostile_stream_optimized_vmdk_fails_with_stable_codes() {
    if !disk::require_disk_tools() {
        return;
    }
    let dir = disk::scratch("vmdk-stream-bad");
    let (raw, _) = build(&dir);
    let bytes = std::fs::read(stream_optimized(&raw)).unwrap();
    let le64 = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let le32 = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let first_error = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        match open_disk(&path, &DiskLimits::default()) {
            Err(e) => e,
            Ok((device, _)) => read_all(device.as_ref()).expect_err(name),
        }
    };
    // The header in force (the footer, when the first header defers to it), the grain
    // directory it names, and the first grain table's first allocated grain.
    let footer = if le64(&bytes, 56) == u64::MAX {
        bytes.len() - 1024
    } else {
        0
    };
    assert_eq!(&bytes[footer..footer + 4], b"KDMV");
    let gd = le64(&bytes, footer + 56) as usize * 512;
    let gt = le32(&bytes, gd) as usize * 512;
    let entry_at = (0..)
        .map(|i| gt + 4 * i)
        .find(|at| le32(&bytes, *at) > 1)
        .unwrap();
    let grain_at = le32(&bytes, entry_at) as usize * 512;

    // Cut in half: the footer, or the grains past the cut, are gone.
    let err = first_error("half.vmdk", &bytes[..bytes.len() / 2]);
    assert_eq!(err.code().as_str(), "invalid_image", "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");

    // A grain table entry far outside the file.
    let mut outside = bytes.clone();
    outside[entry_at..entry_at + 4].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    let err = first_error("outside.vmdk", &outside);
    assert_eq!(err.code().as_str(), "invalid_image", "{err}");
    assert!(err.to_string().contains("past the end"), "{err}");

    // A grain whose marker claims a gigabyte of compressed data.
    let mut long = bytes.clone();
    long[grain_at + 8..grain_at + 12].copy_from_slice(&(1u32 << 30).to_le_bytes());
    let err = first_error("long.vmdk", &long);
    assert_eq!(err.code().as_str(), "invalid_image", "{err}");
    assert!(err.to_string().contains("compressed to"), "{err}");

    // Compressed bytes that are not zlib.
    let mut garbage = bytes.clone();
    garbage[grain_at + 12..grain_at + 16].copy_from_slice(b"\xff\xff\xff\xff");
    let err = first_error("garbage.vmdk", &garbage);
    assert_eq!(err.code().as_str(), "invalid_image", "{err}");
    assert!(err.to_string().contains("inflate"), "{err}");

    // A capacity of an exabyte in the header in force.
    let mut huge = bytes.clone();
    huge[footer + 12..footer + 20].copy_from_slice(&(1u64 << 51).to_le_bytes());
    let err = first_error("huge.vmdk", &huge);
    assert_eq!(err.code().as_str(), "image_oversized", "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
