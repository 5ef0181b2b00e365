//! `crowsnest worker`, and the scan workers `crowsnest serve` runs in-process: flags into a
//! [`crowsnest_worker::WorkerContext`], a pool of workers, and a stop on SIGINT or SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use crowsnest_registry::ServerKey;
use crowsnest_worker::{WorkerContext, WorkerOptions, WorkerPool};

use crate::cli::{WorkerArgs, WorkerTiming};
use crate::config::Config;

/// Seconds from a flag; negative or non-finite values (which clap lets through) become zero.
fn secs(value: f64) -> Duration {
    Duration::try_from_secs_f64(value).unwrap_or(Duration::ZERO)
}

/// The worker options the flags describe.
pub fn options(t: &WorkerTiming) -> WorkerOptions {
    WorkerOptions {
        lease: secs(t.lease_secs),
        heartbeat: secs(t.heartbeat_secs),
        poll: secs(t.poll_secs),
        job_timeout: secs(t.job_timeout_secs),
        max_attempts: t.max_attempts.max(1),
        backoff: secs(t.backoff_secs),
        task_timeout: secs(t.task_timeout_secs),
        registry_timeout: secs(t.registry_timeout_secs),
        ..WorkerOptions::default()
    }
}

/// Starts `count` workers on `store` named `{id}-{n}`, with the data directory's server key
/// (to open registry credentials) and vulnerability database.
pub fn start_pool(
    config: &Config,
    store: crowsnest_store::Store,
    timing: &WorkerTiming,
    count: usize,
    id: &str,
) -> Result<WorkerPool> {
    let key = ServerKey::load_or_create(&config.data_dir)
        .map_err(|e| crate::coded(e.code(), &e))
        .context("loading the server key (registry credentials)")?;
    // The analyzers `registry sync --scan` runs, so a task's images carry the same risk counts.
    let risk = crowsnest_risk::RiskAnalyzers::new(&crowsnest_risk::RiskOptions::all())
        .map_err(|e| crate::coded(e.code().as_str(), &e))?;
    let mut ctx = WorkerContext::new(store, key, Some(config.vulndb.clone()), options(timing));
    ctx.scanner = crowsnest_scan::Scanner::new(crowsnest_image::Limits::default()).with_risk(risk);
    ctx.risk_kinds = crowsnest_model::RiskKind::ALL.to_vec();
    ctx.webhook = timing
        .webhook_url
        .clone()
        .map(|url| crowsnest_worker::Webhook {
            url,
            secret: timing.webhook_secret.clone(),
        });
    let ctx = Arc::new(ctx);
    WorkerPool::spawn(ctx, count, id).context("starting scan workers")
}

/// `crowsnest worker`: runs until SIGINT or SIGTERM, then lets each worker finish its job.
pub fn run(config: &Config, args: WorkerArgs) -> Result<ExitCode> {
    let store = config.open_store(&args.store)?;
    let id = args
        .id
        .clone()
        .unwrap_or_else(crowsnest_worker::default_worker_id);
    let count = args.concurrency.max(1);
    let pool = start_pool(config, store, &args.timing, count, &id)?;
    eprintln!("crowsnest worker {id}: {count} worker(s) claiming scan jobs");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal handler")?;
    runtime.block_on(crate::server::stop_signal());
    eprintln!("crowsnest worker {id}: stopping after the jobs in progress");
    pool.shutdown();
    Ok(ExitCode::SUCCESS)
}
