//! `crowsnest vm inspect|scan|import`: VM disk images (raw, qcow2) read without booting.
//!
//! `inspect` prints what the disk holds (OS, architecture, boot mode, drivers, check items);
//! `scan` runs the container catalogers over the disk's root filesystem and prints a report
//! like `crowsnest scan`; `import` records the disk as a custom image in the catalogue that
//! ECS DescribeImages serves: `Creating` with progress while it is read, then `Available` with
//! its check items, or `CreateFailed` with the reason.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use crowsnest_model::{ScanReport, SourceInfo, SourceKind};
use crowsnest_report::{Format, RenderOptions};
use crowsnest_scan::Scanner;
use crowsnest_store::vm_images::VmImageCheck;
use crowsnest_store::{NewVmImport, TenantId, VmImportResult};
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
            "invalid_image: no root filesystem on {} (no ext4 partition holds /etc/os-release)",
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
    let inventory = Scanner::default().scan_fs(fs, info, fs.diagnostics().to_vec());
    let (findings, db) = if args.skip_db {
        (Vec::new(), None)
    } else {
        let (findings, db, _build) = crate::scan::match_vulnerabilities(config, &inventory)?;
        (findings, db)
    };
    // VM disks get no risk analyzers yet; only vulnerability matching ran, when it did.
    let scanners = if db.is_some() {
        vec![crowsnest_model::ScannerKind::Vuln]
    } else {
        Vec::new()
    };
    let report = ScanReport::new(inventory, findings, db, scanners, Vec::new());
    let mut out = io::BufWriter::new(io::stdout().lock());
    crowsnest_report::render(&report, format, &RenderOptions::default(), &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Import phases and the progress each one ends at. Reading the disk (partition table and the
/// whole directory tree) is most of the work; inspection reads a few files.
const OPENED: u8 = 70;
const INSPECTED: u8 = 95;

fn import(config: &Config, args: VmImportArgs) -> Result<ExitCode> {
    let store = config.open_store(&args.store)?;
    let tenant = TenantId(args.tenant);
    let image_id = args.image_id.clone().unwrap_or_else(new_image_id);
    let size = std::fs::metadata(&args.image)
        .with_context(|| format!("not_found: {}", args.image.display()))?
        .len();
    let started = Instant::now();
    store
        .begin_vm_import(
            tenant,
            &NewVmImport {
                image_id: image_id.clone(),
                region_id: args.region.clone(),
                image_name: args.name.clone(),
                description: args.description.clone(),
                format: sniff_format(&args.image).into(),
                source_name: args
                    .image
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                size_gib: size.div_ceil(1 << 30) as i64,
                created_ms: crowsnest_store::now_ms(),
            },
        )
        .with_context(|| format!("recording image {image_id}"))?;
    eprintln!("{image_id}: Creating");
    let progress = |percent: u8| -> Result<()> {
        // Remaining time from the pace so far: elapsed * (100 - p) / p.
        let elapsed = started.elapsed().as_secs_f64();
        let remain = (elapsed * f64::from(100 - percent) / f64::from(percent.max(1))).ceil();
        store.vm_import_progress(tenant, &image_id, percent, remain as i64)?;
        eprintln!("{image_id}: {percent}% (about {remain}s left)");
        Ok(())
    };
    let fail = |code: &str, reason: String| -> anyhow::Error {
        if let Err(e) = store.fail_vm_import(tenant, &image_id, code, &reason) {
            return anyhow::anyhow!("{code}: {reason} (and recording the failure failed: {e})");
        }
        anyhow::anyhow!("{code}: {reason} (image {image_id} is CreateFailed)")
    };
    let image = match VmImage::open(&args.image, &DiskLimits::default()) {
        Ok(image) => image,
        Err(e) => return Err(fail(e.code().as_str(), e.to_string())),
    };
    progress(OPENED)?;
    if image.root_fs().is_none() {
        return Err(fail(
            "invalid_image",
            "no root filesystem found (no ext4 partition holds /etc/os-release)".into(),
        ));
    }
    let found = image.inspect();
    progress(INSPECTED)?;
    store
        .finish_vm_import(tenant, &image_id, &import_result(&found))
        .with_context(|| format!("recording image {image_id}"))?;
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(
        &mut out,
        &serde_json::json!({
            "ImageId": image_id,
            "Status": "Available",
            "Format": found.format,
            "Inspection": found,
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

/// A fresh image id (`m-` and 20 hex digits) from the clock and the process id.
fn new_image_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("m-{:016x}{:04x}", nanos as u64, std::process::id() & 0xffff)
}

/// The disk format by the file's first bytes (qcow2's magic, else raw), known before the import
/// reads anything else so the Creating row shows it.
fn sniff_format(path: &std::path::Path) -> &'static str {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let is_qcow2 = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"QFI\xfb";
    if is_qcow2 {
        "qcow2"
    } else {
        "raw"
    }
}
