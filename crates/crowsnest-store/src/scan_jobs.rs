//! The job queue behind scan tasks: one job per distinct image digest of a task's selection,
//! claimed by workers under a lease, ended exactly once.
//!
//! # The job state machine
//! ```text
//! queued ──claim──► running ──success──────────────────────► succeeded
//!   ▲                 │  │ ──failure, attempts left──► queued (not_before = now + backoff)
//!   │                 │  └─failure, no attempts left ──────► failed
//!   └─lease expired───┘  (reclaimed by any worker; past max attempts: failed, response_timed_out)
//! queued | running ──task cancelled or timed out──► cancelled
//! ```
//! A claim increments `attempts`, which is also the lease's fencing token: heartbeats and the
//! job's end only apply while `(lease_owner, attempts)` still match and the job is running, so a
//! worker that lost its lease (paused, partitioned, or slower than the lease) can neither extend
//! it nor record a result another worker will record again. The job's end and its task's
//! counters (`finish_count`, `failed_count`, `progress`, and the task's final `status` and
//! `result`) change in one transaction, so an image is counted once whatever crashes.
//!
//! # Claiming
//! PostgreSQL: `SELECT … FOR UPDATE SKIP LOCKED` picks the oldest claimable job no other
//! transaction holds, so many workers claim different jobs without waiting on each other.
//! SQLite: the write transaction is `IMMEDIATE` (one writer at a time), so the same select and
//! update cannot interleave with another claim.

use crate::filter::Filter;
use crate::sql::{Row, Tx, Value};
use crate::tasks::NewScanTask;
use crate::{now_ms, Store, StoreError, TenantId};

/// A job's state as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for a worker (possibly until `not_before_ms`, after a failure).
    Queued,
    /// Leased to a worker.
    Running,
    /// Scanned or re-matched; counted in its task's FinishCount.
    Succeeded,
    /// Failed for good with a code; counted in FinishCount and the task's failures.
    Failed,
    /// Its task was cancelled or timed out before it ended; not counted.
    Cancelled,
}

impl JobState {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Result<JobState, StoreError> {
        Ok(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            other => return Err(StoreError::Corrupt(format!("job state {other:?}"))),
        })
    }
}

/// How a job gets its inventory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobMode {
    /// Pull the image from its registry and scan it.
    Pull,
    /// The digest has a stored inventory: match it again, without pulling.
    Rematch,
}

impl JobMode {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            JobMode::Pull => "pull",
            JobMode::Rematch => "rematch",
        }
    }

    fn parse(s: &str) -> Result<JobMode, StoreError> {
        match s {
            "pull" => Ok(JobMode::Pull),
            "rematch" => Ok(JobMode::Rematch),
            other => Err(StoreError::Corrupt(format!("job mode {other:?}"))),
        }
    }
}

/// What [`Store::create_scan_task_with_jobs`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskCreation {
    /// Stored, in state INIT, with its jobs.
    Created {
        /// Unfinished tasks of the tenant before this one.
        unfinished_before: i64,
        /// Jobs created (the task's TotalCount).
        jobs: i64,
        /// How many of them re-match a stored inventory instead of pulling.
        rematch: i64,
    },
    /// The tenant already has `max_unfinished` unfinished tasks; nothing stored.
    QuotaFull,
    /// The selection covers no scannable image; nothing stored.
    Empty,
}

/// A job leased to a worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedJob {
    /// Job row id.
    pub id: i64,
    /// Its task's row id.
    pub task_id: i64,
    /// Its task's external id.
    pub task_uid: String,
    /// The task's tenant.
    pub tenant: TenantId,
    /// The image row.
    pub image_row: i64,
    /// The image digest.
    pub digest: String,
    /// The registry to pull from (uid).
    pub registry_uid: String,
    /// Repository path (`namespace/name`).
    pub repository: String,
    /// A tag pointing at the digest when the task was created.
    pub tag: String,
    /// Pull or re-match.
    pub mode: JobMode,
    /// This claim's number (1 for the first): the lease's fencing token.
    pub attempt: i64,
    /// The failure code of the previous attempt, '' if none.
    pub previous_failure: String,
}

/// The lease a worker holds on a claimed job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobLease {
    /// Job row id.
    pub job: i64,
    /// The worker's id.
    pub owner: String,
    /// The claim's attempt number.
    pub attempt: i64,
}

impl ClaimedJob {
    /// The lease `owner` holds on this job.
    pub fn lease(&self, owner: &str) -> JobLease {
        JobLease {
            job: self.id,
            owner: owner.to_owned(),
            attempt: self.attempt,
        }
    }
}

/// How claims treat jobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimPolicy {
    /// How long a lease lasts without a heartbeat, ms.
    pub lease_ms: i64,
    /// A job whose lease expired this many times (its workers died or hung on it) ends failed.
    pub max_attempts: i64,
}

/// How a job ended, as the worker reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobEnd {
    /// Scanned or re-matched.
    Succeeded,
    /// Failed with a seed failure code; retried at `retry_at_ms` when given, else final.
    Failed {
        /// The seed's `scan_failed_code`.
        code: String,
        /// When to try again (ms), or `None` to fail the job for good.
        retry_at_ms: Option<i64>,
    },
}

/// What recording a job's end did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobEndRecorded {
    /// Counted in its task; `task_finished` when it was the task's last job.
    Counted {
        /// Whether the task ended with this job.
        task_finished: bool,
    },
    /// Queued again for a later attempt.
    Requeued,
    /// The lease was no longer this worker's (expired and reclaimed, or the task was
    /// cancelled): nothing changed, and the result must be dropped.
    LeaseLost,
}

/// One job as stored, for progress pages and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanJob {
    /// Job row id.
    pub id: i64,
    /// The image digest.
    pub digest: String,
    /// Repository path.
    pub repository: String,
    /// Tag.
    pub tag: String,
    /// Pull or re-match.
    pub mode: JobMode,
    /// Its state.
    pub state: JobState,
    /// Claims so far.
    pub attempts: i64,
    /// The current or last lease holder ('' before the first claim); kept after the job ends,
    /// so a job's history says which worker finished it.
    pub lease_owner: String,
    /// The last failure code ('' if none).
    pub failure_code: String,
    /// When it started, ms.
    pub started_ms: Option<i64>,
    /// When it ended, ms.
    pub finished_ms: Option<i64>,
}

/// The failure code of a job whose lease expired `max_attempts` times: the worker holding it
/// died or stopped answering each time.
pub const LEASE_EXHAUSTED_CODE: &str = "response_timed_out";

const JOB_COLUMNS: &str = "j.id, j.task_id, t.task_uid, j.tenant_id, j.image, j.digest, \
    j.registry_uid, j.repository, j.tag, j.mode, j.attempts, j.failure_code";

impl Store {
    /// Stores a new task over the placements `selection` matches, with one job per distinct
    /// scannable image digest, if the tenant has fewer than `max_unfinished` unfinished tasks.
    /// Counting, inserting the task and expanding its jobs happen in one transaction (see
    /// [`Store::create_scan_task_within_quota`] for why the tenant row is locked first). The
    /// task's TotalCount is the number of jobs, whatever `task.total_count` says. A digest with
    /// a stored inventory gets a [`JobMode::Rematch`] job: it is not pulled again.
    pub fn create_scan_task_with_jobs(
        &self,
        tenant: TenantId,
        task: &NewScanTask,
        selection: &Filter,
        max_unfinished: i64,
    ) -> Result<TaskCreation, StoreError> {
        let mut params: Vec<Value> = vec![tenant.0.into()];
        let mut filter_sql = String::new();
        selection.to_sql(&mut filter_sql, &mut params);
        // Every table the filter may read, in the placement query's aliases; the first
        // placement (by id) of each digest is where its job pulls from.
        let select = format!(
            "SELECT i.id, i.digest, g.uid, r.namespace, r.name, t.tag, \
             CASE WHEN si.digest IS NULL THEN 0 ELSE 1 END \
             FROM image_tags t \
             JOIN repositories r ON r.id = t.repository_id \
             JOIN registries g ON g.id = r.registry_id \
             JOIN images i ON i.id = t.image \
             LEFT JOIN image_scans s ON s.image = t.image \
             LEFT JOIN stored_inventories si ON si.digest = i.digest \
             WHERE t.tenant_id = $1 AND r.tenant_id = $1 AND t.scannable = 1 AND ({filter_sql}) \
             ORDER BY t.id"
        );
        self.write(|tx| {
            let locked = tx.execute(
                "UPDATE tenants SET name = name WHERE id = $1",
                &[tenant.0.into()],
            )?;
            if locked == 0 {
                return Err(StoreError::NotFound("tenant"));
            }
            let unfinished = tx
                .query_one(
                    "SELECT COUNT(*) FROM scan_tasks WHERE tenant_id = $1 AND status IN ('INIT', 'PROCESSING')",
                    &[tenant.0.into()],
                )?
                .int(0)?;
            if unfinished >= max_unfinished {
                return Ok(TaskCreation::QuotaFull);
            }
            let mut seen = std::collections::HashSet::new();
            let mut jobs = Vec::new();
            for row in tx.query(&select, &params)? {
                let digest = row.text(1)?;
                if seen.insert(digest.clone()) {
                    jobs.push((row, digest));
                }
            }
            if jobs.is_empty() {
                return Ok(TaskCreation::Empty);
            }
            let now = now_ms();
            let total = i64::try_from(jobs.len()).unwrap_or(i64::MAX);
            let task_id = tx
                .query_one(
                    "INSERT INTO scan_tasks (tenant_id, task_uid, status, total_count, selection, \
                     collect_ms, created_ms) VALUES ($1, $2, 'INIT', $3, $4, $5, $6) RETURNING id",
                    &[
                        tenant.0.into(),
                        task.task_uid.as_str().into(),
                        total.into(),
                        task.selection.to_string().into(),
                        task.collect_ms.into(),
                        now.into(),
                    ],
                )?
                .int(0)?;
            let mut rematch = 0;
            for (row, digest) in jobs {
                let (namespace, name) = (row.text(3)?, row.text(4)?);
                let repository = if namespace.is_empty() {
                    name
                } else {
                    format!("{namespace}/{name}")
                };
                let mode = if row.bool(6)? {
                    rematch += 1;
                    JobMode::Rematch
                } else {
                    JobMode::Pull
                };
                tx.execute(
                    "INSERT INTO scan_jobs (task_id, tenant_id, image, digest, registry_uid, \
                     repository, tag, mode, state, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9)",
                    &[
                        task_id.into(),
                        tenant.0.into(),
                        row.int(0)?.into(),
                        digest.into(),
                        row.text(2)?.into(),
                        repository.into(),
                        row.text(5)?.into(),
                        mode.as_str().into(),
                        now.into(),
                    ],
                )?;
            }
            Ok(TaskCreation::Created {
                unfinished_before: unfinished,
                jobs: total,
                rematch,
            })
        })
    }

    /// Leases the oldest claimable job to `owner`: a queued job whose backoff has passed, or a
    /// running job whose lease expired (its worker died or hung). An expired job that already
    /// had `policy.max_attempts` claims is failed with [`LEASE_EXHAUSTED_CODE`] instead, in
    /// the same transaction, and the search goes on. `None` when nothing is claimable.
    pub fn claim_scan_job(
        &self,
        owner: &str,
        policy: &ClaimPolicy,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        let postgres = self.engine() == crate::EngineKind::Postgres;
        // SKIP LOCKED: jobs another worker is claiming right now are passed over, not waited
        // for. (SQLite has no row locks; its IMMEDIATE transaction already excludes others.)
        let lock = if postgres {
            " FOR UPDATE OF j SKIP LOCKED"
        } else {
            ""
        };
        let queued = format!(
            "SELECT {JOB_COLUMNS} FROM scan_jobs j JOIN scan_tasks t ON t.id = j.task_id \
             WHERE j.state = 'queued' AND j.not_before_ms <= $1 ORDER BY j.id LIMIT 1{lock}"
        );
        let expired = format!(
            "SELECT {JOB_COLUMNS} FROM scan_jobs j JOIN scan_tasks t ON t.id = j.task_id \
             WHERE j.state = 'running' AND j.lease_expires_ms < $1 ORDER BY j.id LIMIT 1{lock}"
        );
        // Idle workers poll; a read first keeps an empty queue from taking the write lock
        // (SQLite's one writer) every poll.
        let waiting = self.read(|tx| {
            tx.query_opt(
                "SELECT id FROM scan_jobs WHERE (state = 'queued' AND not_before_ms <= $1) \
                 OR (state = 'running' AND lease_expires_ms < $1) LIMIT 1",
                &[now_ms().into()],
            )
        })?;
        if waiting.is_none() {
            return Ok(None);
        }
        self.write(|tx| loop {
            let now = now_ms();
            let row = match tx.query_opt(&expired, &[now.into()])? {
                Some(row) => row,
                None => match tx.query_opt(&queued, &[now.into()])? {
                    Some(row) => row,
                    None => return Ok(None),
                },
            };
            let mut job = claimed_from(&row)?;
            if job.attempt >= policy.max_attempts {
                let code = LEASE_EXHAUSTED_CODE;
                end_job(tx, job.id, job.task_id, JobState::Failed, code, now)?;
                tracing::warn!(job = job.id, digest = %job.digest, code, "scan job's lease expired too often");
                continue;
            }
            job.attempt += 1;
            tx.execute(
                "UPDATE scan_jobs SET state = 'running', attempts = $2, lease_owner = $3, \
                 lease_expires_ms = $4, heartbeat_ms = $5, started_ms = COALESCE(started_ms, $5) \
                 WHERE id = $1",
                &[
                    job.id.into(),
                    job.attempt.into(),
                    owner.into(),
                    now.saturating_add(policy.lease_ms).into(),
                    now.into(),
                ],
            )?;
            tx.execute(
                "UPDATE scan_tasks SET status = 'PROCESSING', exec_ms = COALESCE(exec_ms, $2) \
                 WHERE id = $1 AND status = 'INIT'",
                &[job.task_id.into(), now.into()],
            )?;
            return Ok(Some(job));
        })
    }

    /// Extends `lease` by `lease_ms` from now. False when the lease is no longer held (it
    /// expired and another worker claimed the job, or the task was cancelled): the worker
    /// should stop the job and drop its result.
    pub fn heartbeat_scan_job(&self, lease: &JobLease, lease_ms: i64) -> Result<bool, StoreError> {
        self.write(|tx| {
            let now = now_ms();
            let changed = tx.execute(
                "UPDATE scan_jobs SET lease_expires_ms = $4, heartbeat_ms = $5 \
                 WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND state = 'running'",
                &[
                    lease.job.into(),
                    lease.owner.as_str().into(),
                    lease.attempt.into(),
                    now.saturating_add(lease_ms).into(),
                    now.into(),
                ],
            )?;
            Ok(changed == 1)
        })
    }

    /// Records how the job under `lease` ended, and its task's counters with it, in one
    /// transaction. Nothing changes when the lease is no longer held.
    pub fn finish_scan_job(
        &self,
        lease: &JobLease,
        end: &JobEnd,
    ) -> Result<JobEndRecorded, StoreError> {
        self.write(|tx| {
            let held = tx.query_opt(
                "SELECT task_id FROM scan_jobs \
                 WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND state = 'running'",
                &[
                    lease.job.into(),
                    lease.owner.as_str().into(),
                    lease.attempt.into(),
                ],
            )?;
            let Some(held) = held else {
                return Ok(JobEndRecorded::LeaseLost);
            };
            let task_id = held.int(0)?;
            let now = now_ms();
            match end {
                JobEnd::Failed {
                    code,
                    retry_at_ms: Some(at),
                } => {
                    tx.execute(
                        "UPDATE scan_jobs SET state = 'queued', \
                         lease_expires_ms = 0, not_before_ms = $2, failure_code = $3 WHERE id = $1",
                        &[lease.job.into(), (*at).into(), code.as_str().into()],
                    )?;
                    Ok(JobEndRecorded::Requeued)
                }
                JobEnd::Failed {
                    code,
                    retry_at_ms: None,
                } => {
                    let task_finished =
                        end_job(tx, lease.job, task_id, JobState::Failed, code, now)?;
                    Ok(JobEndRecorded::Counted { task_finished })
                }
                JobEnd::Succeeded => {
                    let task_finished =
                        end_job(tx, lease.job, task_id, JobState::Succeeded, "", now)?;
                    Ok(JobEndRecorded::Counted { task_finished })
                }
            }
        })
    }

    /// Cancels `tenant`'s task `task_uid`: the task ends CANCELLED and its queued and running
    /// jobs are cancelled (a worker still running one loses its lease and drops the result).
    /// `Ok(false)` when the task exists but has already ended; `NotFound` when it does not.
    pub fn cancel_scan_task(&self, tenant: TenantId, task_uid: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            let Some(task) = tx.query_opt(
                "SELECT id, status FROM scan_tasks WHERE tenant_id = $1 AND task_uid = $2",
                &[tenant.0.into(), task_uid.into()],
            )?
            else {
                return Err(StoreError::NotFound("scan task"));
            };
            let (id, status) = (task.int(0)?, task.text(1)?);
            if status != "INIT" && status != "PROCESSING" {
                return Ok(false);
            }
            stop_task(tx, id, "CANCELLED", "CANCELLED", "", now_ms())?;
            Ok(true)
        })
    }

    /// Ends every unfinished task created before `created_before_ms` as TIMEOUT, cancelling
    /// its remaining jobs (their failure code is [`LEASE_EXHAUSTED_CODE`]). Returns how many
    /// tasks timed out.
    pub fn time_out_scan_tasks(&self, created_before_ms: i64) -> Result<u64, StoreError> {
        self.write(|tx| {
            let ids = tx.query(
                "SELECT id FROM scan_tasks WHERE status IN ('INIT', 'PROCESSING') AND created_ms < $1",
                &[created_before_ms.into()],
            )?;
            let now = now_ms();
            for row in &ids {
                stop_task(
                    tx,
                    row.int(0)?,
                    "TIMEOUT",
                    "TIMEOUT",
                    LEASE_EXHAUSTED_CODE,
                    now,
                )?;
            }
            Ok(ids.len() as u64)
        })
    }

    /// The jobs of `tenant`'s task `task_uid`, in creation order.
    pub fn scan_jobs(&self, tenant: TenantId, task_uid: &str) -> Result<Vec<ScanJob>, StoreError> {
        self.read(|tx| {
            tx.query(
                "SELECT j.id, j.digest, j.repository, j.tag, j.mode, j.state, j.attempts, \
                 j.lease_owner, j.failure_code, j.started_ms, j.finished_ms \
                 FROM scan_jobs j JOIN scan_tasks t ON t.id = j.task_id \
                 WHERE t.tenant_id = $1 AND t.task_uid = $2 ORDER BY j.id",
                &[tenant.0.into(), task_uid.into()],
            )?
            .iter()
            .map(|r| {
                Ok(ScanJob {
                    id: r.int(0)?,
                    digest: r.text(1)?,
                    repository: r.text(2)?,
                    tag: r.text(3)?,
                    mode: JobMode::parse(&r.text(4)?)?,
                    state: JobState::parse(&r.text(5)?)?,
                    attempts: r.int(6)?,
                    lease_owner: r.text(7)?,
                    failure_code: r.text(8)?,
                    started_ms: r.opt_int(9)?,
                    finished_ms: r.opt_int(10)?,
                })
            })
            .collect()
        })
    }
}

fn claimed_from(row: &Row) -> Result<ClaimedJob, StoreError> {
    Ok(ClaimedJob {
        id: row.int(0)?,
        task_id: row.int(1)?,
        task_uid: row.text(2)?,
        tenant: TenantId(row.int(3)?),
        image_row: row.int(4)?,
        digest: row.text(5)?,
        registry_uid: row.text(6)?,
        repository: row.text(7)?,
        tag: row.text(8)?,
        mode: JobMode::parse(&row.text(9)?)?,
        attempt: row.int(10)?,
        previous_failure: row.text(11)?,
    })
}

/// Ends job `job` (succeeded or failed) and counts it in task `task_id`; when it was the
/// task's last job, the task ends SUCCESS (no failures) or FAIL with the first failure's
/// code as its Result. Returns whether the task ended. A task no longer running (cancelled,
/// timed out) is not counted into.
fn end_job(
    tx: &mut Tx<'_>,
    job: i64,
    task_id: i64,
    state: JobState,
    code: &str,
    now: i64,
) -> Result<bool, StoreError> {
    tx.execute(
        "UPDATE scan_jobs SET state = $2, failure_code = $3, finished_ms = $4, \
         lease_expires_ms = 0 WHERE id = $1",
        &[job.into(), state.as_str().into(), code.into(), now.into()],
    )?;
    let failed = i64::from(state == JobState::Failed);
    let counted = tx.execute(
        "UPDATE scan_tasks SET finish_count = finish_count + 1, failed_count = failed_count + $2, \
         progress = ((finish_count + 1) * 100) / CASE WHEN total_count > 0 THEN total_count ELSE 1 END \
         WHERE id = $1 AND status IN ('INIT', 'PROCESSING')",
        &[task_id.into(), failed.into()],
    )?;
    if counted == 0 {
        return Ok(false);
    }
    let task = tx.query_one(
        "SELECT finish_count, total_count, failed_count FROM scan_tasks WHERE id = $1",
        &[task_id.into()],
    )?;
    let (finished, total, failures) = (task.int(0)?, task.int(1)?, task.int(2)?);
    if finished < total {
        return Ok(false);
    }
    let (status, result) = if failures == 0 {
        ("SUCCESS", "SUCCESS".to_owned())
    } else {
        let first = tx
            .query_opt(
                "SELECT failure_code FROM scan_jobs WHERE task_id = $1 AND state = 'failed' \
                 ORDER BY finished_ms, id LIMIT 1",
                &[task_id.into()],
            )?
            .map(|r| r.text(0))
            .transpose()?
            .unwrap_or_default();
        ("FAIL", first)
    };
    tx.execute(
        "UPDATE scan_tasks SET status = $2, result = $3, finished_ms = $4, progress = 100 WHERE id = $1",
        &[task_id.into(), status.into(), result.into(), now.into()],
    )?;
    Ok(true)
}

/// Ends task `task_id` as `status` with `result`, cancelling its unfinished jobs.
fn stop_task(
    tx: &mut Tx<'_>,
    task_id: i64,
    status: &str,
    result: &str,
    job_code: &str,
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE scan_tasks SET status = $2, result = $3, finished_ms = $4 WHERE id = $1",
        &[task_id.into(), status.into(), result.into(), now.into()],
    )?;
    tx.execute(
        "UPDATE scan_jobs SET state = 'cancelled', lease_expires_ms = 0, \
         failure_code = CASE WHEN $3 = '' THEN failure_code ELSE $3 END, finished_ms = $2 \
         WHERE task_id = $1 AND state IN ('queued', 'running')",
        &[task_id.into(), now.into(), job_code.into()],
    )?;
    Ok(())
}
