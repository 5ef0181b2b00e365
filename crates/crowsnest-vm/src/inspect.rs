//! Inspection: what a VM disk holds, found without booting it.
//!
//! [`VmImage::open`] reads the disk and its partition table and finds the root filesystem
//! (the ext4 or xfs filesystem holding `/etc/os-release` or `/usr/lib/os-release`);
//! [`VmImage::inspect`] then reads the OS from os-release, the architecture from ELF headers,
//! the boot mode from the partition table and the ESP, cloud-init, and NVMe and virtio driver
//! support from the kernel modules, `modules.builtin` and the initramfs, and turns what it
//! found into the check items DescribeImages reports (DetectionOptions, Features.NvmeSupport).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use crowsnest_model::{FileKind, ImageFs, ImagePath};
use serde::Serialize;

use crate::disk::{open_disk, Disk, DiskFormat, DiskLimits, Slice};
use crate::ext4::Ext4;
use crate::filesystem::{FsLimits, ReadOnlyFs};
use crate::partition::{read_partitions, PartitionRole, PartitionTable, TableKind};
use crate::view::VmFs;
use crate::xfs::Xfs;
use crate::VmError;

/// Files that name the OS; the first one present marks the root filesystem.
const OS_RELEASE: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];
/// Programs whose ELF header tells the architecture, most telling first.
const ELF_PROBES: [&str; 4] = ["bin/sh", "usr/bin/env", "bin/ls", "sbin/init"];
/// Largest initramfs read, bytes of the stored file.
const MAX_INITRAMFS: u64 = 512 << 20;
/// Most entries listed from one initramfs.
const MAX_CPIO_ENTRIES: usize = 200_000;

/// A disk image opened for inspection and scanning.
#[derive(Debug)]
pub struct VmImage {
    disk: Disk,
    format: DiskFormat,
    table: PartitionTable,
    filesystems: Vec<FoundFs>,
    root: Option<(u32, VmFs)>,
}

/// A filesystem found on a partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FoundFs {
    /// The partition number (0 for a whole disk without a table).
    pub partition: u32,
    /// ext4 (also ext2/3), vfat, xfs, swap, or unknown.
    pub kind: String,
    /// Volume label, when read.
    pub label: String,
}

/// The operating system os-release names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OsInfo {
    /// ID (debian).
    pub id: String,
    /// VERSION_ID (12).
    pub version_id: String,
    /// NAME (Debian GNU/Linux).
    pub name: String,
    /// PRETTY_NAME (Debian GNU/Linux 12 (bookworm)).
    pub pretty_name: String,
}

/// Where a driver was found for one kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DriverSupport {
    /// Built into the kernel (listed in `modules.builtin`).
    pub builtin: bool,
    /// Present in the initramfs, so the root disk can be found at boot.
    pub in_initramfs: bool,
    /// Present as a module under `/lib/modules/KERNEL/`.
    pub module: bool,
}

impl DriverSupport {
    fn bootable(&self) -> bool {
        self.builtin || self.in_initramfs
    }
}

/// What one installed kernel supports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KernelInfo {
    /// The release (`6.1.0-18-amd64`), the directory name under `/lib/modules`.
    pub release: String,
    /// The initramfs read, if any.
    pub initramfs: Option<String>,
    /// NVMe (`nvme.ko`).
    pub nvme: DriverSupport,
    /// virtio block (`virtio_blk.ko`) or SCSI (`virtio_scsi.ko`).
    pub virtio: DriverSupport,
}

/// One check item, as DescribeImages' DetectionOptions.Items reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckItem {
    /// Check name (Nvme, Virtio, CloudInit, ...).
    pub name: String,
    /// Result (Supported, NotInstalled, ...).
    pub value: String,
    /// High or Medium when at risk, '' otherwise.
    pub risk_level: String,
    /// The risk's code, '' when not at risk.
    pub risk_code: String,
}

/// Everything inspection found.
#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    /// raw, qcow2 or vmdk.
    pub format: String,
    /// Guest-visible disk size, bytes.
    pub virtual_size: u64,
    /// MBR, GPT or none.
    pub partition_table: TableKind,
    /// Filesystems recognised, per partition.
    pub filesystems: Vec<FoundFs>,
    /// The partition holding the root filesystem (0: the whole disk).
    pub root_partition: Option<u32>,
    /// The OS, from os-release.
    pub os: Option<OsInfo>,
    /// i386, x86_64, arm64, ... from ELF headers.
    pub architecture: Option<String>,
    /// BIOS or UEFI.
    pub boot_mode: String,
    /// Whether cloud-init is installed.
    pub cloud_init: bool,
    /// Installed kernels and their drivers.
    pub kernels: Vec<KernelInfo>,
    /// DetectionOptions items.
    pub checks: Vec<CheckItem>,
    /// Features.NvmeSupport: supported or unsupported.
    pub nvme_support: String,
    /// Problems that did not stop inspection.
    pub notes: Vec<String>,
}

impl VmImage {
    /// Opens a disk image, reads its partition table and indexes the root filesystem.
    pub fn open(path: &Path, limits: &DiskLimits) -> Result<VmImage, VmError> {
        let (disk, format) = open_disk(path, limits)?;
        let table = read_partitions(&disk)?;
        let regions: Vec<(u32, u64, u64, PartitionRole)> = if table.partitions.is_empty() {
            vec![(0, 0, disk.size(), PartitionRole::Data)]
        } else {
            table
                .partitions
                .iter()
                .map(|p| (p.number, p.start, p.len, p.role.clone()))
                .collect()
        };
        let mut filesystems = Vec::new();
        let mut root = None;
        let fs_limits = FsLimits {
            max_dir_bytes: limits.max_dir_bytes,
            max_extents: limits.max_extents,
        };
        for (number, start, len, role) in regions {
            let slice: Disk = Arc::new(Slice::new(disk.clone(), start, len)?);
            let fs: Option<Arc<dyn ReadOnlyFs>> = if Ext4::probe(&slice) {
                Some(Arc::new(Ext4::open(slice.clone(), fs_limits.clone())?))
            } else if Xfs::probe(&slice) {
                Some(Arc::new(Xfs::open(slice.clone(), fs_limits.clone())?))
            } else {
                None
            };
            if let Some(fs) = fs {
                filesystems.push(FoundFs {
                    partition: number,
                    kind: fs.kind().into(),
                    label: fs.volume_name().to_owned(),
                });
                if root.is_none() && has_os_release(&fs)? {
                    root = Some((number, VmFs::index(fs, limits.max_entries)?));
                }
            } else {
                let kind = probe_other(&slice, &role);
                filesystems.push(FoundFs {
                    partition: number,
                    kind,
                    label: String::new(),
                });
            }
        }
        Ok(VmImage {
            disk,
            format,
            table,
            filesystems,
            root,
        })
    }

    /// The disk format.
    pub fn format(&self) -> &DiskFormat {
        &self.format
    }

    /// The partition table.
    pub fn partition_table(&self) -> &PartitionTable {
        &self.table
    }

    /// The root filesystem, when one was found.
    pub fn root_fs(&self) -> Option<&VmFs> {
        self.root.as_ref().map(|(_, fs)| fs)
    }

    /// Inspects the disk: OS, architecture, boot mode, cloud-init, drivers, check items.
    pub fn inspect(&self) -> Inspection {
        let mut notes = Vec::new();
        let fs = self.root_fs();
        let os = fs.and_then(read_os_release);
        let architecture = fs.and_then(|fs| {
            ELF_PROBES
                .iter()
                .find_map(|p| fs.head(p, 64).and_then(|h| elf_architecture(&h)))
        });
        let kernels = fs.map(|fs| kernels(fs, &mut notes)).unwrap_or_default();
        let cloud_init = fs.is_some_and(|fs| {
            ["usr/bin/cloud-init", "etc/cloud/cloud.cfg"]
                .iter()
                .any(|p| ImagePath::parse(p).is_ok_and(|p| fs.metadata(&p).is_some()))
        });
        let boot_mode = self.boot_mode(fs);
        if let Some(fs) = fs {
            notes.extend(fs.diagnostics().iter().map(|d| match &d.path {
                Some(p) => format!("{p}: {}", d.message),
                None => d.message.clone(),
            }));
        }
        let checks = checks(&kernels, cloud_init, fs.is_some());
        let nvme_support = if kernels.iter().any(|k| k.nvme.bootable()) {
            "supported"
        } else {
            "unsupported"
        };
        Inspection {
            format: self.format.name().to_owned(),
            virtual_size: self.disk.size(),
            partition_table: self.table.kind,
            filesystems: self.filesystems.clone(),
            root_partition: self.root.as_ref().map(|(n, _)| *n),
            os,
            architecture,
            boot_mode: boot_mode.to_owned(),
            cloud_init,
            kernels,
            checks,
            nvme_support: nvme_support.to_owned(),
            notes,
        }
    }

    /// UEFI when the disk has an EFI system partition (or the root holds a populated
    /// `/boot/efi/EFI`), BIOS otherwise: an MBR boot loader or GRUB's BIOS boot partition
    /// boot the legacy way, and so does a disk that shows neither, which is the clouds' default.
    fn boot_mode(&self, fs: Option<&VmFs>) -> &'static str {
        let esp = self
            .table
            .partitions
            .iter()
            .any(|p| p.role == PartitionRole::EfiSystem);
        let efi_dir = fs.is_some_and(|fs| {
            ImagePath::parse("boot/efi/EFI").is_ok_and(|p| !fs.read_dir(&p).is_empty())
        });
        if esp || efi_dir {
            "UEFI"
        } else {
            "BIOS"
        }
    }
}

fn has_os_release(fs: &Arc<dyn ReadOnlyFs>) -> Result<bool, VmError> {
    for p in OS_RELEASE {
        if fs.lookup(p)?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Names a filesystem that is not ext4 by its magic, for the report.
fn probe_other(disk: &Disk, role: &PartitionRole) -> String {
    let mut head = [0u8; 4096];
    let n = (disk.size() as usize).min(head.len());
    if disk.read_at(0, &mut head[..n]).is_err() {
        return "unknown".into();
    }
    if &head[..4] == b"XFSB" {
        return "xfs".into();
    }
    if &head[82..87] == b"FAT32" || &head[54..59] == b"FAT16" || &head[54..59] == b"FAT12" {
        return "vfat".into();
    }
    if &head[4086..4096] == b"SWAPSPACE2" {
        return "swap".into();
    }
    match role {
        PartitionRole::BiosBoot => "bios_boot".into(),
        _ => "unknown".into(),
    }
}

fn read_os_release(fs: &VmFs) -> Option<OsInfo> {
    let text = OS_RELEASE.iter().find_map(|p| fs.read(p, 64 << 10))?;
    let text = String::from_utf8_lossy(&text);
    let mut info = OsInfo::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"').trim_matches('\'').to_owned();
        match key.trim() {
            "ID" => info.id = value,
            "VERSION_ID" => info.version_id = value,
            "NAME" => info.name = value,
            "PRETTY_NAME" => info.pretty_name = value,
            _ => {}
        }
    }
    Some(info)
}

/// The architecture an ELF header names, in DescribeImages' spelling where it has one.
pub fn elf_architecture(header: &[u8]) -> Option<String> {
    if header.len() < 20 || &header[..4] != b"\x7fELF" {
        return None;
    }
    let class64 = header[4] == 2;
    let machine = match header[5] {
        1 => u16::from_le_bytes([header[18], header[19]]),
        2 => u16::from_be_bytes([header[18], header[19]]),
        _ => return None,
    };
    Some(
        match (machine, class64) {
            (0x03, _) => "i386",
            (0x3E, _) => "x86_64",
            (0xB7, _) => "arm64",
            (0x28, _) => "arm",
            (0xF3, true) => "riscv64",
            (0x15, true) => "ppc64",
            (0x16, _) => "s390x",
            (0x102, _) => "loongarch64",
            _ => return None,
        }
        .to_owned(),
    )
}

/// Module file names (before `.ko` and any compression suffix) that give each driver.
const NVME_MODULES: [&str; 1] = ["nvme"];
const VIRTIO_MODULES: [&str; 2] = ["virtio_blk", "virtio_scsi"];

/// The module name of a path ending in `NAME.ko`, `NAME.ko.xz`, `.zst` or `.gz`.
fn module_name(path: &str) -> Option<&str> {
    let file = path.rsplit('/').next()?;
    let stem = file
        .strip_suffix(".xz")
        .or_else(|| file.strip_suffix(".zst"))
        .or_else(|| file.strip_suffix(".gz"))
        .unwrap_or(file);
    stem.strip_suffix(".ko")
}

fn kernels(fs: &VmFs, notes: &mut Vec<String>) -> Vec<KernelInfo> {
    let Ok(modules_dir) = ImagePath::parse("lib/modules") else {
        return Vec::new();
    };
    let Some(modules_dir) = fs.resolve(&modules_dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for kernel_dir in fs.read_dir(&modules_dir) {
        if fs
            .metadata(&kernel_dir)
            .is_none_or(|m| m.kind != FileKind::Dir)
        {
            continue;
        }
        let release = kernel_dir.file_name().to_owned();
        let mut info = KernelInfo {
            release: release.clone(),
            ..KernelInfo::default()
        };
        for (path, meta) in fs.entries() {
            if meta.kind != FileKind::Regular || !path.starts_with(&kernel_dir) {
                continue;
            }
            if let Some(name) = module_name(path.as_str()) {
                info.nvme.module |= NVME_MODULES.contains(&name);
                info.virtio.module |= VIRTIO_MODULES.contains(&name);
            }
        }
        if let Some(builtin) = fs.read(&format!("{}/modules.builtin", kernel_dir.as_str()), 4 << 20)
        {
            for line in String::from_utf8_lossy(&builtin).lines() {
                if let Some(name) = module_name(line.trim()) {
                    info.nvme.builtin |= NVME_MODULES.contains(&name);
                    info.virtio.builtin |= VIRTIO_MODULES.contains(&name);
                }
            }
        }
        for candidate in [
            format!("boot/initrd.img-{release}"),
            format!("boot/initramfs-{release}.img"),
        ] {
            let Ok(p) = ImagePath::parse(&candidate) else {
                continue;
            };
            let Ok(file) = fs.open(&p) else {
                continue;
            };
            if fs.metadata(&p).is_some_and(|m| m.size > MAX_INITRAMFS) {
                notes.push(format!(
                    "{candidate}: larger than {MAX_INITRAMFS} bytes; not read"
                ));
                break;
            }
            match cpio_names(file) {
                Ok(names) => {
                    for name in &names {
                        if let Some(m) = module_name(name) {
                            info.nvme.in_initramfs |= NVME_MODULES.contains(&m);
                            info.virtio.in_initramfs |= VIRTIO_MODULES.contains(&m);
                        }
                    }
                }
                Err(e) => notes.push(format!("{candidate}: {e}")),
            }
            info.initramfs = Some(candidate);
            break;
        }
        out.push(info);
    }
    out
}

/// The names in an initramfs: one or more newc cpio archives, each plain, gzip or zstd
/// compressed, one after the other (an uncompressed early archive with CPU microcode usually
/// precedes the compressed main one).
pub fn cpio_names(file: impl Read) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut reader: Box<dyn BufRead> = Box::new(BufReader::new(file));
    // Each compressed member consumes the rest of the stream; at most a few nest.
    for _ in 0..8 {
        let buf = reader.fill_buf().map_err(|e| e.to_string())?;
        if buf.is_empty() {
            return Ok(names);
        }
        if buf[0] == 0 {
            let zeros = buf.iter().take_while(|&&b| b == 0).count();
            reader.consume(zeros);
            continue;
        }
        if buf.starts_with(&[0x1f, 0x8b]) {
            reader = Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(reader)));
            continue;
        }
        if buf.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            let decoder =
                zstd::stream::read::Decoder::with_buffer(reader).map_err(|e| e.to_string())?;
            reader = Box::new(BufReader::new(decoder));
            continue;
        }
        if buf.starts_with(b"0707") {
            read_cpio(&mut reader, &mut names)?;
            continue;
        }
        return Err(format!(
            "initramfs member with unknown format (starts {:02x?})",
            &buf[..buf.len().min(4)]
        ));
    }
    Ok(names)
}

/// Reads one newc archive up to its trailer, collecting names.
fn read_cpio(reader: &mut dyn BufRead, names: &mut Vec<String>) -> Result<(), String> {
    let hex = |b: &[u8]| -> Result<u64, String> {
        let s = std::str::from_utf8(b).map_err(|_| "cpio header is not hex".to_string())?;
        u64::from_str_radix(s, 16).map_err(|_| format!("cpio header field {s:?} is not hex"))
    };
    loop {
        let mut header = [0u8; 110];
        reader
            .read_exact(&mut header)
            .map_err(|e| format!("cpio header: {e}"))?;
        if &header[..6] != b"070701" && &header[..6] != b"070702" {
            return Err("cpio entry without the newc magic".into());
        }
        let file_size = hex(&header[54..62])?;
        let name_size = hex(&header[94..102])?;
        if name_size == 0 || name_size > 4096 {
            return Err(format!("cpio name of {name_size} bytes"));
        }
        let mut name = vec![0u8; name_size as usize];
        reader
            .read_exact(&mut name)
            .map_err(|e| format!("cpio name: {e}"))?;
        // Header and name are padded to a multiple of 4, and so is the data.
        let pad = (4 - (110 + name_size) % 4) % 4;
        skip(reader, pad)?;
        let name = String::from_utf8_lossy(name.strip_suffix(&[0]).unwrap_or(&name)).into_owned();
        if name == "TRAILER!!!" {
            return Ok(());
        }
        skip(reader, file_size + (4 - file_size % 4) % 4)?;
        names.push(name);
        if names.len() > MAX_CPIO_ENTRIES {
            return Err(format!("more than {MAX_CPIO_ENTRIES} initramfs entries"));
        }
    }
}

fn skip(reader: &mut dyn BufRead, n: u64) -> Result<(), String> {
    let copied =
        std::io::copy(&mut reader.take(n), &mut std::io::sink()).map_err(|e| e.to_string())?;
    if copied != n {
        return Err("initramfs ends inside an entry".into());
    }
    Ok(())
}

/// The DetectionOptions items from what was found.
fn checks(kernels: &[KernelInfo], cloud_init: bool, has_root: bool) -> Vec<CheckItem> {
    let item = |name: &str, value: &str, level: &str, code: &str| CheckItem {
        name: name.into(),
        value: value.into(),
        risk_level: level.into(),
        risk_code: code.into(),
    };
    let driver = |name: &str, prefix: &str, pick: fn(&KernelInfo) -> &DriverSupport| {
        if kernels.iter().any(|k| pick(k).bootable()) {
            item(name, "Supported", "", "")
        } else if kernels.iter().any(|k| pick(k).module) {
            // Installed, but the root disk cannot be found at boot without it in the initramfs.
            item(
                name,
                "NotInInitramfs",
                "Medium",
                &format!("{prefix}.NotInInitramfs"),
            )
        } else {
            // The seed's spelling of the NVMe code is kept exactly.
            let code = if prefix == "NVMe" {
                "NVMe.NotInstallded".to_owned()
            } else {
                format!("{prefix}.NotInstalled")
            };
            item(name, "NotInstalled", "High", &code)
        }
    };
    let mut out = vec![
        driver("Nvme", "NVMe", |k| &k.nvme),
        driver("Virtio", "Virtio", |k| &k.virtio),
    ];
    out.push(if cloud_init {
        item("CloudInit", "Supported", "", "")
    } else {
        item(
            "CloudInit",
            "NotInstalled",
            "Medium",
            "CloudInit.NotInstalled",
        )
    });
    out.push(if has_root {
        item("SystemDisk", "Found", "", "")
    } else {
        item("SystemDisk", "NotFound", "High", "SystemDisk.NotFound")
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_strip_compression_suffixes() {
        assert_eq!(
            module_name("kernel/drivers/nvme/host/nvme.ko.xz"),
            Some("nvme")
        );
        assert_eq!(module_name("a/virtio_blk.ko"), Some("virtio_blk"));
        assert_eq!(module_name("a/nvme-core.ko.zst"), Some("nvme-core"));
        assert_eq!(module_name("a/readme"), None);
    }

    #[test]
    fn elf_machine_maps_to_cloud_architecture_names() {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[18] = 0xB7;
        assert_eq!(elf_architecture(&h).as_deref(), Some("arm64"));
        h[18] = 0x3E;
        assert_eq!(elf_architecture(&h).as_deref(), Some("x86_64"));
        assert_eq!(elf_architecture(b"#!/bin/sh\n"), None);
    }

    #[test]
    fn truncated_cpio_is_an_error_not_a_panic() {
        let mut data = b"070701".to_vec();
        data.extend_from_slice(&[b'0'; 40]);
        assert!(cpio_names(&data[..]).is_err());
        assert!(cpio_names(&b"garbage!"[..]).is_err());
        assert_eq!(cpio_names(&[0u8; 64][..]).unwrap(), Vec::<String>::new());
    }
}
