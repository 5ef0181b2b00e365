//! `crowsnest db import|update|status|rematch`: fill and inspect the vulnerability database,
//! and re-match the inventories `scan --save` stored once it changes.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use crowsnest_vulndb::{DbStatus, EcosystemUpdate, ImportSummary, UpdateSummary};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{
    DbCommand, DbImportArgs, DbRematchArgs, DbStatusArgs, DbUpdateArgs, StoreArgs, WebhookArgs,
};
use crate::config::{Config, DEFAULT_ECOSYSTEMS};

/// Runs one `db` subcommand.
pub fn run(config: &Config, command: DbCommand) -> Result<ExitCode> {
    match command {
        DbCommand::Import(args) => import(config, args),
        DbCommand::Update(args) => update(config, args),
        DbCommand::Status(args) => status(config, args),
        DbCommand::Rematch(args) => rematch(config, &args),
    }
}

/// `crowsnest-store` as the re-matcher's source of inventories and sink of counts, collecting
/// the images whose re-match found new critical findings.
struct StoreInventories<'a>(
    &'a crowsnest_store::Store,
    Vec<crowsnest_worker::alerts::NewCriticals>,
);

impl crowsnest_vulndb::StoredInventories for StoreInventories<'_> {
    fn next_batch(
        &mut self,
        build: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, crowsnest_model::Inventory)>, crowsnest_vulndb::StoreFailure> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(self
            .0
            .inventories_to_match(build, after, limit)?
            .into_iter()
            .map(|s| (s.digest, s.inventory))
            .collect())
    }

    fn record(
        &mut self,
        key: &str,
        build: &str,
        findings: &[crowsnest_model::Finding],
    ) -> Result<bool, crowsnest_vulndb::StoreFailure> {
        let counts = crowsnest_store::VulnCounts::of(findings);
        let changed = self.0.record_match(key, build, &counts)?.changed;
        if let Some(new) = crowsnest_worker::alerts::record_criticals(self.0, key, findings)? {
            self.1.push(new);
        }
        Ok(changed)
    }
}

/// Re-matches the stored inventories of `store` against the current database on both cores,
/// then announces the images with new critical findings to the webhook, if one is given.
fn rematch_store(
    config: &Config,
    store: &crowsnest_store::Store,
    webhook: &WebhookArgs,
) -> Result<crowsnest_vulndb::RematchSummary> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut inventories = StoreInventories(store, Vec::new());
    let summary = crowsnest_vulndb::rematch(
        &config.vulndb,
        &mut inventories,
        crowsnest_vulndb::DEFAULT_BATCH,
        threads,
    )
    .map_err(|e| crate::coded(e.code().as_str(), &e))
    .context("re-matching stored inventories")?;
    let hook = webhook
        .webhook_url
        .clone()
        .map(|url| crowsnest_worker::Webhook {
            url,
            secret: webhook.webhook_secret.clone(),
        });
    for new in &inventories.1 {
        println!(
            "new critical findings in {}: {}",
            new.digest,
            new.finding_ids.join(", ")
        );
        if let Some(hook) = &hook {
            hook.deliver(
                crowsnest_worker::alerts::NEW_CRITICALS_EVENT,
                new.body().as_bytes(),
            );
        }
    }
    Ok(summary)
}

fn print_rematch(summary: &crowsnest_vulndb::RematchSummary) {
    println!(
        "re-matched {} stored inventories against database build {}: {} with changed \
         vulnerability counts, {} findings",
        summary.rematched, summary.build, summary.changed, summary.findings
    );
}

fn rematch(config: &Config, args: &DbRematchArgs) -> Result<ExitCode> {
    let store = config.open_store(&args.store)?;
    print_rematch(&rematch_store(config, &store, &args.webhook)?);
    Ok(ExitCode::SUCCESS)
}

/// After `db import`/`db update`: re-matches the stored inventories, unless there is no store
/// yet (no `--database` and no store file in the data directory), when there is nothing to do.
fn rematch_after_change(config: &Config, args: &StoreArgs, webhook: &WebhookArgs) -> Result<()> {
    if args.database.is_none() && !config.data_dir.join(crowsnest_store::SQLITE_FILE).is_file() {
        println!(
            "no store in {}: no stored inventories to re-match",
            config.data_dir.display()
        );
        return Ok(());
    }
    let store = config.open_store(args)?;
    print_rematch(&rematch_store(config, &store, webhook)?);
    Ok(())
}

fn ensure_parent(config: &Config) -> Result<()> {
    if let Some(parent) = config.vulndb.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    Ok(())
}

fn import(config: &Config, args: DbImportArgs) -> Result<ExitCode> {
    ensure_parent(config)?;
    let mut failed = false;
    for path in &args.paths {
        let summary = crowsnest_vulndb::import_path(&config.vulndb, path)
            .map_err(|e| crate::coded(e.code().as_str(), &e))
            .with_context(|| format!("importing {}", path.display()))?;
        print_import(path.display().to_string(), &summary);
        failed |= summary.errors > 0;
    }
    println!("database: {}", config.vulndb.display());
    rematch_after_change(config, &args.store, &args.webhook)?;
    // Records that failed to parse were reported above; the rest were imported, so the
    // database is usable, but a script should notice.
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_import(source: String, summary: &ImportSummary) {
    let per: Vec<String> = summary
        .ecosystems
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    println!(
        "{source}: {} records imported, {} withdrawn dropped, {} failed{}",
        summary.records,
        summary.withdrawn,
        summary.errors,
        if per.is_empty() {
            String::new()
        } else {
            format!(" ({})", per.join(", "))
        }
    );
    for failure in &summary.failures {
        eprintln!("  failed: {}: {}", failure.entry, failure.message);
    }
}

fn update(config: &Config, args: DbUpdateArgs) -> Result<ExitCode> {
    ensure_parent(config)?;
    let base = args
        .base_url
        .unwrap_or_else(|| crowsnest_vulndb::DEFAULT_BASE_URL.to_owned());
    let ecosystems: Vec<String> = if args.ecosystems.is_empty() {
        DEFAULT_ECOSYSTEMS.iter().map(|e| (*e).to_owned()).collect()
    } else {
        args.ecosystems
    };
    let bar = (!args.no_progress && io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    });
    let mut on_progress = |p: crowsnest_vulndb::Progress<'_>| {
        if let Some(bar) = &bar {
            bar.set_message(p.ecosystem.to_owned());
            bar.set_length(p.total.unwrap_or(p.done));
            bar.set_position(p.done);
        }
    };
    let summary = crowsnest_vulndb::update(&config.vulndb, &base, &ecosystems, &mut on_progress)
        .map_err(|e| crate::coded(e.code().as_str(), &e))
        .context("updating the vulnerability database")?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    print_update(&summary);
    println!("database: {}", config.vulndb.display());
    if config.vulndb.is_file() {
        rematch_after_change(config, &args.store, &args.webhook)?;
    }
    Ok(if summary.failed().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_update(summary: &UpdateSummary) {
    for (ecosystem, outcome) in &summary.ecosystems {
        match outcome {
            EcosystemUpdate::Unchanged => println!("{ecosystem}: unchanged"),
            EcosystemUpdate::Updated {
                bytes,
                resumed_from,
                records,
                withdrawn,
                errors,
            } => {
                let resumed = if *resumed_from > 0 {
                    format!(", resumed at {resumed_from} bytes")
                } else {
                    String::new()
                };
                println!(
                    "{ecosystem}: {records} records ({withdrawn} withdrawn dropped, {errors} \
                     failed) from {bytes} bytes{resumed}"
                );
            }
            EcosystemUpdate::Failed { reason } => {
                eprintln!("{ecosystem}: failed, previous records kept: {reason}")
            }
        }
    }
}

fn status(config: &Config, args: DbStatusArgs) -> Result<ExitCode> {
    let status = crowsnest_vulndb::status(&config.vulndb)
        .map_err(|e| crate::coded(e.code().as_str(), &e))?;
    let mut out = io::stdout().lock();
    match args.format.as_str() {
        "json" => {
            serde_json::to_writer_pretty(&mut out, &status)?;
            writeln!(out)?;
        }
        "table" => write_status(&status, &mut out)?,
        other => anyhow::bail!("unknown format {other:?}: use table or json"),
    }
    Ok(ExitCode::SUCCESS)
}

fn write_status(status: &DbStatus, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "Database: {}", status.path.display())?;
    writeln!(
        out,
        "Size:     {:.1} MB (schema {})",
        status.file_size as f64 / 1e6,
        status.schema_version
    )?;
    writeln!(out, "Updated:  {}", status.updated_at)?;
    writeln!(out, "Records:  {}", status.records)?;
    writeln!(out)?;
    writeln!(out, "{:<24} {:>8}", "Ecosystem", "Records")?;
    for (name, n) in &status.ecosystems {
        writeln!(out, "{name:<24} {n:>8}")?;
    }
    if !status.sources.is_empty() {
        writeln!(out)?;
        writeln!(out, "Sources:")?;
        for s in &status.sources {
            writeln!(
                out,
                "  {} ({} records, {} withdrawn, {} failed; imported {})",
                s.source, s.records, s.withdrawn, s.errors, s.imported_at
            )?;
        }
    }
    Ok(())
}
