//! `crowsnest agent`: runs the host agent (crowsnest-agent) against a server until SIGINT or
//! SIGTERM, or, with `--max-reports`, until that many reports were made and delivered. The
//! run's counters are printed as JSON on stdout at the end.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use crowsnest_agent::client::Key;
use crowsnest_agent::queue::QueueLimits;
use crowsnest_agent::runtime::containerd::Containerd;
use crowsnest_agent::runtime::docker::DockerEngine;
use crowsnest_agent::runtime::storage::ContainersStorage;
use crowsnest_agent::runtime::Runtime;
use crowsnest_agent::{Agent, AgentOptions, HostIdentity};

/// `crowsnest agent`.
#[derive(Args, Debug)]
pub struct AgentArgs {
    /// The Crowsnest server's base URL (`http://host:8080`).
    #[arg(long, env = "CROWSNEST_SERVER", value_name = "URL")]
    pub server: String,
    /// The enrolment key `ACCESS_KEY_ID:SECRET` (a key allowed `crowsnest:RegisterAgent`);
    /// needed only for the first start: the agent then keeps a key of its own in the state
    /// directory.
    #[arg(long, env = "CROWSNEST_AGENT_KEY", value_name = "ID:SECRET")]
    pub key: Option<String>,
    /// Where the agent keeps its key, delivered digests and the report queue.
    #[arg(long, default_value = "/var/lib/crowsnest-agent", value_name = "DIR")]
    pub state_dir: PathBuf,
    /// containerd's root directory (read when it holds a metadata database).
    #[arg(long, default_value = "/var/lib/containerd", value_name = "DIR")]
    pub containerd_root: PathBuf,
    /// containerd's state directory, where task bundles tell whether a container runs.
    #[arg(long, default_value = "/run/containerd", value_name = "DIR")]
    pub containerd_state: PathBuf,
    /// Podman/CRI-O containers/storage root (read when it holds an image index).
    #[arg(
        long,
        default_value = "/var/lib/containers/storage",
        value_name = "DIR"
    )]
    pub storage_root: PathBuf,
    /// The Docker Engine API socket (used when it exists).
    #[arg(long, default_value = "/var/run/docker.sock", value_name = "SOCKET")]
    pub docker_socket: PathBuf,
    /// Seconds between reports.
    #[arg(long, default_value_t = 300)]
    pub report_interval_secs: u64,
    /// Seconds between heartbeats.
    #[arg(long, default_value_t = 30)]
    pub heartbeat_interval_secs: u64,
    /// Most reports the queue keeps while the server is unreachable (oldest dropped first).
    #[arg(long, default_value_t = 100)]
    pub queue_max_reports: usize,
    /// The host id to report. Default: /etc/machine-id.
    #[arg(long, value_name = "ID")]
    pub host_id: Option<String>,
    /// The host name to report. Default: the kernel's host name.
    #[arg(long, value_name = "NAME")]
    pub host_name: Option<String>,
    /// The host's public IPv4 address, if it has one.
    #[arg(long, value_name = "IP")]
    pub public_ip: Option<String>,
    /// Stop once this many reports were made and delivered (default: run until stopped).
    #[arg(long, value_name = "N")]
    pub max_reports: Option<u64>,
}

/// Runs the agent.
pub fn run(args: AgentArgs) -> Result<ExitCode> {
    let enrol_key = args
        .key
        .as_deref()
        .map(Key::parse)
        .transpose()
        .map_err(|e| crate::coded(e.code(), &e))?;
    let mut runtimes: Vec<Box<dyn Runtime>> = Vec::new();
    if Containerd::present(&args.containerd_root) {
        runtimes.push(Box::new(
            Containerd::new(&args.containerd_root).with_state_dir(&args.containerd_state),
        ));
    }
    if let Some(storage) = ContainersStorage::open(&args.storage_root) {
        runtimes.push(Box::new(storage));
    }
    if args.docker_socket.exists() {
        runtimes.push(Box::new(DockerEngine::new(&args.docker_socket)));
    }
    let names: Vec<&str> = runtimes.iter().map(|r| r.name()).collect();
    eprintln!(
        "crowsnest agent: runtimes {names:?}, server {}",
        args.server
    );
    let mut agent = Agent::start(AgentOptions {
        server: args.server,
        enrol_key,
        state_dir: args.state_dir,
        runtimes,
        report_interval: Duration::from_secs(args.report_interval_secs.max(1)),
        heartbeat_interval: Duration::from_secs(args.heartbeat_interval_secs.max(1)),
        queue: QueueLimits {
            max_reports: args.queue_max_reports.max(1),
            ..QueueLimits::default()
        },
        host: HostIdentity {
            uid: args.host_id.unwrap_or_default(),
            name: args.host_name.unwrap_or_default(),
            private_ip: String::new(),
            public_ip: args.public_ip.unwrap_or_default(),
        },
        max_reports: args.max_reports,
        request_timeout: Duration::from_secs(60),
    })
    .map_err(|e| crate::coded(e.code(), &e))?;
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(&stop);
    let outcome = agent.run(&stop);
    println!("{}", serde_json::to_string(&agent.stats())?);
    outcome.map_err(|e| crate::coded(e.code(), &e))?;
    Ok(ExitCode::SUCCESS)
}

/// Sets `stop` on SIGINT or SIGTERM, from a thread that waits for them as `serve` does (the
/// workspace denies unsafe code, so no raw signal handler is installed).
fn stop_on_signals(stop: &Arc<AtomicBool>) {
    let stop = Arc::clone(stop);
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(crate::server::stop_signal());
        stop.store(true, Ordering::Relaxed);
    });
}
