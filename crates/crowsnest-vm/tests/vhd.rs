#![allow(clippy::unwrap_used, clippy::expect_used)]
//! VHD disks (fixed and dynamic) written by `qemu-img convert -O vpc` from a raw GPT disk built
//! with mke2fs -d and sgdisk: every byte read through the VHD reader must equal what
//! `qemu-img convert -O raw` reads back from the same VHD (QEMU is the oracle of the virtual
//! size and contents), and inspection must find the system that was built. Hostile copies
//! (truncated, a BAT entry pointing outside the file, huge sizes, a corrupt footer) end in
//! `invalid_image` or `image_oversized`, never a panic or a huge allocation.

use std::path::{Path, PathBuf};

use crowsnest_testkit::disk;
use crowsnest_vm::disk::VhdKind;
use crowsnest_vm::{open_disk, DiskFormat, DiskLimits, VmError, VmImage};

/// `raw` converted to VHD with `subformat` (fixed or dynamic).
fn vhd(raw: &Path, subformat: &str) -> PathBuf {
    let out = raw.with_file_name(format!("{subformat}.vhd"));
    let option = format!("subformat={subformat}");
    disk::convert(raw, "raw", "vpc", &[&option], &out);
    out
}

/// What QEMU reads from `image`: its virtual size and its bytes, converted back to raw.
fn qemu_view(image: &Path) -> (u64, Vec<u8>) {
    let info = disk::qemu_info(image, Some("vpc"));
    let size = info["virtual-size"].as_u64().unwrap();
    let back = image.with_extension("back.raw");
    disk::convert(image, "vpc", "raw", &[], &back);
    let bytes = std::fs::read(&back).unwrap();
    let _ = std::fs::remove_file(back);
    (size, bytes)
}

/// Reads the whole device in odd-sized pieces that straddle blocks.
fn read_all(device: &dyn crowsnest_vm::disk::BlockDevice) -> Result<Vec<u8>, VmError> {
    let mut read = vec![0u8; device.size() as usize];
    for (i, chunk) in read.chunks_mut(100_003).enumerate() {
        device.read_at(i as u64 * 100_003, chunk)?;
    }
    Ok(read)
}

#[test]
fn fixed_and_dynamic_vhd_read_as_qemu_reads_them() {
    if !disk::require_disk_tools() {
        return;
    }
    let dir = disk::scratch("vhd-read");
    let raw = disk::debian_gpt_disk(&dir);
    for (subformat, kind) in [("fixed", VhdKind::Fixed), ("dynamic", VhdKind::Dynamic)] {
        let image = vhd(&raw, subformat);
        let (device, format) = open_disk(&image, &DiskLimits::default()).unwrap();
        let DiskFormat::Vhd(info) = &format else {
            panic!("{subformat}: {format:?}")
        };
        assert_eq!(format.name(), "vhd");
        assert_eq!(info.kind, kind, "{subformat}");
        let (size, bytes) = qemu_view(&image);
        assert_eq!(info.virtual_size, size, "{subformat}");
        assert_eq!(device.size(), size, "{subformat}");
        let read = read_all(device.as_ref()).unwrap();
        assert!(
            read == bytes,
            "{subformat}: the VHD does not read as QEMU reads it"
        );
        assert!(device.read_at(device.size() - 10, &mut [0u8; 11]).is_err());

        let image = VmImage::open(&image, &DiskLimits::default()).unwrap();
        let found = image.inspect();
        assert_eq!(found.format, "vhd");
        assert_eq!(found.boot_mode, "UEFI");
        assert_eq!(found.root_partition, Some(2));
        assert_eq!(found.os.unwrap().id, "debian");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Recomputes a VHD footer's (or dynamic header's) checksum after the test edited it: the
/// one's complement of the byte sum with the checksum field taken as zero.
fn fix_checksum(block: &mut [u8], at: usize) {
    block[at..at + 4].fill(0);
    let sum: u32 = block
        .iter()
        .fold(0u32, |a, b| a.wrapping_add(u32::from(*b)));
    block[at..at + 4].copy_from_slice(&(!sum).to_be_bytes());
}

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// Opens `bytes` (written to `dir/name`) and reads every byte of the disk; returns the first
/// error. A disk that reads fine is a test failure.
fn first_error(dir: &Path, name: &str, bytes: &[u8]) -> VmError {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    match open_disk(&path, &DiskLimits::default()) {
        Err(e) => e,
        Ok((device, _)) => read_all(device.as_ref()).expect_err(name),
    }
}

#[test]
fn hostile_vhd_files_fail_with_stable_codes() {
    if !disk::require_disk_tools() {
        return;
    }
    let dir = disk::scratch("vhd-bad");
    let raw = disk::debian_gpt_disk(&dir);
    let dynamic = std::fs::read(vhd(&raw, "dynamic")).unwrap();
    let fixed = std::fs::read(vhd(&raw, "fixed")).unwrap();
    let end = dynamic.len() - 512;

    // Cut in half: the copy of the footer at the start still opens it, and the blocks past
    // the cut are named.
    let err = first_error(&dir, "half.vhd", &dynamic[..dynamic.len() / 2]);
    assert_eq!(err.code().as_str(), "invalid_image", "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");

    // A BAT entry pointing far outside the file.
    let header_at = be64(&dynamic, 16) as usize;
    let bat_at = be64(&dynamic, header_at + 16) as usize;
    let mut outside = dynamic.clone();
    let first_allocated = (0..)
        .map(|i| bat_at + 4 * i)
        .find(|at| outside[*at..*at + 4] != [0xff; 4])
        .unwrap();
    outside[first_allocated..first_allocated + 4].copy_from_slice(&0x7fff_0000u32.to_be_bytes());
    let err = first_error(&dir, "outside.vhd", &outside);
    assert_eq!(err.code().as_str(), "invalid_image", "{err}");
    assert!(err.to_string().contains("past the end"), "{err}");

    // A footer claiming an exabyte (creator `win `, so the current size counts), checksum
    // recomputed so that the size itself is what is refused.
    let mut huge = dynamic.clone();
    for at in [0, end] {
        let footer = &mut huge[at..at + 512];
        footer[28..32].copy_from_slice(b"win ");
        footer[48..56].copy_from_slice(&(1u64 << 60).to_be_bytes());
        fix_checksum(footer, 64);
    }
    let err = first_error(&dir, "huge.vhd", &huge);
    assert_eq!(err.code().as_str(), "image_oversized", "{err}");

    // A dynamic header asking for 4 G BAT entries.
    let mut entries = dynamic.clone();
    let header = &mut entries[header_at..header_at + 1024];
    header[28..32].copy_from_slice(&u32::MAX.to_be_bytes());
    fix_checksum(header, 36);
    let err = first_error(&dir, "entries.vhd", &entries);
    assert_eq!(err.code().as_str(), "image_oversized", "{err}");

    // A block size that is not a power of two.
    let mut block = dynamic.clone();
    let header = &mut block[header_at..header_at + 1024];
    header[32..36].copy_from_slice(&3000u32.to_be_bytes());
    fix_checksum(header, 36);
    let err = first_error(&dir, "block.vhd", &block);
    assert_eq!(err.code().as_str(), "invalid_image", "{err}");
    assert!(err.to_string().contains("block size"), "{err}");

    // A footer byte flipped: the checksum says so.
    let mut corrupt = fixed.clone();
    let at = corrupt.len() - 512 + 50;
    corrupt[at] ^= 0x40;
    let err = first_error(&dir, "corrupt.vhd", &corrupt);
    assert_eq!(err.code().as_str(), "invalid_image", "{err}");
    assert!(err.to_string().contains("checksum"), "{err}");

    // A fixed disk with a footer claiming more than the file holds.
    let mut short = fixed[fixed.len() - 512 - (1 << 20)..].to_vec();
    let footer_at = short.len() - 512;
    let footer = &mut short[footer_at..];
    footer[28..32].copy_from_slice(b"win ");
    fix_checksum(footer, 64);
    let err = first_error(&dir, "short.vhd", &short);
    assert_eq!(err.code().as_str(), "invalid_image", "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");

    // A cookie and zeros: no valid footer.
    let mut cookie = vec![0u8; 1024];
    cookie[..8].copy_from_slice(b"conectix");
    let err = first_error(&dir, "cookie.vhd", &cookie);
    assert_eq!(err.code().as_str(), "invalid_image", "{err}");
    assert!(err.to_string().contains("checksum"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
