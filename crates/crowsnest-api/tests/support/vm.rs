//! VM images for the API tests: the importer the test servers run (the real disk reader,
//! `crowsnest-vm`, mapped to the catalogue as the binary's `DiskImporter` maps it; the
//! binary's own importer, with the scan, is tested end to end in `crates/crowsnest/tests/vm.rs`)
//! and small real disks built by the real tools from a tiny root tree: an `os-release`, the
//! host's own `/bin/sh` (a real ELF, so the architecture is the host's) and, when asked,
//! cloud-init's configuration.

use std::path::{Path, PathBuf};

use crowsnest_api::native::vm_images::{
    DiskProbe, VmImportFailure, VmImported, VmImporter, VmScan,
};
use crowsnest_store::{VmImageCheck, VmImportResult};
use crowsnest_testkit::disk;
use crowsnest_vm::{DiskLimits, VmImage};

/// Reads disks with `crowsnest-vm`.
pub struct VmReader;

impl VmImporter for VmReader {
    fn probe(&self, disk: &Path) -> DiskProbe {
        match crowsnest_vm::open_disk(disk, &DiskLimits::default()) {
            Ok((d, format)) => DiskProbe {
                format: format.name().to_owned(),
                size_bytes: crowsnest_vm::disk::BlockDevice::size(d.as_ref()),
            },
            Err(_) => DiskProbe {
                format: "raw".into(),
                size_bytes: std::fs::metadata(disk).map(|m| m.len()).unwrap_or(0),
            },
        }
    }

    fn import(
        &self,
        disk: &Path,
        confine: Option<&Path>,
        progress: &mut dyn FnMut(u8),
    ) -> Result<VmImported, VmImportFailure> {
        let limits = DiskLimits {
            backing_root: confine.map(Path::to_path_buf),
            ..DiskLimits::default()
        };
        let image = VmImage::open(disk, &limits).map_err(|e| VmImportFailure {
            code: e.code().as_str().to_owned(),
            reason: e.to_string(),
        })?;
        progress(60);
        if image.root_fs().is_none() {
            return Err(VmImportFailure {
                code: "invalid_image".into(),
                reason: "no root filesystem found".into(),
            });
        }
        let found = image.inspect();
        progress(90);
        let os = found.os.clone().unwrap_or_default();
        // This crate has no scan engine: the inventory stored for the image names the disk
        // and its architecture but no packages (the tiny disks hold none anyway). The
        // binary's importer runs the catalogers and risk analyzers, end to end in
        // `crates/crowsnest/tests/vm.rs`.
        let scan = VmScan {
            inventory: crowsnest_model::Inventory {
                source: crowsnest_model::SourceInfo {
                    kind: crowsnest_model::SourceKind::VmDisk,
                    reference: disk.display().to_string(),
                    image_id: None,
                    manifest_digest: None,
                    tags: Vec::new(),
                    architecture: found.architecture.clone(),
                    os: Some("linux".into()),
                },
                distro: None,
                layers: Vec::new(),
                config: None,
                packages: Vec::new(),
                diagnostics: Vec::new(),
            },
            risk_scanners: Vec::new(),
            risks: Vec::new(),
        };
        let result = VmImportResult {
            os_type: "linux".into(),
            os_name: os.pretty_name.clone(),
            os_name_en: os.pretty_name,
            platform: os.name,
            architecture: found.architecture.clone().unwrap_or_default(),
            boot_mode: found.boot_mode.clone(),
            is_support_cloudinit: found.cloud_init,
            nvme_support: found.nvme_support.clone(),
            checks: found
                .checks
                .iter()
                .map(|c| VmImageCheck {
                    name: c.name.clone(),
                    value: c.value.clone(),
                    risk_level: c.risk_level.clone(),
                    risk_code: c.risk_code.clone(),
                })
                .collect(),
            package_count: 0,
            inventory_digest: String::new(),
        };
        Ok(VmImported {
            result,
            scan: Some(scan),
        })
    }
}

/// The architecture DescribeImages names for the host (whose `/bin/sh` the disks hold).
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "x86" => "i386",
        other => other,
    }
}

/// What a test disk's root holds.
#[derive(Clone, Debug)]
pub struct Root {
    /// os-release's ID.
    pub os_id: &'static str,
    /// os-release's NAME.
    pub os_name: &'static str,
    /// os-release's VERSION_ID.
    pub version_id: &'static str,
    /// cloud-init's configuration is installed.
    pub cloud_init: bool,
}

impl Root {
    /// os-release's PRETTY_NAME.
    pub fn pretty_name(&self) -> String {
        format!("{} {}", self.os_name, self.version_id)
    }
}

/// True when the disk tools are installed (or CI requires them).
pub fn tools() -> bool {
    disk::require_disk_tools() && crowsnest_testkit::require_tool("qemu-io")
}

/// Writes the root tree `root` under `dir` and makes a 16 MiB ext4 image of it at `out`.
pub fn ext4(root: &Root, dir: &Path, out: &Path) {
    let tree = dir.join(format!(
        "{}-tree",
        out.file_stem().unwrap().to_string_lossy()
    ));
    let _ = std::fs::remove_dir_all(&tree);
    for d in ["etc", "bin", "usr/lib"] {
        std::fs::create_dir_all(tree.join(d)).unwrap();
    }
    std::fs::write(
        tree.join("etc/os-release"),
        format!(
            "PRETTY_NAME=\"{}\"\nNAME=\"{}\"\nVERSION_ID=\"{}\"\nID={}\n",
            root.pretty_name(),
            root.os_name,
            root.version_id,
            root.os_id
        ),
    )
    .unwrap();
    std::fs::copy("/bin/sh", tree.join("bin/sh")).unwrap();
    if root.cloud_init {
        std::fs::create_dir_all(tree.join("etc/cloud")).unwrap();
        std::fs::write(
            tree.join("etc/cloud/cloud.cfg"),
            "datasource_list: [ AliYun ]\n",
        )
        .unwrap();
    }
    disk::mke2fs(&tree, out, 16);
}

/// A scratch directory for one test's disks.
pub fn scratch(name: &str) -> PathBuf {
    disk::scratch(name)
}
