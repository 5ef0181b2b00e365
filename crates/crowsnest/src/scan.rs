//! `crowsnest scan`: scan one image or root directory and write the report.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use crowsnest_image::Limits;
use crowsnest_model::{Finding, RiskKind, ScanReport, ScannerKind, Severity};
use crowsnest_report::{Format, RenderOptions};
use crowsnest_risk::{malware::MalwareOptions, secret, RiskAnalyzers, RiskOptions};
use crowsnest_scan::{ScanProgress, Scanner};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{AnalyzerArgs, ScanArgs};
use crate::config::Config;

/// Runs the scan command.
pub fn run(config: &Config, args: ScanArgs) -> Result<ExitCode> {
    let format: Format = args.format.parse()?;
    let severities = parse_severities(&args.severity)?;
    let limits = Limits {
        max_unpacked_bytes: args.max_unpacked_bytes,
        ..Limits::default()
    };
    let scanners = parse_scanners(&args.analyzers.scanners)?;
    let risk = RiskAnalyzers::new(&risk_options(&args.analyzers, &scanners))
        .map_err(|e| crate::coded(e.code().as_str(), &e))?;
    let scanner = Scanner::new(limits).with_risk(risk);
    let show_progress = !args.no_progress && io::stderr().is_terminal();

    let output = match (&args.image, &args.rootfs) {
        (_, Some(dir)) => scanner
            .scan_rootfs_full(dir)
            .map_err(|e| crate::coded(e.code().as_str(), &e))
            .with_context(|| format!("scanning root filesystem {}", dir.display()))?,
        (Some(image), None) => {
            let bar = show_progress.then(new_bar);
            let mut on_progress = |p: ScanProgress| {
                if let Some(bar) = &bar {
                    match p {
                        ScanProgress::Started { layers, .. } => bar.set_length(layers as u64),
                        ScanProgress::Layer { index, bytes_read } => {
                            bar.set_position(index as u64);
                            bar.set_message(format!(
                                "layer {}: {} MiB unpacked",
                                index + 1,
                                bytes_read >> 20
                            ));
                        }
                        ScanProgress::Cataloging => bar.set_message("cataloging"),
                    }
                }
            };
            let result =
                match crate::registry::open_if_remote(image, &args.registry, scanner.limits())? {
                    Some(source) => scanner.scan_source_full(source.as_ref(), &mut on_progress),
                    None => scanner.scan_image_full(image, &mut on_progress),
                };
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            result
                .map_err(|e| crate::coded(e.code().as_str(), &e))
                .with_context(|| format!("scanning {image}"))?
        }
        (None, None) => anyhow::bail!("name an image or --rootfs DIR"),
    };

    let inventory = output.inventory;
    let (mut findings, db, build) = if args.skip_db || !scanners.contains(&ScannerKind::Vuln) {
        (Vec::new(), None, None)
    } else {
        match_vulnerabilities(config, &inventory)?
    };
    if args.save {
        let risk_kinds: Vec<RiskKind> = scanners.iter().filter_map(|s| s.risk_kind()).collect();
        let risks = (&risk_kinds[..], &output.risks[..]);
        save(
            config,
            &args.store,
            &inventory,
            &findings,
            build.as_deref(),
            risks,
        )?;
    }
    if !severities.is_empty() {
        findings.retain(|f| severities.contains(&f.severity));
    }
    let gate_tripped = args.exit_code != 0 && !findings.is_empty();
    let ran: Vec<ScannerKind> = scanners
        .iter()
        .copied()
        .filter(|s| *s != ScannerKind::Vuln || db.is_some())
        .collect();
    let report = ScanReport::new(inventory, findings, db, ran, output.risks);
    let stdout_is_terminal = args.output.is_none() && io::stdout().is_terminal();
    let options = RenderOptions {
        colour: stdout_is_terminal && std::env::var_os("NO_COLOR").is_none(),
        ..RenderOptions::default()
    };
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    crowsnest_report::render(&report, format, &options, &mut out)?;
    out.flush()?;
    Ok(if gate_tripped {
        ExitCode::from(args.exit_code)
    } else {
        ExitCode::SUCCESS
    })
}

/// Matches the inventory against the vulnerability database. A missing database is not an
/// error: the inventory is still worth having (and the README's first command must work on a
/// machine that has never downloaded one), so it says so on stderr and lists packages only.
/// Stores the inventory under the image's digest (the manifest's, else the config's) and, when
/// it was matched, the counts of every finding (before `--severity` filters the report), so a
/// database update re-matches the image without reading it again; then the risk analyzers'
/// findings (`risks`: which ran, what they found), which set the image's baseline, malicious
/// and alarm counts.
fn save(
    config: &Config,
    store_args: &crate::cli::StoreArgs,
    inventory: &crowsnest_model::Inventory,
    findings: &[Finding],
    build: Option<&str>,
    risks: (&[RiskKind], &[crowsnest_model::RiskFinding]),
) -> Result<()> {
    let digest = inventory
        .source
        .manifest_digest
        .as_ref()
        .or(inventory.source.image_id.as_ref())
        .ok_or_else(|| {
            crate::coded(
                crowsnest_model::ErrorCode::InvalidImage.as_str(),
                &"--save needs an image with a digest (a root directory has none)",
            )
        })?
        .to_string();
    let store = config.open_store(store_args)?;
    let engine = concat!("crowsnest-scan ", env!("CARGO_PKG_VERSION"));
    store
        .save_inventory(&digest, inventory, engine)
        .with_context(|| format!("saving the inventory of {digest}"))?;
    if let Some(build) = build {
        let counts = crowsnest_store::VulnCounts::of(findings);
        store
            .record_match(&digest, build, &counts)
            .with_context(|| format!("saving the vulnerability counts of {digest}"))?;
        // The image's critical findings as of this scan: a later re-match announces only the
        // ones it adds (the report in hand already shows these).
        crowsnest_worker::alerts::record_criticals(&store, &digest, findings)
            .with_context(|| format!("saving the critical findings of {digest}"))?;
    }
    store
        .save_risks(&digest, risks.0, risks.1)
        .with_context(|| format!("saving the risk findings of {digest}"))?;
    eprintln!("saved the inventory of {digest}");
    Ok(())
}

/// The findings, the database summary for the report, and the database build (what a saved
/// inventory records it was matched against).
type Matched = (
    Vec<Finding>,
    Option<crowsnest_model::DbInfo>,
    Option<String>,
);

pub(crate) fn match_vulnerabilities(
    config: &Config,
    inventory: &crowsnest_model::Inventory,
) -> Result<Matched> {
    if !config.vulndb.is_file() {
        eprintln!(
            "note: no vulnerability database at {}; listing packages only. Run `crowsnest db \
             update` (online) or `crowsnest db import PATH` (OSV files or all.zip) first.",
            config.vulndb.display()
        );
        return Ok((Vec::new(), None, None));
    }
    let coded_db = |e: crowsnest_vulndb::VulnDbError| crate::coded(e.code().as_str(), &e);
    let db = crowsnest_vulndb::VulnDb::open(&config.vulndb).map_err(coded_db)?;
    let info = db.status().map_err(coded_db)?.db_info();
    let build = db.build().map_err(coded_db)?;
    let findings = crowsnest_vulndb::match_inventory(&db, inventory)
        .map_err(coded_db)
        .context("matching against the vulnerability database")?;
    Ok((findings, Some(info), Some(build)))
}

/// The `--scanners` list, each name checked, in the documented order without repeats.
pub(crate) fn parse_scanners(names: &[String]) -> Result<Vec<ScannerKind>> {
    let mut kinds = Vec::new();
    for name in names.iter().filter(|n| !n.trim().is_empty()) {
        let kind = ScannerKind::parse(name).ok_or_else(|| {
            crate::coded(
                "InvalidParameter",
                &format!(
                    "unknown scanner {name:?}: use vuln, baseline, secret or malware (comma-separated)"
                ),
            )
        })?;
        kinds.push(kind);
    }
    kinds.sort();
    kinds.dedup();
    Ok(kinds)
}

/// The risk analyzers' options from the flags.
pub(crate) fn risk_options(args: &AnalyzerArgs, scanners: &[ScannerKind]) -> RiskOptions {
    RiskOptions {
        kinds: scanners
            .iter()
            .filter_map(|s| s.risk_kind())
            .collect::<std::collections::BTreeSet<RiskKind>>(),
        secret: secret::SecretOptions {
            allow_paths: args
                .secret_allow
                .iter()
                .map(|s| secret::AllowPath::parse(s))
                .collect(),
            skip_rules: args.secret_skip_rule.clone(),
            max_file_bytes: args.secret_max_file_bytes,
            ..secret::SecretOptions::default()
        },
        malware: MalwareOptions {
            rule_dirs: args.yara_rules.clone(),
            blocklists: args.malware_blocklist.clone(),
            max_file_bytes: args.malware_max_file_bytes,
            ..MalwareOptions::default()
        },
    }
}

fn parse_severities(words: &[String]) -> Result<Vec<Severity>> {
    words
        .iter()
        .filter(|w| !w.trim().is_empty())
        .map(|w| {
            Severity::parse_word(w).with_context(|| {
                format!("unknown severity {w:?}: use UNKNOWN, LOW, MEDIUM, HIGH or CRITICAL")
            })
        })
        .collect()
}

fn new_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} layers, {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("reading layers");
    bar
}
