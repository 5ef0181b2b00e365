#![allow(clippy::unwrap_used, clippy::expect_used)]
//! VM disk images built with the real tools (debootstrap, mke2fs -d, debugfs, sgdisk, sfdisk,
//! cpio, qemu-img, qemu-io) and read back: the ext4 reader must see exactly the tree
//! debootstrap produced, dpkg-query over that tree must agree with the scan, and inspection
//! must find what was put there (OS, architecture, boot mode, drivers).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crowsnest_model::{FileKind, ImageFs, ImagePath, SourceInfo, SourceKind};
use crowsnest_testkit::disk::{self, Table};
use crowsnest_vm::{DiskFormat, DiskLimits, VmImage};

const KERNEL: &str = "6.1.0-crowsnest";

/// The disks every test reads, built once per test binary.
struct Disks {
    root: PathBuf,
    dir: PathBuf,
    /// ext4 with a fake kernel tree (module, modules.builtin, initramfs) added by debugfs.
    ext4: PathBuf,
}

fn disks() -> Option<&'static Disks> {
    static DISKS: OnceLock<Option<Disks>> = OnceLock::new();
    DISKS
        .get_or_init(|| {
            if !disk::require_disk_tools() || !crowsnest_testkit::require_tool("qemu-io") {
                return None;
            }
            let root = crowsnest_testkit::debian_rootfs()?;
            let dir = disk::scratch("vm-disks");
            let ext4 = dir.join("root.ext4");
            disk::mke2fs(&root, &ext4, 400);
            // A kernel's driver files, the way Debian lays them out: nvme as a loadable module
            // that the initramfs carries, virtio_blk built in.
            let staging = dir.join("initramfs");
            let nvme_dir =
                staging.join(format!("usr/lib/modules/{KERNEL}/kernel/drivers/nvme/host"));
            std::fs::create_dir_all(&nvme_dir).unwrap();
            std::fs::write(nvme_dir.join("nvme.ko"), b"\x7fELF not really a module").unwrap();
            let initrd = dir.join("initrd.img");
            disk::initramfs_gz(&staging, &initrd);
            let module = dir.join("nvme.ko.xz");
            std::fs::write(&module, b"xz-compressed module stand-in").unwrap();
            let builtin = dir.join("modules.builtin");
            std::fs::write(
                &builtin,
                "kernel/drivers/block/virtio_blk.ko\nkernel/fs/ext4/ext4.ko\n",
            )
            .unwrap();
            let m = format!("usr/lib/modules/{KERNEL}");
            disk::debugfs(
                &ext4,
                &[
                    "mkdir usr/lib/modules".into(),
                    format!("mkdir {m}"),
                    format!("mkdir {m}/kernel"),
                    format!("mkdir {m}/kernel/drivers"),
                    format!("mkdir {m}/kernel/drivers/nvme"),
                    format!("mkdir {m}/kernel/drivers/nvme/host"),
                    format!(
                        "write {} {m}/kernel/drivers/nvme/host/nvme.ko.xz",
                        module.display()
                    ),
                    format!("write {} {m}/modules.builtin", builtin.display()),
                    format!("write {} boot/initrd.img-{KERNEL}", initrd.display()),
                ],
            );
            Some(Disks { root, dir, ext4 })
        })
        .as_ref()
}

/// Every entry under `root` on the host, as the ext4 reader should show it: kind, mode,
/// size of regular files, symlink target.
fn host_tree(root: &Path) -> BTreeMap<String, (FileKind, u32, u64, Option<String>)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let ft = meta.file_type();
            let kind = if ft.is_dir() {
                pending.push(path.clone());
                FileKind::Dir
            } else if ft.is_symlink() {
                FileKind::Symlink
            } else if ft.is_file() {
                FileKind::Regular
            } else if ft.is_char_device() {
                FileKind::CharDevice
            } else if ft.is_block_device() {
                FileKind::BlockDevice
            } else if ft.is_fifo() {
                FileKind::Fifo
            } else {
                continue;
            };
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let target = ft.is_symlink().then(|| {
                std::fs::read_link(&path)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned()
            });
            let size = if ft.is_file() { meta.len() } else { 0 };
            out.insert(rel, (kind, meta.mode() & 0o7777, size, target));
        }
    }
    out
}

fn vm_tree(fs: &dyn ImageFs) -> BTreeMap<String, (FileKind, u32, u64, Option<String>)> {
    fs.entries()
        .map(|(p, m)| {
            (
                p.as_str().to_owned(),
                (m.kind, m.mode, m.size, m.link_target.clone()),
            )
        })
        .collect()
}

fn added_paths() -> Vec<String> {
    let m = format!("usr/lib/modules/{KERNEL}");
    vec![
        "lost+found".into(),
        "usr/lib/modules".into(),
        m.clone(),
        format!("{m}/kernel"),
        format!("{m}/kernel/drivers"),
        format!("{m}/kernel/drivers/nvme"),
        format!("{m}/kernel/drivers/nvme/host"),
        format!("{m}/kernel/drivers/nvme/host/nvme.ko.xz"),
        format!("{m}/modules.builtin"),
        format!("boot/initrd.img-{KERNEL}"),
    ]
}

fn host_architecture() -> String {
    let out = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .unwrap();
    match String::from_utf8_lossy(&out.stdout).trim() {
        "amd64" => "x86_64".into(),
        "arm64" => "arm64".into(),
        "i386" => "i386".into(),
        other => other.into(),
    }
}

fn assert_same_tree(fs: &dyn ImageFs, root: &Path) {
    let mut seen = vm_tree(fs);
    for p in added_paths() {
        seen.remove(&p);
    }
    let expected = host_tree(root);
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !seen.contains_key(*k))
        .take(5)
        .collect();
    let extra: Vec<_> = seen
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    for (path, want) in &expected {
        assert_eq!(&seen[path], want, "{path}");
    }
}

#[test]
fn gpt_with_esp_compressed_qcow2_reads_exactly_the_debootstrap_tree() {
    let Some(d) = disks() else { return };
    let raw = d.dir.join("gpt.raw");
    let number = disk::partitioned(&d.ext4, Table::GptWithEsp, &raw);
    let qcow = d.dir.join("gpt.qcow2");
    disk::qcow2_compressed(&raw, &qcow);
    let image = VmImage::open(&qcow, &DiskLimits::default()).unwrap();
    assert!(
        matches!(image.format(), DiskFormat::Qcow2(i) if i.version == 3 && i.backing_file.is_none())
    );
    let fs = image.root_fs().expect("root filesystem found");
    assert_same_tree(fs, &d.root);

    // Contents read through compressed clusters equal the files debootstrap wrote.
    for file in ["var/lib/dpkg/status", "usr/bin/dash", "etc/os-release"] {
        let p = ImagePath::parse(file).unwrap();
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut fs.open(&p).unwrap(), &mut got).unwrap();
        let want = std::fs::read(d.root.join(file)).unwrap();
        assert!(
            got == want,
            "{file} differs ({} vs {} bytes)",
            got.len(),
            want.len()
        );
    }

    let found = image.inspect();
    assert_eq!(
        found.partition_table,
        crowsnest_vm::partition::TableKind::Gpt
    );
    assert_eq!(found.root_partition, Some(number));
    assert_eq!(found.boot_mode, "UEFI");
    let os = found.os.clone().unwrap();
    assert_eq!((os.id.as_str(), os.version_id.as_str()), ("debian", "12"));
    assert_eq!(
        found.architecture.as_deref(),
        Some(host_architecture().as_str())
    );
    assert!(!found.cloud_init);
    assert_eq!(found.kernels.len(), 1);
    let k = &found.kernels[0];
    assert_eq!(k.release, KERNEL);
    assert!(
        k.nvme.module && k.nvme.in_initramfs && !k.nvme.builtin,
        "{k:?}"
    );
    assert!(
        k.virtio.builtin && !k.virtio.module && !k.virtio.in_initramfs,
        "{k:?}"
    );
    assert_eq!(found.nvme_support, "supported");
    let by_name: BTreeMap<_, _> = found.checks.iter().map(|c| (c.name.as_str(), c)).collect();
    assert_eq!(by_name["Nvme"].value, "Supported");
    assert_eq!(by_name["Nvme"].risk_level, "");
    assert_eq!(by_name["Virtio"].value, "Supported");
    assert_eq!(by_name["CloudInit"].risk_code, "CloudInit.NotInstalled");
}

#[test]
fn mbr_raw_disk_without_kernel_is_bios_and_lacks_nvme() {
    let Some(d) = disks() else { return };
    // The plain debootstrap tree: no kernel at all.
    let ext4 = d.dir.join("plain.ext4");
    disk::mke2fs(&d.root, &ext4, 400);
    let raw = d.dir.join("mbr.raw");
    let number = disk::partitioned(&ext4, Table::Mbr, &raw);
    let image = VmImage::open(&raw, &DiskLimits::default()).unwrap();
    assert_eq!(image.format(), &DiskFormat::Raw);
    let table = image.partition_table();
    assert_eq!(table.kind, crowsnest_vm::partition::TableKind::Mbr);
    assert_eq!(table.partitions.len(), 1);
    assert!(table.partitions[0].bootable);
    assert_eq!(
        table.partitions[0].start,
        disk::ROOT_START_SECTOR * disk::SECTOR
    );
    let fs = image.root_fs().unwrap();
    let mut seen = vm_tree(fs);
    seen.remove("lost+found");
    assert_eq!(seen, host_tree(&d.root));
    let found = image.inspect();
    assert_eq!(found.root_partition, Some(number));
    assert_eq!(found.boot_mode, "BIOS");
    assert_eq!(found.nvme_support, "unsupported");
    let nvme = found.checks.iter().find(|c| c.name == "Nvme").unwrap();
    assert_eq!(
        (
            nvme.value.as_str(),
            nvme.risk_level.as_str(),
            nvme.risk_code.as_str()
        ),
        ("NotInstalled", "High", "NVMe.NotInstallded")
    );
}

#[test]
fn qcow2_overlay_reads_changed_file_from_overlay_and_the_rest_from_its_backing_file() {
    let Some(d) = disks() else { return };
    let dir = disk::scratch("vm-overlay");
    let base_raw = dir.join("base.raw");
    std::fs::copy(&d.ext4, &base_raw).unwrap();
    let base = dir.join("base.qcow2");
    disk::qcow2(&base_raw, &base);
    let changed = dir.join("changed.raw");
    std::fs::copy(&base_raw, &changed).unwrap();
    let note = dir.join("note.txt");
    std::fs::write(&note, "written into the overlay only\n").unwrap();
    disk::debugfs(
        &changed,
        &[
            format!("write {} etc/crowsnest-overlay", note.display()),
            "rm etc/hostname".into(),
        ],
    );
    let overlay = dir.join("overlay.qcow2");
    let clusters = disk::qcow2_overlay(&base_raw, &changed, &base, &overlay);
    assert!(clusters > 0 && clusters < 64, "{clusters} clusters differ");

    let image = VmImage::open(&overlay, &DiskLimits::default()).unwrap();
    let DiskFormat::Qcow2(info) = image.format() else {
        panic!("not qcow2")
    };
    assert_eq!(info.backing_file.as_deref(), Some(base.as_path()));
    let fs = image.root_fs().unwrap();
    let p = ImagePath::parse("etc/crowsnest-overlay").unwrap();
    let mut got = String::new();
    std::io::Read::read_to_string(&mut fs.open(&p).unwrap(), &mut got).unwrap();
    assert_eq!(got, "written into the overlay only\n");
    assert!(fs
        .metadata(&ImagePath::parse("etc/hostname").unwrap())
        .is_none());
    // Everything else comes from the backing file: the same tree as the base.
    let base_image = VmImage::open(&base, &DiskLimits::default()).unwrap();
    let mut over = vm_tree(fs);
    let mut under = vm_tree(base_image.root_fs().unwrap());
    over.remove("etc/crowsnest-overlay");
    under.remove("etc/hostname");
    assert_eq!(over, under);

    // Without its backing file the overlay cannot be read.
    std::fs::remove_file(&base).unwrap();
    let Err(err) = VmImage::open(&overlay, &DiskLimits::default()) else {
        panic!("opened")
    };
    assert_eq!(err.code().as_str(), "not_found", "{err}");
}

#[test]
fn scan_of_the_vm_root_matches_dpkg_query() {
    let Some(d) = disks() else { return };
    if !crowsnest_testkit::require_tool("dpkg-query") {
        return;
    }
    let qcow = d.dir.join("scan.qcow2");
    disk::qcow2_compressed(&d.ext4, &qcow);
    let image = VmImage::open(&qcow, &DiskLimits::default()).unwrap();
    // A bare filesystem: no partition table, the whole disk is the root.
    assert_eq!(image.inspect().root_partition, Some(0));
    let fs = image.root_fs().unwrap();
    let scanner = crowsnest_scan::Scanner::default();
    let info = SourceInfo {
        kind: SourceKind::VmDisk,
        reference: qcow.display().to_string(),
        image_id: None,
        manifest_digest: None,
        tags: Vec::new(),
        architecture: None,
        os: None,
    };
    let inventory = scanner.scan_fs(fs, info, fs.diagnostics().to_vec());
    assert_eq!(
        inventory.distro.as_ref().map(|d| d.id.as_str()),
        Some("debian")
    );
    let out = Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            d.root.join("var/lib/dpkg").display()
        ))
        .args(["-W", "-f", "${db:Status-Abbrev} ${Package} ${Version}\n"])
        .output()
        .unwrap();
    let mut want: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("ii"))
        .map(|l| l[4..].trim().to_owned())
        .collect();
    want.sort();
    let mut got: Vec<String> = inventory
        .packages
        .iter()
        .filter(|p| p.found_by == "os/dpkg")
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    got.sort();
    got.dedup();
    assert!(want.len() > 50, "{} packages", want.len());
    assert_eq!(got, want);
}

#[test]
fn truncated_and_corrupt_qcow2_fail_with_invalid_image() {
    let Some(d) = disks() else { return };
    let dir = disk::scratch("vm-corrupt");
    let good = dir.join("good.qcow2");
    disk::qcow2(&d.ext4, &good);
    let bytes = std::fs::read(&good).unwrap();

    // Cut in half: the L1 table or the data clusters lie past the end.
    let truncated = dir.join("truncated.qcow2");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let Err(err) = VmImage::open(&truncated, &DiskLimits::default()) else {
        panic!("truncated image opened")
    };
    assert_eq!(err.code().as_str(), "invalid_image", "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");

    // A hostile cluster size.
    let mut bad = bytes[..4096.min(bytes.len())].to_vec();
    bad[20..24].copy_from_slice(&40u32.to_be_bytes());
    let path = dir.join("cluster-bits.qcow2");
    std::fs::write(&path, &bad).unwrap();
    let Err(err) = VmImage::open(&path, &DiskLimits::default()) else {
        panic!("opened")
    };
    assert_eq!(err.code().as_str(), "invalid_image");
    assert!(err.to_string().contains("cluster_bits"), "{err}");

    // A virtual size past the limit.
    let limits = DiskLimits {
        max_virtual_size: 1 << 20,
        ..DiskLimits::default()
    };
    let Err(err) = VmImage::open(&good, &limits) else {
        panic!("opened")
    };
    assert_eq!(err.code().as_str(), "image_oversized");

    // A GPT whose header CRC no longer matches.
    let raw = dir.join("gpt.raw");
    disk::partitioned(&d.ext4, Table::GptWithEsp, &raw);
    let f = std::fs::OpenOptions::new().write(true).open(&raw).unwrap();
    std::os::unix::fs::FileExt::write_at(&f, &[0xFF], 512 + 40).unwrap();
    let Err(err) = VmImage::open(&raw, &DiskLimits::default()) else {
        panic!("opened")
    };
    assert_eq!(err.code().as_str(), "invalid_image");
    assert!(err.to_string().contains("CRC"), "{err}");
}
