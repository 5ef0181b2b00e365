//! Scan tasks on both engines: the unfinished-task quota holds exactly when many threads create
//! tasks for one tenant at once, and one tenant's quota does not block another's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod engines;

use std::sync::{Arc, Barrier};

use engines::TestDb;

use crowsnest_store::{NewScanTask, NewTenant, Store, StoreError, TenantId};

fn tenant(store: &Store, name: &str) -> TenantId {
    store
        .create_tenant(&NewTenant {
            name: name.into(),
            account_id: format!("acct-{name}"),
        })
        .unwrap()
}

fn task(uid: String) -> NewScanTask {
    NewScanTask {
        task_uid: uid,
        selection: serde_json::json!({"digests": []}),
        total_count: 1,
        collect_ms: 0,
    }
}

const LIMIT: i64 = 10;

/// 4 threads x 8 creates per tenant, two tenants, all released at once: exactly LIMIT land for
/// each tenant, and the counts returned to the winners are 0..LIMIT, each once.
fn concurrent_creates_respect_the_quota_exactly(db: &TestDb) {
    let store = db.open();
    let tenants = [tenant(&store, "a"), tenant(&store, "b")];
    let threads_per_tenant = 4;
    let barrier = Arc::new(Barrier::new(threads_per_tenant * tenants.len()));
    let handles: Vec<_> = tenants
        .iter()
        .flat_map(|&t| (0..threads_per_tenant).map(move |n| (t, n)))
        .map(|(t, n)| {
            let store = store.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let mut won = Vec::new();
                for i in 0..8 {
                    let uid = format!("t{}-{n}-{i}", t.0);
                    if let Some(before) = store
                        .create_scan_task_within_quota(t, &task(uid), LIMIT)
                        .unwrap()
                    {
                        won.push(before);
                    }
                }
                (t, won)
            })
        })
        .collect();
    let mut before_counts = std::collections::BTreeMap::<i64, Vec<i64>>::new();
    for h in handles {
        let (t, won) = h.join().unwrap();
        before_counts.entry(t.0).or_default().extend(won);
    }
    for t in tenants {
        assert_eq!(store.unfinished_scan_tasks(t).unwrap(), LIMIT);
        let mut seen = before_counts.remove(&t.0).unwrap();
        seen.sort_unstable();
        assert_eq!(seen, (0..LIMIT).collect::<Vec<_>>());
    }
    // Full: one more is refused and nothing is stored.
    assert_eq!(
        store
            .create_scan_task_within_quota(tenants[0], &task("late".into()), LIMIT)
            .unwrap(),
        None
    );
    assert!(store.scan_task(tenants[0], "late").unwrap().is_none());
    // An unknown tenant is an error, not a silent insert.
    assert!(matches!(
        store.create_scan_task_within_quota(TenantId(999_999), &task("x".into()), LIMIT),
        Err(StoreError::NotFound("tenant"))
    ));
}

on_both_engines!(concurrent_creates_respect_the_quota_exactly);
