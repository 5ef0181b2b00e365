//! The agent's loop: register once (the enrolment key buys the agent a key of its own, kept
//! in the state directory), then every report interval discover what the runtimes hold, scan
//! digests not yet delivered, and queue a report; flush the queue whenever the server
//! answers; heartbeat on its own interval so the server can tell a quiet agent from a dead
//! one.
//!
//! State directory: `credentials.json` (the agent's id and key, mode 0600), `delivered.json`
//! (digests whose inventory the server accepted: not scanned or sent again), `host-id` (when
//! the host has no `/etc/machine-id`) and `queue/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crowsnest_scan::Scanner;
use serde::Serialize;

use crate::client::{Key, ServerClient};
use crate::queue::{Queue, QueueLimits};
use crate::report::{
    Credentials, Heartbeat, Host, Registration, Report, ReportAccepted, ScanFailure, ScanResult,
};
use crate::runtime::Runtime;
use crate::{apps, AgentError};

/// How long to wait before retrying an unreachable server.
const RETRY: Duration = Duration::from_secs(1);

/// The host as reported; detected unless configured.
#[derive(Clone, Debug, Default)]
pub struct HostIdentity {
    /// Host id ('' detects: `/etc/machine-id`, else a UUID kept in the state directory).
    pub uid: String,
    /// Host name ('' detects: the kernel's host name).
    pub name: String,
    /// Private IPv4 ('' detects: the local address that routes to the server).
    pub private_ip: String,
    /// Public IPv4 ('' when none).
    pub public_ip: String,
}

/// How the agent runs.
pub struct AgentOptions {
    /// The server's base URL.
    pub server: String,
    /// The enrolment key (used only when the state directory holds no credentials yet).
    pub enrol_key: Option<Key>,
    /// Where credentials, delivered digests and the queue live.
    pub state_dir: PathBuf,
    /// The runtimes to read.
    pub runtimes: Vec<Box<dyn Runtime>>,
    /// Time between reports.
    pub report_interval: Duration,
    /// Time between heartbeats.
    pub heartbeat_interval: Duration,
    /// Bounds of the queue.
    pub queue: QueueLimits,
    /// The host's identity (empty fields are detected).
    pub host: HostIdentity,
    /// Stop after making this many reports and delivering them (None: run until stopped).
    pub max_reports: Option<u64>,
    /// Timeout of one request.
    pub request_timeout: Duration,
}

/// What a run did.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct RunStats {
    /// The agent's id.
    pub agent_id: String,
    /// Reports made (queued).
    pub reports_made: u64,
    /// Reports the server accepted as new.
    pub reports_accepted: u64,
    /// Reports the server had already applied (resends after a lost answer).
    pub reports_duplicate: u64,
    /// Reports the server rejected as malformed (dropped).
    pub reports_rejected: u64,
    /// Reports dropped because the queue was full.
    pub reports_dropped: u64,
    /// Heartbeats the server accepted.
    pub heartbeats: u64,
    /// Times the server could not be reached.
    pub unreachable: u64,
    /// Images scanned.
    pub images_scanned: u64,
}

/// A running agent.
pub struct Agent {
    options: AgentOptions,
    client: ServerClient,
    key: Key,
    queue: Queue,
    scanner: Scanner,
    host: Host,
    scanned: BTreeMap<String, Result<ScanResult, ScanFailure>>,
    delivered: BTreeSet<String>,
    stats: RunStats,
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AgentError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| AgentError::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| AgentError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| AgentError::io(path, e))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn detect_host(
    given: &HostIdentity,
    state_dir: &Path,
    client: &ServerClient,
) -> Result<Host, AgentError> {
    let uid = if !given.uid.is_empty() {
        given.uid.clone()
    } else if let Some(id) = std::fs::read_to_string("/etc/machine-id")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
    {
        id
    } else {
        let path = state_dir.join("host-id");
        match std::fs::read_to_string(&path) {
            Ok(s) if !s.trim().is_empty() => s.trim().to_owned(),
            _ => {
                let id = uuid::Uuid::new_v4().to_string();
                write_private(&path, id.as_bytes())?;
                id
            }
        }
    };
    let name = if given.name.is_empty() {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    } else {
        given.name.clone()
    };
    let private_ip = if given.private_ip.is_empty() {
        // Connecting a UDP socket sends nothing; it only asks the kernel for the route.
        client
            .host_port()
            .and_then(|hp| {
                let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
                socket.connect(hp).ok()?;
                socket.local_addr().ok()
            })
            .filter(|a| a.is_ipv4())
            .map(|a| a.ip().to_string())
            .unwrap_or_default()
    } else {
        given.private_ip.clone()
    };
    Ok(Host {
        uid,
        name,
        private_ip,
        public_ip: given.public_ip.clone(),
        os_type: "linux".into(),
    })
}

impl Agent {
    /// Opens the state directory and, the first time, registers with the enrolment key.
    pub fn start(options: AgentOptions) -> Result<Agent, AgentError> {
        let dir = &options.state_dir;
        std::fs::create_dir_all(dir).map_err(|e| AgentError::io(dir, e))?;
        let client = ServerClient::new(&options.server, options.request_timeout)?;
        let host = detect_host(&options.host, dir, &client)?;
        let creds_path = dir.join("credentials.json");
        let creds: Credentials = match std::fs::read(&creds_path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| AgentError::Config(format!("{}: {e}", creds_path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let enrol = options.enrol_key.as_ref().ok_or_else(|| {
                    AgentError::Config(
                        "not registered yet: pass --key with an enrolment key".into(),
                    )
                })?;
                let body = serde_json::to_vec(&Registration {
                    host_uid: host.uid.clone(),
                    host_name: host.name.clone(),
                })
                .map_err(|e| AgentError::Config(e.to_string()))?;
                let answer = client.post(enrol, "/api/v1/agents", &body)?;
                let creds: Credentials = serde_json::from_slice(&answer.body)
                    .map_err(|e| AgentError::Rejected(format!("registration answer: {e}")))?;
                let text = serde_json::to_vec_pretty(&creds)
                    .map_err(|e| AgentError::Config(e.to_string()))?;
                write_private(&creds_path, &text)?;
                tracing::info!(agent_id = %creds.agent_id, "registered");
                creds
            }
            Err(e) => return Err(AgentError::io(&creds_path, e)),
        };
        let delivered = std::fs::read(dir.join("delivered.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let queue = Queue::open(&dir.join("queue"), options.queue)?;
        Ok(Agent {
            key: Key {
                id: creds.access_key_id,
                secret: creds.access_key_secret,
            },
            stats: RunStats {
                agent_id: creds.agent_id,
                ..RunStats::default()
            },
            client,
            queue,
            scanner: Scanner::new(crowsnest_image::Limits::default()),
            host,
            scanned: BTreeMap::new(),
            delivered,
            options,
        })
    }

    /// What the run did so far.
    pub fn stats(&self) -> RunStats {
        RunStats {
            reports_dropped: self.queue.dropped(),
            ..self.stats.clone()
        }
    }

    /// The host as reported.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Discovers every runtime's images, containers and pods, scans digests not delivered
    /// yet, and builds a report. A runtime that fails is logged and left out of this report.
    pub fn collect(&mut self) -> Report {
        let mut report = Report {
            report_id: uuid::Uuid::new_v4().to_string(),
            created_ms: now_ms(),
            host: self.host.clone(),
            images: Vec::new(),
            containers: Vec::new(),
            pods: Vec::new(),
            scans: Vec::new(),
            scan_failures: Vec::new(),
        };
        for runtime in &self.options.runtimes {
            let found = match runtime.discover() {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(runtime = runtime.name(), code = e.code(), error = %e, "discovery failed");
                    continue;
                }
            };
            for image in &found.images {
                if self.delivered.contains(&image.digest)
                    || self.scanned.contains_key(&image.digest)
                {
                    continue;
                }
                let started = Instant::now();
                let outcome = match runtime.scan(image, &self.scanner) {
                    Ok(inventory) => Ok(ScanResult {
                        digest: image.digest.clone(),
                        component_count: inventory.packages.len() as i64,
                        apps: apps::detect(&inventory),
                        inventory,
                    }),
                    Err(e) => Err(ScanFailure {
                        digest: image.digest.clone(),
                        code: e.code().to_owned(),
                        message: e.to_string(),
                    }),
                };
                tracing::info!(digest = %image.digest, ok = outcome.is_ok(), ms = started.elapsed().as_millis() as u64, "scanned");
                self.stats.images_scanned += 1;
                self.scanned.insert(image.digest.clone(), outcome);
            }
            report.images.extend(found.images);
            report.containers.extend(found.containers);
            report.pods.extend(found.pods);
        }
        for (digest, outcome) in &self.scanned {
            if self.delivered.contains(digest) {
                continue;
            }
            match outcome {
                Ok(scan) => report.scans.push(scan.clone()),
                Err(failure) => report.scan_failures.push(failure.clone()),
            }
        }
        report
    }

    /// Builds a report and queues it.
    pub fn enqueue_report(&mut self) -> Result<(), AgentError> {
        let report = self.collect();
        let body = serde_json::to_vec(&report).map_err(|e| AgentError::Config(e.to_string()))?;
        self.queue.push(&body)?;
        self.stats.reports_made += 1;
        Ok(())
    }

    /// Reports waiting.
    pub fn queued(&self) -> Result<usize, AgentError> {
        self.queue.len()
    }

    /// Sends queued reports, oldest first, until the queue is empty or the server stops
    /// answering ([`AgentError::Unreachable`]) or refuses the agent ([`AgentError::Refused`]).
    /// A report the server rejects as malformed is dropped (resending it cannot help).
    pub fn flush(&mut self) -> Result<(), AgentError> {
        for queued in self.queue.list()? {
            let body = self.queue.read(&queued)?;
            match self.client.post(&self.key, "/api/v1/agents/reports", &body) {
                Ok(answer) => {
                    let accepted: ReportAccepted = serde_json::from_slice(&answer.body)
                        .map_err(|e| AgentError::Rejected(format!("report answer: {e}")))?;
                    if accepted.duplicate {
                        self.stats.reports_duplicate += 1;
                    } else {
                        self.stats.reports_accepted += 1;
                    }
                    self.mark_delivered(&body)?;
                    self.queue.remove(&queued)?;
                }
                Err(AgentError::Rejected(why)) => {
                    tracing::error!(seq = queued.seq, %why, "report rejected; dropped");
                    self.stats.reports_rejected += 1;
                    self.queue.remove(&queued)?;
                }
                Err(e) => {
                    if matches!(e, AgentError::Unreachable(_)) {
                        self.stats.unreachable += 1;
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Remembers the digests whose inventory (or failure) a delivered report carried.
    fn mark_delivered(&mut self, body: &[u8]) -> Result<(), AgentError> {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| AgentError::Config(format!("queued report: {e}")))?;
        let mut changed = false;
        for list in ["scans", "scan_failures"] {
            for item in value[list].as_array().into_iter().flatten() {
                if let Some(d) = item["digest"].as_str() {
                    changed |= self.delivered.insert(d.to_owned());
                    self.scanned.remove(d);
                }
            }
        }
        if changed {
            let text = serde_json::to_vec(&self.delivered)
                .map_err(|e| AgentError::Config(e.to_string()))?;
            write_private(&self.options.state_dir.join("delivered.json"), &text)?;
        }
        Ok(())
    }

    /// Sends one heartbeat.
    pub fn heartbeat(&mut self) -> Result<(), AgentError> {
        let body = serde_json::to_vec(&Heartbeat {
            sent_ms: now_ms(),
            queued: self.queue.len()?,
        })
        .map_err(|e| AgentError::Config(e.to_string()))?;
        match self
            .client
            .post(&self.key, "/api/v1/agents/heartbeat", &body)
        {
            Ok(_) => {
                self.stats.heartbeats += 1;
                Ok(())
            }
            Err(e) => {
                if matches!(e, AgentError::Unreachable(_)) {
                    self.stats.unreachable += 1;
                }
                Err(e)
            }
        }
    }

    /// Runs until `stop` is set, the server refuses the agent, or (with `max_reports`) every
    /// report was made and delivered.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<RunStats, AgentError> {
        let mut next_report = Instant::now();
        let mut next_heartbeat = Instant::now();
        let mut next_flush = Instant::now();
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(self.stats());
            }
            let all_made = self
                .options
                .max_reports
                .is_some_and(|max| self.stats.reports_made >= max);
            if all_made && self.queue.is_empty()? {
                return Ok(self.stats());
            }
            let now = Instant::now();
            if !all_made && now >= next_report {
                if let Err(e) = self.enqueue_report() {
                    tracing::error!(code = e.code(), error = %e, "could not queue a report");
                }
                next_report = now + self.options.report_interval;
                next_flush = now;
            }
            if now >= next_flush {
                match self.flush() {
                    Ok(()) => next_flush = now + self.options.report_interval,
                    Err(AgentError::Refused(why)) => return Err(AgentError::Refused(why)),
                    Err(e) => {
                        tracing::warn!(code = e.code(), error = %e, "reports wait in the queue");
                        next_flush = now + RETRY;
                    }
                }
            }
            if now >= next_heartbeat {
                match self.heartbeat() {
                    Ok(()) => {}
                    Err(AgentError::Refused(why)) => return Err(AgentError::Refused(why)),
                    Err(e) => tracing::warn!(code = e.code(), error = %e, "heartbeat failed"),
                }
                next_heartbeat = now + self.options.heartbeat_interval;
            }
            let wake = next_report.min(next_heartbeat).min(next_flush);
            let nap = wake
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(20), Duration::from_millis(500));
            std::thread::sleep(nap);
        }
    }
}
