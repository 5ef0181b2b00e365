//! Times inspecting and scanning one VM disk image: `cargo run --release -p crowsnest-vm
//! --example vm_bench -- DISK`. Prints the time to open the disk and index its root
//! filesystem, to inspect it, to run every cataloger over it, and to run the catalogers and
//! every risk analyzer (what an import runs), and the process's peak RSS.
//! `scripts/vm-bench.sh` builds a 2 GiB qcow2 and runs this under `/usr/bin/time -v`.

use std::time::Instant;

use crowsnest_model::{SourceInfo, SourceKind};
use crowsnest_vm::{DiskLimits, VmImage};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os()
        .nth(1)
        .ok_or("usage: vm_bench DISK-IMAGE")?;
    let path = std::path::PathBuf::from(path);
    let size = std::fs::metadata(&path)?.len();

    let start = Instant::now();
    let image = VmImage::open(&path, &DiskLimits::default())?;
    let opened = start.elapsed();
    let found = image.inspect();
    let inspected = start.elapsed() - opened;
    let fs = image.root_fs().ok_or("no root filesystem")?;
    let info = SourceInfo {
        kind: SourceKind::VmDisk,
        reference: path.display().to_string(),
        image_id: None,
        manifest_digest: None,
        tags: Vec::new(),
        architecture: found.architecture.clone(),
        os: Some("linux".into()),
    };
    let scan_start = Instant::now();
    let inventory = crowsnest_scan::Scanner::default().scan_fs(fs, info.clone(), Vec::new());
    let scanned = scan_start.elapsed();
    // What an import runs: the catalogers and every risk analyzer (YARA rules compiled
    // first, outside the timing, as a server compiles them once).
    let risk = crowsnest_risk::RiskAnalyzers::new(&crowsnest_risk::RiskOptions::all())?;
    let full = crowsnest_scan::Scanner::default().with_risk(risk);
    let full_start = Instant::now();
    let output = full.scan_fs_full(fs, info, Vec::new());
    let full_scanned = full_start.elapsed();

    println!(
        "image:        {} ({:.1} MiB file, {:.1} GiB virtual, {})",
        path.display(),
        size as f64 / (1 << 20) as f64,
        found.virtual_size as f64 / (1u64 << 30) as f64,
        found.format
    );
    println!("entries:      {}", fs.len());
    println!(
        "os:           {:?}",
        found.os.as_ref().map(|o| o.pretty_name.as_str())
    );
    println!("packages:     {}", inventory.packages.len());
    println!("open+index:   {:.3} s", opened.as_secs_f64());
    println!("inspect:      {:.3} s", inspected.as_secs_f64());
    println!("scan:         {:.3} s", scanned.as_secs_f64());
    println!(
        "scan + risks: {:.3} s ({} risk findings)",
        full_scanned.as_secs_f64(),
        output.risks.len()
    );
    println!("total:        {:.3} s", start.elapsed().as_secs_f64());
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM")) {
            println!("peak RSS:     {}", line.trim_start_matches("VmHWM:").trim());
        }
    }
    Ok(())
}
