//! The console's overview aggregates and the paged task list on both engines, checked against
//! the placements the list query returns for the same tenant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod engines;

use engines::TestDb;

use crowsnest_store::{Filter, NewScanTask, PlacementOrder, PlacementQuery, SeedPlan};

fn overview_agrees_with_the_placements(db: &TestDb) {
    let store = db.open();
    let seeded = store
        .seed(&SeedPlan {
            tenants: 2,
            images: 600,
            registries_per_tenant: 2,
            repos_per_registry: 10,
            scanned_percent: 80,
        })
        .unwrap();
    let tenant = seeded.tenants[0];
    let rows = store
        .placements(
            tenant,
            &PlacementQuery {
                filter: Filter::True,
                order: PlacementOrder::Id,
                offset: 0,
                limit: 1000,
            },
        )
        .unwrap()
        .rows
        .clone();
    assert_eq!(rows.len(), 300);
    let o = store.overview(tenant, 5, 0).unwrap();

    let states: i64 = o.by_state.iter().map(|(_, n)| n).sum();
    assert_eq!(states, 300);
    let succeeded: Vec<_> = rows
        .iter()
        .filter_map(|r| {
            r.scan
                .as_ref()
                .filter(|s| s.state == "succeeded")
                .map(|s| (r, s))
        })
        .collect();
    let state_of = |name: &str| {
        o.by_state
            .iter()
            .find(|(s, _)| s == name)
            .map_or(0, |(_, n)| *n)
    };
    assert_eq!(state_of("succeeded"), succeeded.len() as i64);
    assert_eq!(
        state_of("unscanned"),
        rows.iter().filter(|r| r.scan.is_none()).count() as i64
    );
    for level in ["Security", "Low", "Medium", "High", ""] {
        let expected = succeeded
            .iter()
            .filter(|(_, s)| s.severity == level)
            .count() as i64;
        let got = o
            .by_severity
            .iter()
            .find(|(s, _)| s == level)
            .map_or(0, |(_, n)| *n);
        assert_eq!(got, expected, "severity {level:?}");
    }
    // The five most vulnerable, most first, all of this tenant.
    assert_eq!(o.top_vulnerable.len(), 5);
    let mut counts: Vec<i64> = succeeded.iter().map(|(_, s)| s.vul_count).collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let top: Vec<i64> = o.top_vulnerable.iter().map(|p| p.vul_count).collect();
    assert_eq!(top, counts[..5]);
    for p in &o.top_vulnerable {
        assert!(
            rows.iter().any(|r| r.uuid == p.uuid),
            "{} is not the tenant's",
            p.uuid
        );
    }
    // Every succeeded scan's vulnerabilities fall on the day it finished.
    let total: i64 = o.trend.iter().map(|d| d.vulnerabilities).sum();
    assert_eq!(
        total,
        succeeded.iter().map(|(_, s)| s.vul_count).sum::<i64>()
    );
    let scans: i64 = o.trend.iter().map(|d| d.scans).sum();
    assert_eq!(scans, succeeded.len() as i64);
    for d in &o.trend {
        let on_day = succeeded
            .iter()
            .filter(|(_, s)| s.finished_ms.unwrap_or(0).div_euclid(86_400_000) == d.day)
            .count() as i64;
        assert_eq!(d.scans, on_day, "day {}", d.day);
    }
    // Nothing after the last scan.
    let late = store.overview(tenant, 5, i64::MAX / 2).unwrap();
    assert!(late.trend.is_empty());
    // A tenant without images has an empty overview.
    let empty = store
        .create_tenant(&crowsnest_store::NewTenant {
            name: "empty".into(),
            account_id: "empty-1".into(),
        })
        .unwrap();
    let none = store.overview(empty, 5, 0).unwrap();
    assert!(none.by_state.is_empty() && none.top_vulnerable.is_empty() && none.trend.is_empty());
}

fn tasks_page_newest_first_per_tenant(db: &TestDb) {
    let store = db.open();
    let seeded = store
        .seed(&SeedPlan {
            tenants: 2,
            images: 10,
            registries_per_tenant: 1,
            repos_per_registry: 2,
            scanned_percent: 0,
        })
        .unwrap();
    let t = seeded.tenants[0];
    for n in 0..3 {
        store
            .create_scan_task(
                t,
                &NewScanTask {
                    task_uid: format!("task-{n}"),
                    selection: serde_json::json!({}),
                    total_count: 1,
                    collect_ms: n,
                },
            )
            .unwrap();
    }
    let (total, page) = store.scan_tasks_page(t, 0, 2).unwrap();
    assert_eq!(total, 3);
    let ids: Vec<&str> = page.iter().map(|t| t.task_uid.as_str()).collect();
    assert_eq!(ids, ["task-2", "task-1"]);
    let (_, rest) = store.scan_tasks_page(t, 2, 2).unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].task_uid, "task-0");
    assert_eq!(
        store.scan_tasks_page(seeded.tenants[1], 0, 10).unwrap(),
        (0, Vec::new())
    );
}

on_both_engines!(overview_agrees_with_the_placements);
on_both_engines!(tasks_page_newest_first_per_tenant);
