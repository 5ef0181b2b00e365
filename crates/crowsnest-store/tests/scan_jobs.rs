//! The scan job queue on both engines: a task expands into one job per distinct digest (a
//! stored inventory makes a re-match job), claims under leases with SKIP LOCKED (many threads
//! claim every job exactly once), expired leases are reclaimed and fenced, retries and final
//! failures count once, and cancel and timeout stop what is left.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod engines;

use std::collections::HashSet;
use std::sync::{Arc, Barrier, Mutex};

use engines::TestDb;

use crowsnest_model::{Inventory, SourceInfo, SourceKind};
use crowsnest_store::{
    ClaimPolicy, Field, Filter, JobEnd, JobEndRecorded, JobMode, JobState, NewImage, NewRegistry,
    NewRepository, NewScanTask, NewTag, NewTenant, Store, TaskCreation, TenantId,
};

fn digest(n: u32) -> String {
    let mut bytes = [0u8; 32];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    format!("sha256:{}", hex::encode(bytes))
}

/// A tenant with one registry and repository `ns/app` holding `images` distinct images, each
/// under two tags (`vN` and `alias-N`), so expansion must deduplicate by digest.
fn populated(store: &Store, name: &str, images: u32) -> TenantId {
    let tenant = store
        .create_tenant(&NewTenant {
            name: name.into(),
            account_id: format!("acct-{name}"),
        })
        .unwrap();
    let registry = store
        .upsert_registry(
            tenant,
            &NewRegistry {
                uid: format!("reg-{name}"),
                name: "r".into(),
                registry_type: "harbor".into(),
                region_id: "cn-hangzhou".into(),
                ..NewRegistry::default()
            },
        )
        .unwrap();
    let repo = store
        .upsert_repository(
            registry,
            &NewRepository {
                uid: format!("repo-{name}"),
                namespace: "ns".into(),
                name: "app".into(),
                ..NewRepository::default()
            },
        )
        .unwrap();
    for n in 0..images {
        let row = store
            .upsert_image(&NewImage {
                digest: digest(n).parse().unwrap(),
                config_digest: None,
                size_bytes: 1,
                created_ms: 0,
                is_multiarch: false,
            })
            .unwrap();
        for tag in [format!("v{n}"), format!("alias-{n}")] {
            store
                .put_tag(
                    repo,
                    row,
                    &NewTag {
                        tag,
                        scannable: true,
                        ..NewTag::default()
                    },
                )
                .unwrap();
        }
    }
    tenant
}

fn new_task(uid: &str) -> NewScanTask {
    NewScanTask {
        task_uid: uid.into(),
        selection: serde_json::json!({}),
        total_count: 0,
        collect_ms: 1,
    }
}

fn empty_inventory() -> Inventory {
    Inventory {
        source: SourceInfo {
            kind: SourceKind::OciArchive,
            reference: "x".into(),
            image_id: None,
            manifest_digest: None,
            tags: vec![],
            architecture: None,
            os: None,
        },
        distro: None,
        layers: vec![],
        config: None,
        packages: vec![],
        diagnostics: vec![],
    }
}

const POLICY: ClaimPolicy = ClaimPolicy {
    lease_ms: 60_000,
    max_attempts: 3,
};

/// Expansion: two tags per digest make one job each; a digest with a stored inventory is a
/// re-match job; the selection filter applies; an empty selection stores nothing.
fn tasks_expand_into_one_job_per_digest(db: &TestDb) {
    let store = db.open();
    let tenant = populated(&store, "a", 4);
    store
        .save_inventory(&digest(2), &empty_inventory(), "test")
        .unwrap();
    let created = store
        .create_scan_task_with_jobs(tenant, &new_task("t1"), &Filter::True, 10)
        .unwrap();
    assert_eq!(
        created,
        TaskCreation::Created {
            unfinished_before: 0,
            jobs: 4,
            rematch: 1
        }
    );
    let task = store.scan_task(tenant, "t1").unwrap().unwrap();
    assert_eq!((task.status.as_str(), task.total_count), ("INIT", 4));
    let jobs = store.scan_jobs(tenant, "t1").unwrap();
    let digests: HashSet<_> = jobs.iter().map(|j| j.digest.clone()).collect();
    assert_eq!(digests.len(), 4);
    for job in &jobs {
        let expect = if job.digest == digest(2) {
            JobMode::Rematch
        } else {
            JobMode::Pull
        };
        assert_eq!(job.mode, expect, "{}", job.digest);
        assert_eq!(job.state, JobState::Queued);
        assert_eq!(job.repository, "ns/app");
        // The first placement of the digest is the source.
        assert!(job.tag.starts_with('v'), "{}", job.tag);
    }
    // A selection by digest.
    let one = Filter::In(Field::Digest, vec![digest(3).into()]);
    assert!(matches!(
        store
            .create_scan_task_with_jobs(tenant, &new_task("t2"), &one, 10)
            .unwrap(),
        TaskCreation::Created { jobs: 1, .. }
    ));
    // Nothing matches: nothing stored.
    let none = Filter::In(Field::Digest, vec![digest(99).into()]);
    assert_eq!(
        store
            .create_scan_task_with_jobs(tenant, &new_task("t3"), &none, 10)
            .unwrap(),
        TaskCreation::Empty
    );
    assert!(store.scan_task(tenant, "t3").unwrap().is_none());
    // Another tenant's selection never sees this tenant's images.
    let other = populated(&store, "b", 0);
    assert_eq!(
        store
            .create_scan_task_with_jobs(other, &new_task("t4"), &Filter::True, 10)
            .unwrap(),
        TaskCreation::Empty
    );
    // The quota still holds.
    assert_eq!(
        store
            .create_scan_task_with_jobs(tenant, &new_task("t5"), &Filter::True, 2)
            .unwrap(),
        TaskCreation::QuotaFull
    );
}

/// 6 threads claim from 40 jobs at once until none is left: every job is claimed exactly once
/// (SKIP LOCKED on PostgreSQL, the write lock on SQLite), and after every job succeeds the task
/// is SUCCESS with FinishCount 40 and Progress 100.
fn concurrent_claims_take_each_job_once(db: &TestDb) {
    let store = db.open();
    let tenant = populated(&store, "a", 40);
    store
        .create_scan_task_with_jobs(tenant, &new_task("t"), &Filter::True, 10)
        .unwrap();
    let threads = 6;
    let barrier = Arc::new(Barrier::new(threads));
    let claimed = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..threads)
        .map(|n| {
            let (store, barrier, claimed) =
                (store.clone(), Arc::clone(&barrier), Arc::clone(&claimed));
            std::thread::spawn(move || {
                let owner = format!("w{n}");
                barrier.wait();
                while let Some(job) = store.claim_scan_job(&owner, &POLICY).unwrap() {
                    assert_eq!(job.attempt, 1);
                    let ended = store
                        .finish_scan_job(&job.lease(&owner), &JobEnd::Succeeded)
                        .unwrap();
                    assert!(matches!(ended, JobEndRecorded::Counted { .. }));
                    claimed.lock().unwrap().push(job.id);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut ids = claimed.lock().unwrap().clone();
    assert_eq!(ids.len(), 40);
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 40, "a job was claimed twice");
    let task = store.scan_task(tenant, "t").unwrap().unwrap();
    assert_eq!(
        (
            task.status.as_str(),
            task.result.as_str(),
            task.finish_count,
            task.progress
        ),
        ("SUCCESS", "SUCCESS", 40, 100)
    );
    assert!(task.exec_ms.is_some() && task.finished_ms.is_some());
    assert_eq!(store.unfinished_scan_tasks(tenant).unwrap(), 0);
}

/// A worker whose lease expired is fenced: another worker reclaims the job (attempt 2), the
/// first one's heartbeat and result are refused, and the job counts once. Past max_attempts an
/// expired job fails with response_timed_out.
fn expired_leases_are_reclaimed_and_fenced(db: &TestDb) {
    let store = db.open();
    let tenant = populated(&store, "a", 2);
    store
        .create_scan_task_with_jobs(tenant, &new_task("t"), &Filter::True, 10)
        .unwrap();
    let short = ClaimPolicy {
        lease_ms: 0,
        max_attempts: 2,
    };
    let first = store.claim_scan_job("dead", &short).unwrap().unwrap();
    let task = store.scan_task(tenant, "t").unwrap().unwrap();
    assert_eq!(task.status, "PROCESSING");
    std::thread::sleep(std::time::Duration::from_millis(5));
    // The expired job comes before the next queued one.
    let second = store.claim_scan_job("alive", &POLICY).unwrap().unwrap();
    assert_eq!((second.id, second.attempt), (first.id, 2));
    assert!(!store
        .heartbeat_scan_job(&first.lease("dead"), 60_000)
        .unwrap());
    assert_eq!(
        store
            .finish_scan_job(&first.lease("dead"), &JobEnd::Succeeded)
            .unwrap(),
        JobEndRecorded::LeaseLost
    );
    assert!(store
        .heartbeat_scan_job(&second.lease("alive"), 60_000)
        .unwrap());
    assert_eq!(
        store
            .finish_scan_job(&second.lease("alive"), &JobEnd::Succeeded)
            .unwrap(),
        JobEndRecorded::Counted {
            task_finished: false
        }
    );
    // The same result twice counts once.
    assert_eq!(
        store
            .finish_scan_job(&second.lease("alive"), &JobEnd::Succeeded)
            .unwrap(),
        JobEndRecorded::LeaseLost
    );
    // The other job: its lease expires twice; the third claim fails it instead.
    let a = store.claim_scan_job("x", &short).unwrap().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let b = store.claim_scan_job("y", &short).unwrap().unwrap();
    assert_eq!((a.id, b.id, b.attempt), (b.id, a.id, 2));
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert!(store.claim_scan_job("z", &short).unwrap().is_none());
    let task = store.scan_task(tenant, "t").unwrap().unwrap();
    assert_eq!(
        (
            task.status.as_str(),
            task.result.as_str(),
            task.finish_count,
            task.failed_count
        ),
        ("FAIL", "response_timed_out", 2, 1)
    );
    let jobs = store.scan_jobs(tenant, "t").unwrap();
    let states: Vec<_> = jobs.iter().map(|j| (j.state, j.attempts)).collect();
    assert_eq!(
        states,
        vec![(JobState::Succeeded, 2), (JobState::Failed, 2)]
    );
}

/// A failure with a retry time requeues the job (not claimable before then, not counted);
/// a final failure counts once and the task ends FAIL with that code.
fn retries_wait_and_final_failures_count_once(db: &TestDb) {
    let store = db.open();
    let tenant = populated(&store, "a", 1);
    store
        .create_scan_task_with_jobs(tenant, &new_task("t"), &Filter::True, 10)
        .unwrap();
    let job = store.claim_scan_job("w", &POLICY).unwrap().unwrap();
    let later = crowsnest_store::now_ms() + 300;
    let ended = store
        .finish_scan_job(
            &job.lease("w"),
            &JobEnd::Failed {
                code: "download_failed".into(),
                retry_at_ms: Some(later),
            },
        )
        .unwrap();
    assert_eq!(ended, JobEndRecorded::Requeued);
    assert!(store.claim_scan_job("w", &POLICY).unwrap().is_none());
    let task = store.scan_task(tenant, "t").unwrap().unwrap();
    assert_eq!((task.finish_count, task.status.as_str()), (0, "PROCESSING"));
    std::thread::sleep(std::time::Duration::from_millis(350));
    let again = store.claim_scan_job("w", &POLICY).unwrap().unwrap();
    assert_eq!(
        (again.id, again.attempt, again.previous_failure.as_str()),
        (job.id, 2, "download_failed")
    );
    let ended = store
        .finish_scan_job(
            &again.lease("w"),
            &JobEnd::Failed {
                code: "get_detail_info_not_found".into(),
                retry_at_ms: None,
            },
        )
        .unwrap();
    assert_eq!(
        ended,
        JobEndRecorded::Counted {
            task_finished: true
        }
    );
    let task = store.scan_task(tenant, "t").unwrap().unwrap();
    assert_eq!(
        (
            task.status.as_str(),
            task.result.as_str(),
            task.finish_count,
            task.failed_count,
            task.progress
        ),
        ("FAIL", "get_detail_info_not_found", 1, 1, 100)
    );
}

/// Cancelling stops the task's jobs (a running one loses its lease), frees the quota, and a
/// second cancel reports the task already ended; timeouts end old tasks as TIMEOUT.
fn cancel_and_timeout_stop_remaining_jobs(db: &TestDb) {
    let store = db.open();
    let tenant = populated(&store, "a", 3);
    store
        .create_scan_task_with_jobs(tenant, &new_task("t"), &Filter::True, 10)
        .unwrap();
    let running = store.claim_scan_job("w", &POLICY).unwrap().unwrap();
    assert!(store.cancel_scan_task(tenant, "t").unwrap());
    assert!(!store.cancel_scan_task(tenant, "t").unwrap());
    assert!(matches!(
        store.cancel_scan_task(tenant, "nope"),
        Err(crowsnest_store::StoreError::NotFound(_))
    ));
    assert_eq!(
        store
            .finish_scan_job(&running.lease("w"), &JobEnd::Succeeded)
            .unwrap(),
        JobEndRecorded::LeaseLost
    );
    assert!(store.claim_scan_job("w", &POLICY).unwrap().is_none());
    let task = store.scan_task(tenant, "t").unwrap().unwrap();
    assert_eq!((task.status.as_str(), task.finish_count), ("CANCELLED", 0));
    assert!(store
        .scan_jobs(tenant, "t")
        .unwrap()
        .iter()
        .all(|j| j.state == JobState::Cancelled));
    assert_eq!(store.unfinished_scan_tasks(tenant).unwrap(), 0);

    store
        .create_scan_task_with_jobs(tenant, &new_task("old"), &Filter::True, 10)
        .unwrap();
    assert_eq!(store.time_out_scan_tasks(0).unwrap(), 0);
    assert_eq!(
        store
            .time_out_scan_tasks(crowsnest_store::now_ms() + 1)
            .unwrap(),
        1
    );
    let task = store.scan_task(tenant, "old").unwrap().unwrap();
    assert_eq!(task.status, "TIMEOUT");
    assert!(store.claim_scan_job("w", &POLICY).unwrap().is_none());
}

on_both_engines!(
    tasks_expand_into_one_job_per_digest,
    concurrent_claims_take_each_job_once,
    expired_leases_are_reclaimed_and_fenced,
    retries_wait_and_final_failures_count_once,
    cancel_and_timeout_stop_remaining_jobs,
);
