//! `crowsnest registry add|update|list|sync|rm`, and the registry side of `crowsnest scan`
//! (`REGISTRY/REPO:TAG` or `@sha256:…` streamed from the registry, nothing written to disk).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use crowsnest_image::source::{Platform, SourceOptions};
use crowsnest_image::{ImageSource, Limits};
use crowsnest_registry::sync::{self, ScanCounts, ScanPolicy, SyncOptions, REGISTRY_TYPES};
use crowsnest_registry::{ClientOptions, Credentials, ImageReference, RegistryClient, ServerKey};
use crowsnest_store::{NewRegistry, NewRegistryConnection, TenantId};

use crate::cli::StoreArgs;
use crate::config::Config;

/// `crowsnest scan` flags for images pulled from a registry.
#[derive(Args, Debug, Default)]
pub struct PullArgs {
    /// The platform to pick from a multi-platform image (`os/arch[/variant]`).
    #[arg(long, default_value = "linux/amd64", value_name = "PLATFORM")]
    pub platform: String,
    /// Registry user name.
    #[arg(long, env = "CROWSNEST_REGISTRY_USERNAME", value_name = "USER")]
    pub registry_username: Option<String>,
    /// Registry password or token (prefer the environment variable to the flag).
    #[arg(
        long,
        env = "CROWSNEST_REGISTRY_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub registry_password: Option<String>,
    /// Speak plain HTTP to the registry (a local registry without TLS).
    #[arg(long)]
    pub plain_http: bool,
    /// Accept any TLS certificate from the registry.
    #[arg(long)]
    pub insecure_tls: bool,
}

/// Opens `image` from a registry when it names one: `docker://…`, or `HOST/REPO[:TAG][@DIGEST]`
/// that is not an existing path. `None` means "a local file or directory".
pub fn open_if_remote(
    image: &str,
    args: &PullArgs,
    limits: &Limits,
) -> Result<Option<Box<dyn ImageSource>>> {
    let explicit = image.starts_with("docker://");
    if !explicit && local_path_exists(image) {
        return Ok(None);
    }
    let reference = match ImageReference::parse(image) {
        Ok(r) => r,
        Err(e) if explicit => return Err(crate::coded(e.code(), &e)),
        Err(_) => return Ok(None),
    };
    let credentials = match (&args.registry_username, &args.registry_password) {
        (None, None) => None,
        (user, password) => Some(Credentials {
            username: user.clone().unwrap_or_default(),
            password: password.clone().unwrap_or_default(),
        }),
    };
    let client = RegistryClient::new(
        &reference.registry,
        ClientOptions {
            credentials,
            plain_http: args.plain_http,
            insecure_tls: args.insecure_tls,
            ..ClientOptions::default()
        },
    )
    .map_err(|e| crate::coded(e.code(), &e))?;
    let platform =
        Platform::parse(&args.platform).map_err(|e| crate::coded(e.code().as_str(), &e))?;
    let source = crowsnest_registry::open_image(
        Arc::new(client),
        &reference,
        limits,
        &SourceOptions { platform },
    )
    .map_err(|e| {
        // The registry's own message, without the image layer's I/O wrapping.
        let text = crowsnest_registry::fetcher::registry_error(&e)
            .map_or_else(|| e.to_string(), ToString::to_string);
        crate::coded(crowsnest_registry::failure_code(&e), &text)
    })
    .with_context(|| format!("opening {reference}"))?;
    Ok(Some(source))
}

/// True when `image`, or its part before a `:TAG`, is an existing path.
fn local_path_exists(image: &str) -> bool {
    Path::new(image).exists()
        || image
            .rmatch_indices(':')
            .any(|(at, _)| at > 0 && Path::new(&image[..at]).exists())
}

/// `crowsnest registry ...`.
#[derive(Subcommand, Debug)]
pub enum RegistryCommand {
    /// Connect a registry (credentials are sealed with the server key in the data directory).
    Add(Box<AddArgs>),
    /// Change a connected registry: its schedule, URL or credentials.
    Update(UpdateArgs),
    /// List a tenant's connected registries.
    List(ListArgs),
    /// Synchronise a registry's repositories and tags into the store, optionally scanning new
    /// digests.
    Sync(SyncArgs),
    /// Remove a registry with its repositories and tags.
    Rm(RmArgs),
}

/// `crowsnest registry add`.
#[derive(Args, Debug)]
pub struct AddArgs {
    /// The tenant id.
    #[arg(long)]
    pub tenant: i64,
    /// Display name; also the registry id unless --uid is given.
    #[arg(long)]
    pub name: String,
    /// External id, unique in the store (default: the name).
    #[arg(long)]
    pub uid: Option<String>,
    /// harbor, quay, jfrog, acr, swr, docker-hub or generic.
    #[arg(long = "type", default_value = "generic")]
    pub registry_type: String,
    /// `https://host[:port]` (or `http://` for a registry without TLS).
    #[arg(long)]
    pub url: String,
    /// User name.
    #[arg(long, env = "CROWSNEST_REGISTRY_USERNAME")]
    pub username: Option<String>,
    /// Password or token (prefer the environment variable to the flag).
    #[arg(long, env = "CROWSNEST_REGISTRY_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Region.
    #[arg(long, default_value = "")]
    pub region: String,
    /// Managed-registry instance id.
    #[arg(long, default_value = "")]
    pub instance_id: String,
    /// Managed-registry instance name.
    #[arg(long, default_value = "")]
    pub instance_name: String,
    /// Managed-registry instance URL.
    #[arg(long, default_value = "")]
    pub instance_url: String,
    /// Keep only these namespaces (repeat or comma-separate; default all).
    #[arg(long = "namespace", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Repositories to walk when the registry has no catalog (repeat or comma-separate).
    #[arg(long = "repository", value_delimiter = ',')]
    pub repositories: Vec<String>,
    /// Accept any TLS certificate.
    #[arg(long)]
    pub insecure_tls: bool,
    /// A PEM file with an extra CA certificate to trust.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Sync on this cron schedule (UTC) while `crowsnest serve` runs, queueing a scan task for
    /// new digests: five crontab fields (`0 3 * * *`), six or seven starting with seconds
    /// (`*/30 * * * * *`), or `@hourly`, `@daily`, ...
    #[arg(long, value_name = "CRON")]
    pub schedule: Option<String>,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `crowsnest registry update`: absent flags keep their values.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// The tenant id.
    #[arg(long)]
    pub tenant: i64,
    /// The registry id.
    pub uid: String,
    /// A new cron schedule (see `registry add --schedule`); `""` removes the schedule.
    #[arg(long, value_name = "CRON")]
    pub schedule: Option<String>,
    /// A new `https://host[:port]` (or `http://`).
    #[arg(long)]
    pub url: Option<String>,
    /// A new user name.
    #[arg(long)]
    pub username: Option<String>,
    /// A new password or token; `""` removes it (prefer the environment variable).
    #[arg(long, env = "CROWSNEST_REGISTRY_NEW_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `crowsnest registry list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// The tenant id.
    #[arg(long)]
    pub tenant: i64,
    /// table or json.
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `crowsnest registry sync`.
#[derive(Args, Debug)]
pub struct SyncArgs {
    /// The tenant id.
    #[arg(long)]
    pub tenant: i64,
    /// The registry id.
    pub uid: String,
    /// Scan every image that has no scan yet, streaming layers from the registry.
    #[arg(long, conflicts_with = "enqueue")]
    pub scan: bool,
    /// Queue a scan task over every image that has no scan and no pending job, for the
    /// workers (`serve --workers`, `crowsnest worker`) to run, and print its id.
    #[arg(long)]
    pub enqueue: bool,
    /// Repositories walked at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Seconds to wait for a connection or any read before giving up (after retries).
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `crowsnest registry rm`.
#[derive(Args, Debug)]
pub struct RmArgs {
    /// The tenant id.
    #[arg(long)]
    pub tenant: i64,
    /// The registry id.
    pub uid: String,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs a `registry` subcommand.
pub fn run(config: &Config, command: RegistryCommand) -> Result<ExitCode> {
    match command {
        RegistryCommand::Add(args) => add(config, *args),
        RegistryCommand::Update(args) => update(config, args),
        RegistryCommand::List(args) => list(config, args),
        RegistryCommand::Sync(args) => sync_command(config, args),
        RegistryCommand::Rm(args) => {
            let store = config.open_store(&args.store)?;
            if store.remove_registry(TenantId(args.tenant), &args.uid)? {
                println!("removed {}", args.uid);
                Ok(ExitCode::SUCCESS)
            } else {
                Err(anyhow::anyhow!(
                    "not_found: no registry {:?} for tenant {}",
                    args.uid,
                    args.tenant
                ))
            }
        }
    }
}

fn add(config: &Config, args: AddArgs) -> Result<ExitCode> {
    if !REGISTRY_TYPES.contains(&args.registry_type.as_str()) {
        anyhow::bail!(
            "invalid_parameter: --type {:?} is not one of {}",
            args.registry_type,
            REGISTRY_TYPES.join(", ")
        );
    }
    if !(args.url.starts_with("https://") || args.url.starts_with("http://")) {
        anyhow::bail!("invalid_parameter: --url must start with https:// or http://");
    }
    let uid = args.uid.clone().unwrap_or_else(|| args.name.clone());
    let schedule = args.schedule.as_deref().unwrap_or("").trim().to_owned();
    let next_run_ms =
        crowsnest_registry::schedule::next_run_ms(&schedule, crowsnest_store::now_ms())
            .map_err(|e| crate::coded(e.code(), &e))?;
    let key =
        ServerKey::load_or_create(&config.data_dir).map_err(|e| crate::coded(e.code(), &e))?;
    let secret_sealed = match &args.password {
        Some(p) if !p.is_empty() => key.seal(&uid, p).map_err(|e| crate::coded(e.code(), &e))?,
        _ => String::new(),
    };
    let ca_cert_pem = match &args.ca_cert {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => String::new(),
    };
    let store = config.open_store(&args.store)?;
    let id = store.add_registry_connection(
        TenantId(args.tenant),
        &NewRegistryConnection {
            registry: NewRegistry {
                uid: uid.clone(),
                name: args.name.clone(),
                registry_type: args.registry_type.clone(),
                region_id: args.region.clone(),
                instance_id: args.instance_id.clone(),
                instance_name: args.instance_name.clone(),
                instance_url: args.instance_url.clone(),
                endpoints: vec![args.url.clone()],
                ..NewRegistry::default()
            },
            url: args.url.trim_end_matches('/').to_owned(),
            username: args.username.clone().unwrap_or_default(),
            secret_sealed,
            namespace_filters: args.namespaces.clone(),
            repositories: args.repositories.clone(),
            insecure_tls: args.insecure_tls,
            ca_cert_pem,
            schedule,
            next_run_ms,
        },
    )?;
    println!("{uid} (registry {id})");
    Ok(ExitCode::SUCCESS)
}

fn update(config: &Config, args: UpdateArgs) -> Result<ExitCode> {
    let store = config.open_store(&args.store)?;
    let tenant = TenantId(args.tenant);
    let mut c = store
        .registry_connection(tenant, &args.uid)?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "not_found: no registry {:?} for tenant {}",
                args.uid,
                args.tenant
            )
        })?;
    if let Some(url) = &args.url {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            anyhow::bail!("invalid_parameter: --url must start with https:// or http://");
        }
        c.url = url.trim_end_matches('/').to_owned();
    }
    if let Some(user) = &args.username {
        c.username = user.clone();
    }
    if let Some(password) = &args.password {
        c.secret_sealed = if password.is_empty() {
            String::new()
        } else {
            ServerKey::load_or_create(&config.data_dir)
                .and_then(|key| key.seal(&c.uid, password))
                .map_err(|e| crate::coded(e.code(), &e))?
        };
    }
    if let Some(schedule) = &args.schedule {
        c.schedule = schedule.trim().to_owned();
        c.next_run_ms =
            crowsnest_registry::schedule::next_run_ms(&c.schedule, crowsnest_store::now_ms())
                .map_err(|e| crate::coded(e.code(), &e))?;
    }
    store.add_registry_connection(tenant, &c.to_new())?;
    match c.next_run_ms {
        0 => println!("{} updated (no schedule)", c.uid),
        next => println!(
            "{} updated (schedule {:?}, next run at {next} ms)",
            c.uid, c.schedule
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn list(config: &Config, args: ListArgs) -> Result<ExitCode> {
    let store = config.open_store(&args.store)?;
    let registries = store.registry_connections(TenantId(args.tenant))?;
    if args.format == "json" {
        let rows: Vec<serde_json::Value> = registries
            .iter()
            .map(|r| {
                serde_json::json!({
                    "uid": r.uid, "name": r.name, "type": r.registry_type, "url": r.url,
                    "username": r.username, "has_secret": !r.secret_sealed.is_empty(),
                    "region": r.region_id, "instance_id": r.instance_id,
                    "namespaces": r.namespace_filters, "repositories": r.repositories,
                    "latest_sync_ms": r.latest_sync_ms, "latest_sync_error": r.latest_sync_error,
                    "schedule": r.schedule, "next_run_ms": r.next_run_ms,
                    "last_run_ms": r.last_run_ms,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:<10} {:<40} {:<16} LAST SYNC",
        "ID", "TYPE", "URL", "USER"
    );
    for r in &registries {
        let last = match (r.latest_sync_ms, r.latest_sync_error.as_str()) {
            (0, _) => "never".to_owned(),
            (ms, "") => format!("ok at {ms}"),
            (ms, error) => format!("at {ms}: {error}"),
        };
        println!(
            "{:<20} {:<10} {:<40} {:<16} {last}",
            r.uid, r.registry_type, r.url, r.username
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn sync_command(config: &Config, args: SyncArgs) -> Result<ExitCode> {
    let store = config.open_store(&args.store)?;
    let tenant = TenantId(args.tenant);
    let connection = store
        .registry_connection(tenant, &args.uid)?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "not_found: no registry {:?} for tenant {}",
                args.uid,
                args.tenant
            )
        })?;
    let key =
        ServerKey::load_or_create(&config.data_dir).map_err(|e| crate::coded(e.code(), &e))?;
    let client = Arc::new(
        sync::connect(&connection, &key, Duration::from_secs(args.timeout.max(1)))
            .map_err(|e| crate::coded(e.code(), &e))?,
    );
    let report = sync::sync_registry(
        &store,
        tenant,
        &connection,
        &client,
        &SyncOptions {
            concurrency: args.concurrency,
        },
    )
    .map_err(|e| crate::coded(e.code(), &e))
    .with_context(|| format!("synchronising {}", args.uid))?;
    println!(
        "synced {}: {} repositories, {} tags ({} new or changed, {} removed; {} repositories removed), \
         {} manifests fetched, {} requests, {:.2}s",
        args.uid,
        report.repositories,
        report.tags,
        report.changed_tags,
        report.removed_tags,
        report.removed_repositories,
        report.manifests_fetched,
        report.requests,
        report.elapsed.as_secs_f64()
    );
    for problem in &report.problems {
        eprintln!("warning: {problem}");
    }
    if args.enqueue {
        let task_uid = format!("sync-{}-{}", args.uid, crowsnest_store::now_ms());
        match crowsnest_worker::scheduler::enqueue_unscanned(&store, &connection, &task_uid, 10)? {
            Some((task, jobs)) => println!("queued scan task {task}: {jobs} images"),
            None => println!(
                "nothing queued: every image is scanned or pending (or 10 tasks are unfinished)"
            ),
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.scan {
        return Ok(ExitCode::SUCCESS);
    }
    let db = if config.vulndb.is_file() {
        Some(
            crowsnest_vulndb::VulnDb::open(&config.vulndb)
                .map_err(|e| crate::coded(e.code().as_str(), &e))?,
        )
    } else {
        eprintln!(
            "note: no vulnerability database at {}; recording package scans without vulnerabilities",
            config.vulndb.display()
        );
        None
    };
    let build = match &db {
        Some(db) => Some(
            db.build()
                .map_err(|e| crate::coded(e.code().as_str(), &e))?,
        ),
        None => None,
    };
    let engine = concat!("crowsnest-scan ", env!("CARGO_PKG_VERSION"));
    // Every scanned digest is stored with its inventory, match and risks, as `scan --save`
    // stores one image, so a database update re-matches registry images too.
    let mut assess = |digest: &str, output: &crowsnest_scan::ScanOutput| -> ScanCounts {
        let inventory = &output.inventory;
        let findings = match &db {
            Some(db) => crowsnest_vulndb::match_inventory(db, inventory).unwrap_or_else(|e| {
                eprintln!("warning: matching {}: {e}", inventory.source.reference);
                Vec::new()
            }),
            None => Vec::new(),
        };
        let vulns = crowsnest_store::VulnCounts::of(&findings);
        let stored = store
            .save_inventory(digest, inventory, engine)
            .and_then(|()| {
                if let Some(build) = &build {
                    store.record_match(digest, build, &vulns)?;
                }
                store.save_risks(digest, &crowsnest_model::RiskKind::ALL, &output.risks)
            });
        if let Err(e) = stored {
            eprintln!("warning: storing the scan of {digest}: {e}");
        }
        // One summary gives the risk counts (what `save_risks` stored) and the level, which
        // also weighs the vulnerabilities.
        let summary = crowsnest_model::RiskSummary::derive(
            findings.iter().map(|f| f.severity),
            &output.risks,
        );
        ScanCounts {
            vul_count: vulns.total(),
            baseline_count: summary.unsafe_settings as i64,
            malicious_count: summary.malicious_files as i64,
            alarm_count: summary.alarms as i64,
            severity: summary.severity_level.as_str().to_owned(),
        }
    };
    let risk = crowsnest_risk::RiskAnalyzers::new(&crowsnest_risk::RiskOptions::all())
        .map_err(|e| crate::coded(e.code().as_str(), &e))?;
    let scanner = crowsnest_scan::Scanner::new(Limits::default()).with_risk(risk);
    let started = Instant::now();
    let outcomes = sync::scan_unscanned(
        &store,
        tenant,
        &connection,
        Arc::clone(&client),
        &scanner,
        &ScanPolicy::default(),
        &mut assess,
    )
    .map_err(|e| crate::coded(e.code(), &e))?;
    let elapsed = started.elapsed().as_secs_f64();
    let bytes: u64 = outcomes.iter().map(|o| o.bytes).sum();
    for o in &outcomes {
        match &o.failure_code {
            None => println!("scanned {}: {} packages", o.image, o.packages),
            Some(code) => println!("failed  {}: {code}", o.image),
        }
    }
    println!(
        "scanned {} images in {elapsed:.2}s ({:.2} images/s, {:.1} MiB/s pulled), {} failed",
        outcomes.len(),
        outcomes.len() as f64 / elapsed.max(0.001),
        bytes as f64 / (1 << 20) as f64 / elapsed.max(0.001),
        outcomes.iter().filter(|o| o.failure_code.is_some()).count()
    );
    Ok(ExitCode::SUCCESS)
}
