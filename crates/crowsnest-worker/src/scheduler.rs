//! Scheduled registry syncs: the loop `crowsnest serve` runs beside its workers.
//!
//! Every [`SchedulerOptions::tick`] the scheduler asks the store for registries whose
//! `next_run_ms` has passed ([`Store::due_registry_runs`]). For each it computes the run after
//! now from the registry's cron expression and claims the due run with a conditional update
//! ([`Store::claim_registry_run`]: `next_run_ms` moves only if it still holds the value read).
//! Several servers on one PostgreSQL read the same due run; exactly one update changes the row,
//! and only that server syncs. The run then syncs the registry (incremental, as `registry
//! sync`) and queues one scan task over the registry's digests that have no scan and no job
//! pending ([`Store::registry_images_to_schedule`]); the workers, in this process or others,
//! run it. The task's id is `sched-{registry}-{due time}`, unique per run, so even a run
//! claimed twice (it cannot be) would store one task.
//!
//! Runs missed while no server ran are not made up: the next run is the first one after now.
//! A sync runs on the scheduler's thread, so a slow registry delays the others' runs by its
//! sync time, never makes them run twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crowsnest_registry::schedule::Schedule;
use crowsnest_registry::sync::{self, SyncOptions};
use crowsnest_registry::ServerKey;
use crowsnest_store::{Field, Filter, NewScanTask, RegistryConnection, Store, TaskCreation, Value};

use crate::WorkerError;

/// How the scheduler runs.
#[derive(Clone, Debug)]
pub struct SchedulerOptions {
    /// How often due runs are looked for. Default 1 s (the finest a schedule can ask for).
    pub tick: Duration,
    /// Timeout of each registry request of a scheduled sync. Default 30 s.
    pub registry_timeout: Duration,
    /// Repositories a scheduled sync walks at once. Default 4.
    pub sync_concurrency: usize,
    /// A tenant with this many unfinished tasks gets no new scheduled task (its new digests
    /// wait for the next run). Default 10, the API's quota.
    pub max_unfinished_tasks: i64,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            tick: Duration::from_secs(1),
            registry_timeout: Duration::from_secs(30),
            sync_concurrency: 4,
            max_unfinished_tasks: 10,
        }
    }
}

/// What one scheduled run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledRun {
    /// The registry's uid.
    pub registry: String,
    /// The run's due time, ms (what was claimed).
    pub due_ms: i64,
    /// The run after it, ms (0: the schedule never runs again or is invalid).
    pub next_ms: i64,
    /// The sync's failure (`code: message`), `None` when it succeeded.
    pub sync_error: Option<String>,
    /// Tags the sync found new or changed.
    pub changed_tags: usize,
    /// The scan task queued, with its job count; `None` when nothing needed a scan (or the
    /// tenant's task quota was full).
    pub task: Option<(String, i64)>,
}

/// The scheduled-sync loop.
pub struct Scheduler {
    store: Store,
    key: Arc<ServerKey>,
    options: SchedulerOptions,
}

impl Scheduler {
    /// A scheduler over `store`, opening registry credentials with `key`.
    pub fn new(store: Store, key: Arc<ServerKey>, options: SchedulerOptions) -> Scheduler {
        Scheduler {
            store,
            key,
            options,
        }
    }

    /// Runs every run due at `now_ms` that this call claims. Runs another server claimed
    /// first are skipped (not in the result).
    pub fn tick(&self, now_ms: i64) -> Result<Vec<ScheduledRun>, WorkerError> {
        let mut runs = Vec::new();
        for registry in self.store.due_registry_runs(now_ms)? {
            let (next_ms, valid) = match Schedule::parse(&registry.schedule) {
                Ok(schedule) => (schedule.next_after(now_ms).unwrap_or(0), true),
                Err(e) => {
                    // Stored before validation tightened, or edited by hand: stop scheduling
                    // it rather than fail every tick.
                    tracing::warn!(registry = %registry.uid, error = %e, "invalid schedule; disabling it");
                    (0, false)
                }
            };
            let due_ms = registry.next_run_ms;
            if !self
                .store
                .claim_registry_run(registry.id, due_ms, next_ms, now_ms)?
            {
                tracing::debug!(registry = %registry.uid, due_ms, "scheduled run claimed elsewhere");
                continue;
            }
            tracing::info!(registry = %registry.uid, due_ms, next_ms, "scheduled run claimed");
            if !valid {
                continue;
            }
            runs.push(self.run(&registry, due_ms, next_ms)?);
        }
        Ok(runs)
    }

    /// Syncs `registry` and queues a task for what needs a scan.
    fn run(
        &self,
        registry: &RegistryConnection,
        due_ms: i64,
        next_ms: i64,
    ) -> Result<ScheduledRun, WorkerError> {
        let mut run = ScheduledRun {
            registry: registry.uid.clone(),
            due_ms,
            next_ms,
            sync_error: None,
            changed_tags: 0,
            task: None,
        };
        let synced =
            sync::connect(registry, &self.key, self.options.registry_timeout).and_then(|client| {
                sync::sync_registry(
                    &self.store,
                    registry.tenant,
                    registry,
                    &client,
                    &SyncOptions {
                        concurrency: self.options.sync_concurrency.max(1),
                    },
                )
            });
        match synced {
            Ok(report) => run.changed_tags = report.changed_tags,
            Err(crowsnest_registry::RegistryError::Store(e)) => return Err(e.into()),
            Err(e) => {
                // The sync recorded its failure on the registry (latest_sync_error); images
                // synced before still get their task.
                tracing::warn!(registry = %registry.uid, error = %e, "scheduled sync failed");
                run.sync_error = Some(e.to_string());
            }
        }
        run.task = enqueue_unscanned(
            &self.store,
            registry,
            &format!("sched-{}-{due_ms}", registry.uid),
            self.options.max_unfinished_tasks,
        )?;
        Ok(run)
    }

    /// Ticks until `stop` is set. Store failures are logged and the next tick tries again.
    pub fn run_until(&self, stop: &AtomicBool) {
        let tick = self.options.tick.max(Duration::from_millis(10));
        while !stop.load(Ordering::SeqCst) {
            if let Err(e) = self.tick(crowsnest_store::now_ms()) {
                tracing::warn!(error = %e, "scheduler: store unavailable, retrying");
            }
            crate::sleep_unless(stop, tick);
        }
    }

    /// Runs the loop on a thread of its own until [`SchedulerHandle::shutdown`].
    pub fn spawn(self) -> std::io::Result<SchedulerHandle> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("registry-scheduler".into())
            .spawn(move || self.run_until(&flag))?;
        Ok(SchedulerHandle { stop, thread })
    }
}

/// A scheduler running on its thread.
pub struct SchedulerHandle {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl SchedulerHandle {
    /// Stops the loop after the run in progress and waits for it.
    pub fn shutdown(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
    }
}

/// Queues scan task `task_uid` over `registry`'s images that have no scan and no pending job
/// (what a scheduled run and `crowsnest registry sync --enqueue` do after a sync). Returns the
/// task id and its job count; `None` when nothing needs a scan or the tenant already has
/// `max_unfinished` unfinished tasks (logged: the digests wait for the next run).
pub fn enqueue_unscanned(
    store: &Store,
    registry: &RegistryConnection,
    task_uid: &str,
    max_unfinished: i64,
) -> Result<Option<(String, i64)>, crowsnest_store::StoreError> {
    let digests = store.registry_images_to_schedule(registry.tenant, registry.id)?;
    if digests.is_empty() {
        tracing::info!(registry = %registry.uid, "nothing new to scan");
        return Ok(None);
    }
    let selection = Filter::All(vec![
        Filter::Eq(Field::RegistryUid, Value::Text(registry.uid.clone())),
        Filter::In(
            Field::Digest,
            digests.iter().map(|d| Value::Text(d.clone())).collect(),
        ),
    ]);
    let created = store.create_scan_task_with_jobs(
        registry.tenant,
        &NewScanTask {
            task_uid: task_uid.to_owned(),
            selection: serde_json::json!({
                "Source": "registry",
                "RegistryId": registry.uid,
                "Schedule": registry.schedule,
                "Digests": digests,
            }),
            total_count: 0,
            collect_ms: crowsnest_store::now_ms(),
        },
        &selection,
        max_unfinished,
    )?;
    Ok(match created {
        TaskCreation::Created { jobs, .. } => {
            tracing::info!(registry = %registry.uid, task = %task_uid, jobs, "scan task queued");
            Some((task_uid.to_owned(), jobs))
        }
        TaskCreation::QuotaFull => {
            tracing::warn!(registry = %registry.uid, "the tenant's unfinished-task quota is full; new digests wait");
            None
        }
        TaskCreation::Empty => None,
    })
}
