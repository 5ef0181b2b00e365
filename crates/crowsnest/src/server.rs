//! `crowsnest serve`, and the commands that prepare a server: `tenants`, `keys`, `dev seed`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use crowsnest_store::{NewTenant, TenantId};

use crate::cli::{DevCommand, KeysCommand, ServeArgs, TenantsCommand};
use crate::config::Config;

/// Runs the HTTP API until SIGINT or SIGTERM, then finishes the requests in flight.
pub fn serve(config: &Config, args: ServeArgs) -> Result<ExitCode> {
    let store = config.open_store(&args.store)?;
    // Workers first: a server that cannot start them (no readable server key) says so before
    // it accepts tasks nobody would run.
    let workers = if args.workers > 0 {
        let id = format!("{}-serve", crowsnest_worker::default_worker_id());
        Some(crate::worker::start_pool(
            config,
            store.clone(),
            &args.timing,
            args.workers,
            &id,
        )?)
    } else {
        None
    };
    // The key that seals registry passwords, shared with `crowsnest registry add`.
    let registry_key = std::sync::Arc::new(
        crowsnest_registry::ServerKey::load_or_create(&config.data_dir)
            .map_err(|e| crate::coded(e.code(), &e))?,
    );
    // Scheduled syncs queue tasks for the workers (here or in `crowsnest worker` processes).
    let scheduler = match std::time::Duration::try_from_secs_f64(args.schedule_tick_secs) {
        Ok(tick) if !tick.is_zero() => Some(
            crowsnest_worker::scheduler::Scheduler::new(
                store.clone(),
                std::sync::Arc::clone(&registry_key),
                crowsnest_worker::scheduler::SchedulerOptions {
                    tick,
                    registry_timeout: crate::worker::options(&args.timing).registry_timeout,
                    ..Default::default()
                },
            )
            .spawn()
            .context("starting the registry scheduler")?,
        ),
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // Built before the server announces itself: it compiles the YARA rules.
    let importer = std::sync::Arc::new(crate::vm::DiskImporter::new(
        crowsnest_vm::DiskLimits::default(),
    )?);
    // Printed once the listener is bound, so that scripts (and the SDK tests) that wait for
    // this line can connect at once.
    let announcement = format!(
        "(store: {:?}, {} scan workers)",
        store.engine(),
        args.workers
    );
    let on_listening = Box::new(move |addr: std::net::SocketAddr| {
        eprintln!(
            "crowsnest API on http://{addr} {announcement}; web console on http://{addr}/console/"
        );
    });
    let served = runtime.block_on(crowsnest_api::serve(
        crowsnest_api::ServeOptions {
            addr: args.listen,
            store,
            settings: crowsnest_api::Settings {
                vulndb: Some(config.vulndb.clone()),
                vm_import_dir: args.vm_import_dir.clone(),
                vm_upload_dir: Some(
                    args.vm_upload_dir
                        .clone()
                        .unwrap_or_else(|| config.data_dir.join("vm-uploads")),
                ),
                agents: crowsnest_api::AgentSettings {
                    heartbeat_interval_ms: secs_to_ms(args.agent_heartbeat_secs),
                    offline_after_ms: secs_to_ms(args.agent_offline_after_secs),
                },
                registry_key: Some(registry_key),
                ..crowsnest_api::Settings::default()
            },
            // The API confines each import (backing files included) to its directory.
            vm_importer: Some(importer),
            // The web console, under /console, over the same state.
            mounts: vec![crowsnest_console::mount],
            on_listening: Some(on_listening),
        },
        stop_signal(),
    ));
    // Store calls still running on blocking threads (their clients are gone) get a moment to
    // finish; a runtime dropped plainly would wait for every one of them.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    if let Some(scheduler) = scheduler {
        scheduler.shutdown();
    }
    if let Some(workers) = workers {
        workers.shutdown();
    }
    served.map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!("crowsnest API stopped");
    Ok(ExitCode::SUCCESS)
}

fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (what service managers send).
pub(crate) async fn stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            // Without a SIGTERM handler the default action (exit) still stops the server.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

/// `crowsnest tenants create`.
pub fn tenants(config: &Config, command: TenantsCommand) -> Result<ExitCode> {
    match command {
        TenantsCommand::Create(args) => {
            let store = config.open_store(&args.store)?;
            let tenant = store
                .create_tenant(&NewTenant {
                    name: args.name.clone(),
                    account_id: args.account_id.clone(),
                })
                .with_context(|| format!("creating tenant {:?}", args.name))?;
            for project in &args.project_ids {
                store
                    .add_project(tenant, project, &args.region)
                    .with_context(|| format!("adding project {project}"))?;
            }
            println!("{}", tenant.0);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `crowsnest keys create|token`.
pub fn keys(config: &Config, command: KeysCommand) -> Result<ExitCode> {
    let unknown = |actions: &[String]| -> Result<()> {
        if let Some(bad) = actions
            .iter()
            .find(|a| !crowsnest_api::keys::is_known_action(a))
        {
            anyhow::bail!(
                "unknown action {bad:?}; known: {}",
                crowsnest_api::keys::all_actions()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(())
    };
    match command {
        KeysCommand::Create(args) => {
            unknown(&args.actions)?;
            let store = config.open_store(&args.store)?;
            let actions: Vec<&str> = args.actions.iter().map(String::as_str).collect();
            let key = crowsnest_api::keys::create(&store, TenantId(args.tenant), &actions)
                .context("creating the access key")?;
            println!("AccessKeyId:     {}", key.id);
            println!("AccessKeySecret: {}", key.secret);
        }
        KeysCommand::Token(args) => {
            unknown(&args.actions)?;
            let store = config.open_store(&args.store)?;
            let actions: Vec<&str> = args.actions.iter().map(String::as_str).collect();
            let ttl_ms = args.hours.saturating_mul(3_600_000);
            let token =
                crowsnest_api::keys::create_token(&store, TenantId(args.tenant), &actions, ttl_ms)
                    .context("creating the token")?;
            println!("{token}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `crowsnest dev seed`.
pub fn dev(config: &Config, command: DevCommand) -> Result<ExitCode> {
    match command {
        DevCommand::Seed(args) => {
            let store = config.open_store(&args.store)?;
            let start = std::time::Instant::now();
            let plan = crowsnest_store::SeedPlan {
                tenants: args.tenants.max(1),
                images: args.images,
                ..crowsnest_store::SeedPlan::default()
            };
            let report = store.seed(&plan).context("seeding the store")?;
            let mut local = 0;
            if args.hosts > 0 {
                for tenant in &report.tenants {
                    local += store
                        .seed_hosts(*tenant, args.hosts, args.images_per_host)
                        .context("seeding hosts")?;
                }
            }
            let ids: Vec<String> = report.tenants.iter().map(|t| t.0.to_string()).collect();
            println!(
                "seeded {} images for tenants {} in {:.1} s",
                report.images,
                ids.join(", "),
                start.elapsed().as_secs_f64()
            );
            if args.hosts > 0 {
                println!(
                    "seeded {} hosts per tenant holding {local} local images",
                    args.hosts
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
