//! Scan workers: the engine that turns a scan task's jobs into scans.
//!
//! A [`Worker`] loops: claim the oldest claimable job from the store
//! ([`Store::claim_scan_job`], a lease), run it on a thread of its own while the worker
//! thread renews the lease every [`WorkerOptions::heartbeat`], and record how it ended
//! ([`Store::finish_scan_job`], which counts it in its task in the same transaction). The
//! store is the only coordination: workers in one process ([`WorkerPool`], what `crowsnest
//! serve` starts) and in other processes on other machines (`crowsnest worker --database
//! postgres://…`) claim from the same table, and a worker that dies simply stops renewing its
//! lease, after which another worker claims the job again.
//!
//! # A job
//! Each target digest of the job (the image itself, or each child of a multi-arch index) is
//! either re-matched, when the store holds its inventory from this scan engine (nothing is
//! pulled), or pulled from its registry through [`crowsnest_registry`] and scanned, its
//! inventory stored for later re-matches. The inventory is matched against the vulnerability
//! database (opened per job, so a `crowsnest db update` is seen by the next job), and the
//! image's latest scan records the counts; the task's counters move when the job ends.
//!
//! # Failures
//! A failure is a code from the seed's `scan_failed_code` vocabulary (`download_failed`,
//! `get_detail_info_not_found`, `authentication_failed`, `image_over_sized`, …,
//! `response_timed_out` for a job over [`WorkerOptions::job_timeout`], `database_error` when the
//! store failed mid-job). A job is retried after an exponential backoff until it has had
//! [`WorkerOptions::max_attempts`] claims; codes that cannot change on a retry (an oversized
//! image, a schema 1 manifest, a registry Crowsnest has no connection to) fail at once. The
//! final failure is recorded on the image's latest scan and counted in the task.
//!
//! # Scheduled syncs
//! [`scheduler::Scheduler`] (a thread of `crowsnest serve`) syncs registries whose cron
//! schedule is due, each run claimed once across servers, and queues a scan task for the
//! digests the sync found unscanned; workers run it like any other task.
//!
//! # Why a thread per job
//! The scan engine is synchronous and has no cancellation point; running it on its own thread
//! lets the worker keep the lease alive, notice a cancelled task or a lost lease, and give up on
//! a job past its timeout. A job given up on keeps running to its end on its thread; what it
//! writes then is the same idempotent inventory and scan record a retry would write, and its
//! result is never counted (the lease is gone).

pub mod alerts;
pub mod scheduler;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crowsnest_image::source::{Platform, SourceOptions};
use crowsnest_image::Limits;
use crowsnest_model::{Inventory, RiskKind};
use crowsnest_registry::sync::{self, ScanPolicy};
use crowsnest_registry::{ImageReference, ServerKey};
use crowsnest_store::{
    ClaimPolicy, ClaimedJob, JobEnd, JobEndRecorded, ScanRecord, Store, StoreError, VulnCounts,
};

/// The scan engine version recorded with stored inventories; an inventory from another
/// version is pulled and scanned again rather than re-matched. The same text `crowsnest scan
/// --save` records.
pub const ENGINE_VERSION: &str = concat!("crowsnest-scan ", env!("CARGO_PKG_VERSION"));

/// Failure codes a retry cannot change.
const PERMANENT_CODES: &[&str] = &[
    "image_over_sized",
    "image_layer_over_sized",
    "schema_v1_not_support",
    NO_CONNECTION_CODE,
];

/// The code of a job whose registry Crowsnest has no connection to (a registry known only from
/// a cloud seed, or removed since the task was created).
const NO_CONNECTION_CODE: &str = "access_swr_failed";

/// The seed's `scan_failed_code` values; anything else a lower layer reports becomes
/// `unknown_error` on the image.
const SEED_CODES: &[&str] = &[
    "unknown_error",
    "authentication_failed",
    "download_failed",
    "image_over_sized",
    "get_detail_info_not_found",
    "image_layer_over_sized",
    "schema_v1_not_support",
    "access_swr_failed",
    "swr_authentication_error",
    "failed_to_scan_vulnerability",
    "failed_to_scan_file",
    "failed_to_scan_software",
    "response_timed_out",
    "database_error",
];

/// Why a worker could not go on (a store failure while claiming or recording).
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The store failed; the job's lease will expire and the job will be claimed again.
    #[error("database_error: {0}")]
    Store(#[from] StoreError),
}

impl WorkerError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            WorkerError::Store(_) => "database_error",
        }
    }
}

/// Timings and limits of a worker. Every interval is configurable so tests run in seconds.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// How long a claim lasts without a heartbeat. Default 60 s.
    pub lease: Duration,
    /// How often a running job's lease is renewed. Default 10 s (well inside the lease).
    pub heartbeat: Duration,
    /// How long an idle worker waits before looking for work again. Default 2 s.
    pub poll: Duration,
    /// A job running longer than this fails with `response_timed_out`. Default 30 min.
    pub job_timeout: Duration,
    /// Claims a job gets before its failure is final. Default 3.
    pub max_attempts: i64,
    /// Wait before the first retry; doubled for each later one. Default 5 s.
    pub backoff: Duration,
    /// Longest wait before a retry. Default 5 min.
    pub max_backoff: Duration,
    /// A task unfinished this long after its creation ends TIMEOUT. Default 24 h.
    pub task_timeout: Duration,
    /// Timeout of each registry request. Default 60 s.
    pub registry_timeout: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            lease: Duration::from_secs(60),
            heartbeat: Duration::from_secs(10),
            poll: Duration::from_secs(2),
            job_timeout: Duration::from_secs(30 * 60),
            max_attempts: 3,
            backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(300),
            task_timeout: Duration::from_secs(24 * 3600),
            registry_timeout: Duration::from_secs(60),
        }
    }
}

impl WorkerOptions {
    /// The wait before the retry that follows claim number `attempt` (1-based).
    pub fn backoff_after(&self, attempt: i64) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
        self.backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff)
    }
}

/// Where to announce finished tasks: an HTTP POST of the task as JSON, signed with
/// HMAC-SHA256 over the body (`X-Crowsnest-Signature: sha256=HEX`), as GitHub signs webhooks.
#[derive(Clone, Debug)]
pub struct Webhook {
    /// `http://` or `https://` URL.
    pub url: String,
    /// The shared secret the receiver checks the signature with.
    pub secret: String,
}

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Crowsnest-Signature";

/// The event of a finished scan task.
pub const TASK_FINISHED_EVENT: &str = "scan_task.finished";

impl Webhook {
    /// `sha256=HEX` of HMAC-SHA256(secret, body).
    pub fn signature(&self, body: &[u8]) -> String {
        use hmac::Mac;
        // HMAC accepts keys of every length (longer ones are hashed), so this cannot fail.
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.secret.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    /// Posts `body` as event `event` (the `X-Crowsnest-Event` header), trying up to three
    /// times (1 s, then 2 s apart). Delivery is best effort: whoever detected the event sends
    /// it once; a failure is logged.
    pub fn deliver(&self, event: &str, body: &[u8]) {
        let client = match reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "webhook client");
                return;
            }
        };
        for attempt in 0..3u32 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_secs(1 << (attempt - 1)));
            }
            let sent = client
                .post(&self.url)
                .header("content-type", "application/json")
                .header("X-Crowsnest-Event", event)
                .header(SIGNATURE_HEADER, self.signature(body))
                .body(body.to_vec())
                .send();
            match sent {
                Ok(resp) if resp.status().is_success() => return,
                Ok(resp) => tracing::warn!(status = %resp.status(), "webhook refused"),
                Err(e) => tracing::warn!(error = %e, "webhook failed"),
            }
        }
    }
}

/// What every worker of a process shares.
pub struct WorkerContext {
    /// The store holding the jobs.
    pub store: Store,
    /// The key that opens registry credentials (the data directory's `registry.key`).
    pub key: ServerKey,
    /// The vulnerability database, if any; without one, jobs record package scans with no
    /// vulnerabilities.
    pub vulndb: Option<PathBuf>,
    /// The scan engine.
    pub scanner: crowsnest_scan::Scanner,
    /// The risk analyzers `scanner` runs (none by default), recorded with each stored
    /// inventory so a re-match knows which analyzers its risk counts come from.
    pub risk_kinds: Vec<RiskKind>,
    /// Registry scan limits.
    pub policy: ScanPolicy,
    /// Where finished tasks are announced, if anywhere.
    pub webhook: Option<Webhook>,
    /// Timings.
    pub options: WorkerOptions,
}

impl WorkerContext {
    /// A context with the default scanner, limits and `options`.
    pub fn new(
        store: Store,
        key: ServerKey,
        vulndb: Option<PathBuf>,
        options: WorkerOptions,
    ) -> Self {
        WorkerContext {
            store,
            key,
            vulndb,
            scanner: crowsnest_scan::Scanner::new(Limits::default()),
            risk_kinds: Vec::new(),
            policy: ScanPolicy::default(),
            webhook: None,
            options,
        }
    }

    fn claim_policy(&self) -> ClaimPolicy {
        ClaimPolicy {
            lease_ms: millis(self.options.lease),
            max_attempts: self.options.max_attempts.max(1),
        }
    }
}

/// How one job went, as this worker saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobReport {
    /// The job.
    pub job: i64,
    /// Its task.
    pub task_uid: String,
    /// The image digest.
    pub digest: String,
    /// The claim's attempt number.
    pub attempt: i64,
    /// Digests pulled and scanned.
    pub pulled: usize,
    /// Digests re-matched from their stored inventory.
    pub rematched: usize,
    /// The failure code, `None` on success.
    pub failure: Option<String>,
    /// What the store recorded.
    pub recorded: JobEndRecorded,
}

/// One worker: claims and runs jobs one at a time.
pub struct Worker {
    ctx: Arc<WorkerContext>,
    id: String,
}

impl Worker {
    /// A worker named `id` (the lease owner the store records; unique per worker).
    pub fn new(ctx: Arc<WorkerContext>, id: impl Into<String>) -> Worker {
        Worker { ctx, id: id.into() }
    }

    /// The worker's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Claims one job and runs it to its end. `Ok(None)` when no job was claimable.
    pub fn run_once(&self) -> Result<Option<JobReport>, WorkerError> {
        let ctx = &self.ctx;
        let Some(job) = ctx.store.claim_scan_job(&self.id, &ctx.claim_policy())? else {
            return Ok(None);
        };
        let lease = job.lease(&self.id);
        tracing::info!(worker = %self.id, job = job.id, digest = %job.digest, attempt = job.attempt, "scan job claimed");
        let (tx, rx) = mpsc::channel();
        {
            let ctx = Arc::clone(ctx);
            let job = job.clone();
            std::thread::Builder::new()
                .name(format!("scan-job-{}", job.id))
                .spawn(move || {
                    // The receiver may be gone (timed out, lease lost): nobody waits any more.
                    let _ = tx.send(run_job(&ctx, &job));
                })
                .map_err(|e| StoreError::Corrupt(format!("spawning a job thread: {e}")))?;
        }
        let started = Instant::now();
        let heartbeat = ctx.options.heartbeat.max(Duration::from_millis(10));
        let outcome = loop {
            match rx.recv_timeout(heartbeat) {
                Ok(outcome) => break Some(outcome),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    break Some(Err(Failure::code("unknown_error")))
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if started.elapsed() >= ctx.options.job_timeout {
                tracing::warn!(job = job.id, digest = %job.digest, "scan job timed out");
                break Some(Err(Failure::code("response_timed_out")));
            }
            match ctx
                .store
                .heartbeat_scan_job(&lease, millis(ctx.options.lease))
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(
                        job = job.id,
                        "scan job lease lost (task cancelled or job reclaimed); dropping it"
                    );
                    break None;
                }
                // The store may be back before the lease ends; if not, the job is reclaimed.
                Err(e) => tracing::warn!(job = job.id, error = %e, "scan job heartbeat failed"),
            }
        };
        let Some(outcome) = outcome else {
            return Ok(Some(JobReport {
                job: job.id,
                task_uid: job.task_uid,
                digest: job.digest,
                attempt: job.attempt,
                pulled: 0,
                rematched: 0,
                failure: None,
                recorded: JobEndRecorded::LeaseLost,
            }));
        };
        let (pulled, rematched, failure) = match &outcome {
            Ok(done) => (done.pulled, done.rematched, None),
            Err(f) => (0, 0, Some(f.code.to_owned())),
        };
        let end = match &failure {
            None => JobEnd::Succeeded,
            Some(code) => {
                let retry = job.attempt < ctx.options.max_attempts
                    && !PERMANENT_CODES.contains(&code.as_str());
                let retry_at_ms = retry.then(|| {
                    crowsnest_store::now_ms()
                        .saturating_add(millis(ctx.options.backoff_after(job.attempt)))
                });
                if retry_at_ms.is_none() {
                    // The image's latest scan says why, for ListRegistryImages' scan_failed_code.
                    let now = crowsnest_store::now_ms();
                    ctx.store
                        .record_scan(job.image_row, &failed_scan(code, now))?;
                }
                JobEnd::Failed {
                    code: code.clone(),
                    retry_at_ms,
                }
            }
        };
        let recorded = ctx.store.finish_scan_job(&lease, &end)?;
        if recorded
            == (JobEndRecorded::Counted {
                task_finished: true,
            })
        {
            announce(ctx, &job);
        }
        tracing::info!(worker = %self.id, job = job.id, digest = %job.digest, ?failure, ?recorded, "scan job ended");
        Ok(Some(JobReport {
            job: job.id,
            task_uid: job.task_uid,
            digest: job.digest,
            attempt: job.attempt,
            pulled,
            rematched,
            failure,
            recorded,
        }))
    }

    /// Runs jobs until `stop` is set (checked between jobs and while idle). Store failures are
    /// logged and retried after the poll interval: a database that went away is waited for.
    /// Also ends tasks older than [`WorkerOptions::task_timeout`] while idle.
    pub fn run(&self, stop: &AtomicBool) {
        let poll = self.ctx.options.poll.max(Duration::from_millis(10));
        while !stop.load(Ordering::SeqCst) {
            match self.run_once() {
                Ok(Some(_)) => continue,
                Ok(None) => {
                    let cutoff = crowsnest_store::now_ms()
                        .saturating_sub(millis(self.ctx.options.task_timeout));
                    if let Err(e) = self.ctx.store.time_out_scan_tasks(cutoff) {
                        tracing::warn!(worker = %self.id, error = %e, "timing out old scan tasks failed");
                    }
                }
                Err(e) => {
                    tracing::warn!(worker = %self.id, error = %e, "scan worker: store unavailable, retrying");
                }
            }
            sleep_unless(stop, poll);
        }
    }
}

/// Posts the finished task to the webhook, if one is configured.
fn announce(ctx: &WorkerContext, job: &ClaimedJob) {
    let Some(hook) = &ctx.webhook else {
        return;
    };
    let task = match ctx.store.scan_task(job.tenant, &job.task_uid) {
        Ok(Some(task)) => task,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "reading a finished task for its webhook");
            return;
        }
    };
    let body = serde_json::json!({
        "Event": TASK_FINISHED_EVENT,
        "TaskId": task.task_uid,
        "Status": task.status,
        "Result": task.result,
        "TotalCount": task.total_count,
        "FinishCount": task.finish_count,
        "FailedCount": task.failed_count,
        "Progress": task.progress,
        "CollectTime": task.collect_ms,
        "ExecTime": task.exec_ms,
        "FinishTime": task.finished_ms,
    })
    .to_string();
    hook.deliver(TASK_FINISHED_EVENT, body.as_bytes());
}

/// Sleeps for `d`, waking early when `stop` is set.
fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::SeqCst) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// Workers running on threads of this process (what `crowsnest serve` starts).
pub struct WorkerPool {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl WorkerPool {
    /// Starts `count` workers named `{prefix}-{n}`.
    pub fn spawn(
        ctx: Arc<WorkerContext>,
        count: usize,
        prefix: &str,
    ) -> std::io::Result<WorkerPool> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::with_capacity(count);
        for n in 0..count {
            let worker = Worker::new(Arc::clone(&ctx), format!("{prefix}-{n}"));
            let stop = Arc::clone(&stop);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("scan-worker-{n}"))
                    .spawn(move || worker.run(&stop))?,
            );
        }
        Ok(WorkerPool { stop, threads })
    }

    /// How many workers run.
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    /// Whether the pool has no workers.
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// Asks every worker to stop after its current job and waits for them.
    pub fn shutdown(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// A default worker id: host name and process id, so leases say who holds them.
pub fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    format!("{host}-{}", std::process::id())
}

/// A job's failure.
#[derive(Debug)]
struct Failure {
    code: &'static str,
}

impl Failure {
    fn code(code: &'static str) -> Failure {
        Failure { code }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        tracing::warn!(error = %e, "store failed during a scan job");
        Failure::code("database_error")
    }
}

/// What a successful job did.
struct Done {
    pulled: usize,
    rematched: usize,
}

/// Maps a lower layer's code onto the seed vocabulary.
fn seed_code(code: &'static str) -> &'static str {
    if SEED_CODES.contains(&code) {
        code
    } else {
        "unknown_error"
    }
}

fn run_job(ctx: &WorkerContext, job: &ClaimedJob) -> Result<Done, Failure> {
    let store = &ctx.store;
    let children = store.image_children(&[job.image_row])?;
    let targets: Vec<(i64, String, String)> = if children.is_empty() {
        vec![(job.image_row, job.digest.clone(), String::new())]
    } else {
        children
            .iter()
            .map(|c| (c.image_row, c.digest.clone(), c.platform.clone()))
            .collect()
    };
    let db = match &ctx.vulndb {
        Some(path) if path.is_file() => {
            Some(crowsnest_vulndb::VulnDb::open(path).map_err(|e| {
                tracing::warn!(error = %e, "opening the vulnerability database");
                Failure::code("failed_to_scan_vulnerability")
            })?)
        }
        _ => None,
    };
    let build = db
        .as_ref()
        .map(|db| db.build())
        .transpose()
        .map_err(|_| Failure::code("failed_to_scan_vulnerability"))?;
    let mut client = None;
    let mut done = Done {
        pulled: 0,
        rematched: 0,
    };
    let started = crowsnest_store::now_ms();
    let mut total = VulnCounts::default();
    for (row, digest, platform) in &targets {
        let stored = store
            .stored_inventory(digest)?
            .filter(|s| s.engine_version == ENGINE_VERSION);
        let inventory = match stored {
            Some(stored) => {
                done.rematched += 1;
                stored.inventory
            }
            None => {
                if client.is_none() {
                    client = Some(connect(ctx, job)?);
                }
                let (client, host) = client
                    .as_ref()
                    .ok_or(Failure::code("unknown_error"))?
                    .clone();
                let reference =
                    ImageReference::parse(&format!("{host}/{}@{digest}", job.repository)).map_err(
                        |e| {
                            tracing::warn!(error = %e, "scan job reference");
                            Failure::code(seed_code(e.code()))
                        },
                    )?;
                let options = SourceOptions {
                    platform: Platform::parse(platform).unwrap_or_default(),
                };
                let (output, _bytes) =
                    sync::scan_one(client, &reference, &ctx.scanner, &ctx.policy, &options)
                        .map_err(|code| Failure::code(seed_code(code)))?;
                store.save_inventory(digest, &output.inventory, ENGINE_VERSION)?;
                store.save_risks(digest, &ctx.risk_kinds, &output.risks)?;
                done.pulled += 1;
                output.inventory
            }
        };
        let findings = assess(db.as_ref(), &inventory)?;
        let counts = VulnCounts::of(&findings);
        let now = crowsnest_store::now_ms();
        // The risk counts are the stored inventory's, whether scanned now or before; the
        // match below makes the level the worse of the vulnerabilities' and the risks'.
        let risks = store
            .stored_risks(digest)?
            .map(|r| r.summary)
            .unwrap_or_default();
        let mut record = succeeded_scan(&counts, started, now);
        record.baseline_count = i64::try_from(risks.unsafe_settings).unwrap_or(i64::MAX);
        record.malicious_count = i64::try_from(risks.malicious_files).unwrap_or(i64::MAX);
        record.alarm_count = i64::try_from(risks.alarms).unwrap_or(i64::MAX);
        store.record_scan(*row, &record)?;
        if let Some(build) = &build {
            store.record_match(digest, build, &counts)?;
            // Only a real match says which critical findings the image has now.
            if let Some(new) = alerts::record_criticals(store, digest, &findings)? {
                if let Some(hook) = &ctx.webhook {
                    hook.deliver(alerts::NEW_CRITICALS_EVENT, new.body().as_bytes());
                }
            }
        }
        add(&mut total, &counts);
    }
    if targets.len() > 1 || targets.first().is_some_and(|t| t.0 != job.image_row) {
        let now = crowsnest_store::now_ms();
        store.record_scan(job.image_row, &succeeded_scan(&total, started, now))?;
    }
    Ok(done)
}

/// A registry client for the job's registry, with the host part references use.
fn connect(
    ctx: &WorkerContext,
    job: &ClaimedJob,
) -> Result<(Arc<crowsnest_registry::RegistryClient>, String), Failure> {
    let Some(connection) = ctx
        .store
        .registry_connection(job.tenant, &job.registry_uid)?
    else {
        tracing::warn!(registry = %job.registry_uid, "scan job: no connection to the registry");
        return Err(Failure::code(NO_CONNECTION_CODE));
    };
    let client =
        sync::connect(&connection, &ctx.key, ctx.options.registry_timeout).map_err(|e| {
            tracing::warn!(registry = %job.registry_uid, error = %e, "scan job: connecting");
            Failure::code(seed_code(e.code()))
        })?;
    let host = connection
        .url
        .split_once("://")
        .map_or(connection.url.as_str(), |(_, h)| h)
        .trim_end_matches('/')
        .to_owned();
    Ok((Arc::new(client), host))
}

fn assess(
    db: Option<&crowsnest_vulndb::VulnDb>,
    inventory: &Inventory,
) -> Result<Vec<crowsnest_model::Finding>, Failure> {
    let Some(db) = db else {
        return Ok(Vec::new());
    };
    crowsnest_vulndb::match_inventory(db, inventory).map_err(|e| {
        tracing::warn!(error = %e, "matching a scan job's inventory");
        Failure::code("failed_to_scan_vulnerability")
    })
}

fn add(total: &mut VulnCounts, c: &VulnCounts) {
    total.critical += c.critical;
    total.high += c.high;
    total.medium += c.medium;
    total.low += c.low;
    total.unknown += c.unknown;
}

fn succeeded_scan(counts: &VulnCounts, started: i64, now: i64) -> ScanRecord {
    ScanRecord {
        vul_count: counts.total(),
        severity: counts.level().to_owned(),
        ..ScanRecord::succeeded(started, now)
    }
}

fn failed_scan(code: &str, now: i64) -> ScanRecord {
    // A job that failed never got far enough to report progress.
    ScanRecord {
        progress: 0,
        ..ScanRecord::failed(code, now)
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let o = WorkerOptions {
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            ..WorkerOptions::default()
        };
        assert_eq!(o.backoff_after(1), Duration::from_millis(100));
        assert_eq!(o.backoff_after(2), Duration::from_millis(200));
        assert_eq!(o.backoff_after(3), Duration::from_millis(350));
        assert_eq!(o.backoff_after(99), Duration::from_millis(350));
    }

    #[test]
    fn codes_outside_the_seed_become_unknown_error() {
        assert_eq!(seed_code("download_failed"), "download_failed");
        assert_eq!(seed_code("credentials_unreadable"), "unknown_error");
        assert_eq!(seed_code("invalid_response"), "unknown_error");
    }
}
