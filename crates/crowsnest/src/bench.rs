//! `crowsnest bench`: how fast a scan is, measured against the floor of simply decompressing
//! and hashing the same layers with `gzip -dc | sha256sum`.
//!
//! The floor is the least work any scanner that verifies layers must do, so the ratio says how
//! much our parsing, whiteout handling and cataloging add. Peak RSS is the process high-water
//! mark (`VmHWM`), which covers every run since start.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use crowsnest_scan::Scanner;

use crate::cli::BenchArgs;
use crate::config::Config;

/// Runs the bench command and prints its figures.
pub fn run(_config: &Config, args: BenchArgs) -> Result<ExitCode> {
    let image = match args.image {
        Some(i) => i,
        None => default_fixture()?.display().to_string(),
    };
    let runs = args.runs.max(1);
    let scanner = Scanner::default();

    // Warm-up: fills the page cache so both sides read from memory.
    let inventory = scanner
        .scan_image(&image, &mut |_| {})
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let compressed: u64 = inventory.layers.iter().map(|l| l.size).sum();
    let unpacked: u64 = inventory.layers.iter().map(|l| l.unpacked_size).sum();

    let mut scan_times = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        scanner
            .scan_image(&image, &mut |_| {})
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        scan_times.push(start.elapsed());
    }
    let scan = median(&mut scan_times);

    // The same scan with every risk analyzer (baseline, secrets, malware): what they add.
    // Rule compilation happens once, outside the timing, as in a server.
    let risky = Scanner::default().with_risk(
        crowsnest_risk::RiskAnalyzers::new(&crowsnest_risk::RiskOptions::all())
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let mut risk_times = Vec::new();
    let mut risk_count = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let out = risky
            .scan_image_full(&image, &mut |_| {})
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        risk_times.push(start.elapsed());
        risk_count = out.risks.len();
    }
    let with_risk = median(&mut risk_times);

    let floor = floor_time(&image, &inventory, runs)?;
    let peak_rss = peak_rss_kib().unwrap_or(0);

    let mb = |bytes: u64, t: Duration| bytes as f64 / 1e6 / t.as_secs_f64().max(1e-9);
    println!("image:            {image}");
    println!(
        "layers:           {} ({:.1} MB compressed, {:.1} MB unpacked)",
        inventory.layers.len(),
        compressed as f64 / 1e6,
        unpacked as f64 / 1e6
    );
    println!("packages:         {}", inventory.packages.len());
    println!(
        "scan (median of {runs}): {:.3} s  = {:.1} MB/s compressed, {:.1} MB/s unpacked",
        scan.as_secs_f64(),
        mb(compressed, scan),
        mb(unpacked, scan)
    );
    println!(
        "scan + baseline, secret, malware (median of {runs}): {:.3} s  (+{:.3} s, {risk_count} risks)",
        with_risk.as_secs_f64(),
        with_risk.as_secs_f64() - scan.as_secs_f64()
    );
    match floor {
        Some(floor) => println!(
            "floor gzip -dc | sha256sum (median of {runs}): {:.3} s  -> scan/floor = {:.2}x",
            floor.as_secs_f64(),
            scan.as_secs_f64() / floor.as_secs_f64().max(1e-9)
        ),
        None => println!(
            "floor: not measured (layers are not gzip blobs in an OCI layout or oci-archive)"
        ),
    }
    println!("peak RSS:         {:.1} MiB", peak_rss as f64 / 1024.0);
    Ok(ExitCode::SUCCESS)
}

/// The fixture image beside the repository, found from the working directory or the binary.
fn default_fixture() -> Result<PathBuf> {
    let candidates = [
        PathBuf::from("../shared/fixtures/images/acme-shop.oci.tar"),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/images/acme-shop.oci.tar"),
    ];
    candidates.into_iter().find(|p| p.is_file()).context(
        "no image given and the fixture ../shared/fixtures/images/acme-shop.oci.tar is not there",
    )
}

/// Times `gzip -dc BLOB | sha256sum` over every layer blob, run after run. The blobs are first
/// extracted from an oci-archive (or read in place from an OCI layout directory), outside the
/// timing.
fn floor_time(
    image: &str,
    inventory: &crowsnest_model::Inventory,
    runs: u32,
) -> Result<Option<Duration>> {
    let path = Path::new(image);
    let tmp = tempfile::tempdir()?;
    let blob_dir = if path.is_dir() {
        path.join("blobs/sha256")
    } else {
        let status = Command::new("tar")
            .arg("-xf")
            .arg(path)
            .arg("-C")
            .arg(tmp.path())
            .arg("blobs")
            .status()?;
        if !status.success() {
            return Ok(None);
        }
        tmp.path().join("blobs/sha256")
    };
    let blobs: Vec<PathBuf> = inventory
        .layers
        .iter()
        .map(|l| blob_dir.join(l.digest.hex()))
        .collect();
    if blobs.iter().any(|b| !b.is_file())
        || !inventory
            .layers
            .iter()
            .all(|l| l.media_type.contains("gzip"))
    {
        return Ok(None);
    }
    let script: String = blobs
        .iter()
        .map(|b| format!("gzip -dc '{}' | sha256sum >/dev/null\n", b.display()))
        .collect();
    let mut times = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let status = Command::new("bash").arg("-c").arg(&script).status()?;
        if !status.success() {
            bail!("the floor command failed");
        }
        times.push(start.elapsed());
    }
    Ok(Some(median(&mut times)))
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// The process's peak resident set size in KiB, from /proc/self/status.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
