//! `crowsnest vm inspect|scan|import`: VM disk images (raw, qcow2, vmdk) read without booting.
//!
//! `inspect` prints what the disk holds (OS, architecture, boot mode, drivers, check items);
//! `scan` runs the container catalogers and the risk analyzers `--scanners` selects (all by
//! default, as `crowsnest scan`) over the disk's root filesystem and prints a report like
//! `crowsnest scan`; `import` records the disk as a custom image in the catalogue that
//! ECS DescribeImages serves: `Creating` with progress while it is read, then `Available` with
//! its check items, or `CreateFailed` with the reason. An import scans the root filesystem
//! with the catalogers and every risk analyzer, stores the inventory and risks under the
//! image, and matches it against the vulnerability database (a later `db update` re-matches
//! it with every other stored inventory).

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use crowsnest_api::native::vm_images::{
    begin_import, new_image_id, run_import, DiskProbe, ImportRequest, VmImportFailure, VmImported,
    VmImporter, VmScan,
};
use crowsnest_model::{RiskKind, ScanReport, ScannerKind, SourceInfo, SourceKind};
use crowsnest_report::{Format, RenderOptions};
use crowsnest_risk::{RiskAnalyzers, RiskOptions};
use crowsnest_scan::Scanner;
use crowsnest_store::vm_images::VmImageCheck;
use crowsnest_store::{TenantId, VmImportResult};
use crowsnest_vm::{DiskLimits, Inspection, VmError, VmImage};

use crate::cli::{VmCommand, VmImportArgs, VmInspectArgs, VmScanArgs};
use crate::config::Config;

/// Runs one `crowsnest vm` command.
pub fn run(config: &Config, command: VmCommand) -> Result<ExitCode> {
    match command {
        VmCommand::Inspect(args) => inspect(args),
        VmCommand::Scan(args) => scan(config, args),
        VmCommand::Import(args) => import(config, args),
    }
}

fn coded(e: VmError) -> anyhow::Error {
    crate::coded(e.code().as_str(), &e)
}

fn open(path: &std::path::Path) -> Result<VmImage> {
    VmImage::open(path, &DiskLimits::default())
        .map_err(coded)
        .with_context(|| format!("reading disk image {}", path.display()))
}

fn inspect(args: VmInspectArgs) -> Result<ExitCode> {
    let image = open(&args.image)?;
    let found = image.inspect();
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &found)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

fn scan(config: &Config, args: VmScanArgs) -> Result<ExitCode> {
    let format: Format = args.format.parse()?;
    let image = open(&args.image)?;
    let fs = image.root_fs().ok_or_else(|| {
        anyhow::anyhow!(
            "invalid_image: no root filesystem on {} (no ext4 or xfs partition holds /etc/os-release)",
            args.image.display()
        )
    })?;
    let found = image.inspect();
    let info = SourceInfo {
        kind: SourceKind::VmDisk,
        reference: args.image.display().to_string(),
        image_id: None,
        manifest_digest: None,
        tags: Vec::new(),
        architecture: found.architecture.clone(),
        os: Some("linux".into()),
    };
    // The analyzers `crowsnest scan --scanners` selects, with its flags and defaults.
    let scanners = crate::scan::parse_scanners(&args.analyzers.scanners)?;
    let risk = RiskAnalyzers::new(&crate::scan::risk_options(&args.analyzers, &scanners))
        .map_err(|e| crate::coded(e.code().as_str(), &e))?;
    let output =
        Scanner::default()
            .with_risk(risk)
            .scan_fs_full(fs, info, fs.diagnostics().to_vec());
    let inventory = output.inventory;
    let (findings, db) = if args.skip_db || !scanners.contains(&ScannerKind::Vuln) {
        (Vec::new(), None)
    } else {
        let (findings, db, _build) = crate::scan::match_vulnerabilities(config, &inventory)?;
        (findings, db)
    };
    let ran: Vec<ScannerKind> = scanners
        .iter()
        .copied()
        .filter(|s| *s != ScannerKind::Vuln || db.is_some())
        .collect();
    let report = ScanReport::new(inventory, findings, db, ran, output.risks);
    let mut out = io::BufWriter::new(io::stdout().lock());
    crowsnest_report::render(&report, format, &RenderOptions::default(), &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Import phases and the progress each one ends at. Opening the disk (partition table and the
/// whole directory tree) is most of the work; inspection reads a few files; the catalogers
/// read the package databases.
const OPENED: u8 = 60;
const INSPECTED: u8 = 70;
const SCANNED: u8 = 95;

/// Reads disk images for imports (`crowsnest vm import` and `POST /api/v1/vm-images`):
/// opens the disk with `crowsnest-vm`, inspects it, and runs the catalogers and every risk
/// analyzer (as registry scans and the workers do) over its root filesystem.
pub struct DiskImporter {
    /// Limits on what a disk may make the reader do.
    pub limits: DiskLimits,
    scanner: Scanner,
    risk_scanners: Vec<RiskKind>,
}

impl DiskImporter {
    /// An importer with every cataloger and risk analyzer (the YARA rules compiled once).
    pub fn new(limits: DiskLimits) -> Result<DiskImporter> {
        let options = RiskOptions::all();
        let risk = RiskAnalyzers::new(&options).map_err(|e| crate::coded(e.code().as_str(), &e))?;
        Ok(DiskImporter {
            limits,
            scanner: Scanner::default().with_risk(risk),
            risk_scanners: options.kinds.into_iter().collect(),
        })
    }

    fn failure(e: &VmError) -> VmImportFailure {
        VmImportFailure {
            code: e.code().as_str().to_owned(),
            reason: e.to_string(),
        }
    }
}

impl VmImporter for DiskImporter {
    fn probe(&self, disk: &Path) -> DiskProbe {
        match crowsnest_vm::open_disk(disk, &self.limits) {
            Ok((d, format)) => DiskProbe {
                format: format.name().to_owned(),
                size_bytes: crowsnest_vm::disk::BlockDevice::size(d.as_ref()),
            },
            // The import reports why; the Creating row shows what the file's first bytes say.
            Err(_) => DiskProbe {
                format: sniff_format(disk).to_owned(),
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
            ..self.limits.clone()
        };
        let image = VmImage::open(disk, &limits).map_err(|e| Self::failure(&e))?;
        progress(OPENED);
        let Some(fs) = image.root_fs() else {
            return Err(VmImportFailure {
                code: "invalid_image".into(),
                reason: "no root filesystem found (no ext4 or xfs partition holds /etc/os-release)"
                    .into(),
            });
        };
        let found = image.inspect();
        progress(INSPECTED);
        let info = SourceInfo {
            kind: SourceKind::VmDisk,
            reference: disk.display().to_string(),
            image_id: None,
            manifest_digest: None,
            tags: Vec::new(),
            architecture: found.architecture.clone(),
            os: Some("linux".into()),
        };
        let output = self
            .scanner
            .scan_fs_full(fs, info, fs.diagnostics().to_vec());
        progress(SCANNED);
        let mut result = import_result(&found);
        result.package_count = i64::try_from(output.inventory.packages.len()).unwrap_or(i64::MAX);
        Ok(VmImported {
            result,
            scan: Some(VmScan {
                inventory: output.inventory,
                risk_scanners: self.risk_scanners.clone(),
                risks: output.risks,
            }),
        })
    }
}

fn import(config: &Config, args: VmImportArgs) -> Result<ExitCode> {
    let store = config.open_store(&args.store)?;
    let tenant = TenantId(args.tenant);
    let image_id = args.image_id.clone().unwrap_or_else(new_image_id);
    if !args.image.is_file() {
        anyhow::bail!("not_found: {} is not a file", args.image.display());
    }
    let importer = DiskImporter::new(DiskLimits::default())?;
    begin_import(
        &store,
        tenant,
        &importer,
        &args.image,
        &ImportRequest {
            image_id: image_id.clone(),
            region_id: args.region.clone(),
            image_name: args.name.clone(),
            image_family: String::new(),
            description: args.description.clone(),
            tags: Vec::new(),
        },
    )
    .with_context(|| format!("recording image {image_id}"))?;
    eprintln!("{image_id}: Creating");
    // The progress lines come from the importer's phases, through a wrapper that also
    // prints them.
    struct Printing<'a>(&'a DiskImporter, &'a str);
    impl VmImporter for Printing<'_> {
        fn probe(&self, disk: &Path) -> DiskProbe {
            self.0.probe(disk)
        }
        fn import(
            &self,
            disk: &Path,
            confine: Option<&Path>,
            progress: &mut dyn FnMut(u8),
        ) -> Result<VmImported, VmImportFailure> {
            let id = self.1;
            self.0.import(disk, confine, &mut |p| {
                progress(p);
                eprintln!("{id}: {p}%");
            })
        }
    }
    let result = run_import(
        &store,
        tenant,
        &image_id,
        &Printing(&importer, &image_id),
        &args.image,
        // The command line reads what its user can read: no confinement.
        None,
        Some(config.vulndb.as_path()),
    )
    .map_err(|f| {
        anyhow::anyhow!(
            "{}: {} (image {image_id} is CreateFailed)",
            f.code,
            f.reason
        )
    })?;
    if !config.vulndb.is_file() {
        eprintln!(
            "note: no vulnerability database at {}; the image's inventory is stored unmatched \
             (`crowsnest db update` matches it)",
            config.vulndb.display()
        );
    }
    // The counts as the catalogue now shows them.
    let scan = store
        .vm_image(tenant, &image_id)
        .with_context(|| format!("reading image {image_id} back"))?
        .and_then(|row| row.scan);
    let summary = scan.map(|s| {
        serde_json::json!({
            "InventoryDigest": s.inventory_digest,
            "VulnDbBuild": s.vulndb_build,
            "VulnerabilityCount": s.vulns.total(),
            "Vulnerabilities": {
                "Critical": s.vulns.critical,
                "High": s.vulns.high,
                "Medium": s.vulns.medium,
                "Low": s.vulns.low,
                "Unknown": s.vulns.unknown,
            },
            "BaselineCount": s.baseline_count,
            "MaliciousCount": s.malicious_count,
            "AlarmCount": s.alarm_count,
            "SeverityLevel": s.severity_level,
        })
    });
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(
        &mut out,
        &serde_json::json!({
            "ImageId": image_id,
            "Status": "Available",
            "OSName": result.os_name,
            "Architecture": result.architecture,
            "BootMode": result.boot_mode,
            "NvmeSupport": result.nvme_support,
            "PackageCount": result.package_count,
            "ScanSummary": summary,
        }),
    )?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

/// The catalogue's columns from an inspection.
fn import_result(found: &Inspection) -> VmImportResult {
    let os = found.os.clone().unwrap_or_default();
    VmImportResult {
        os_type: "linux".into(),
        os_name: os.pretty_name.clone(),
        os_name_en: os.pretty_name.clone(),
        platform: platform(&os.id, &os.name),
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
    }
}

/// DescribeImages' Platform: the distribution's usual display name.
fn platform(id: &str, name: &str) -> String {
    match id {
        "debian" => "Debian".into(),
        "ubuntu" => "Ubuntu".into(),
        "centos" => "CentOS".into(),
        "rhel" => "Red Hat".into(),
        "alinux" => "Aliyun".into(),
        "rocky" => "Rocky Linux".into(),
        "almalinux" => "AlmaLinux".into(),
        "opensuse-leap" | "sles" => "OpenSUSE".into(),
        _ => name.split_whitespace().next().unwrap_or("").to_owned(),
    }
}

/// The disk format by the file's first bytes (qcow2's or sparse VMDK's magic, a dynamic VHD's
/// footer copy, else raw), for the Creating row of a disk whose header does not even open.
fn sniff_format(path: &Path) -> &'static str {
    use std::io::Read;
    let mut magic = [0u8; 8];
    let read = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok();
    match &magic {
        _ if !read => "raw",
        [b'Q', b'F', b'I', 0xfb, ..] => "qcow2",
        [b'K', b'D', b'M', b'V', ..] => "vmdk",
        b"conectix" => "vhd",
        _ => "raw",
    }
}
