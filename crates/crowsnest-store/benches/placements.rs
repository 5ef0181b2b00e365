//! The placement list query (what DescribeImageInstances and ListRegistryImages call) over a
//! store seeded with `CROWSNEST_BENCH_IMAGES` images (default 1,000,000), one tenant holding
//! them all, the worst case for a tenant-scoped count.
//!
//! `CROWSNEST_BENCH_DATABASE` picks the store (a `postgres://` URL, whose database should be
//! empty or a fresh schema); by default a SQLite file in a temporary directory. Before the
//! criterion runs, each query is timed `CROWSNEST_BENCH_SAMPLES` times (default 200) and its
//! p50/p99 printed, with the seeding time:
//!
//! ```text
//! cargo bench -p crowsnest-store --bench placements
//! ```
//!
//! Measured on the 2-core dev machine (shared with other builds), SQLite, 1,000,000 images in
//! one tenant, 200 samples, before migration 4: seeding 107 s; p50/p99 ms: first page
//! 71/115, repository name equals 0.2/4.7, repository name contains 11/18, digest 0.05/0.1,
//! registry type and region 15/25, offset 100000 57/97, scanned and risky 923/1570, latest
//! scans first 1206/1835 (bounded by counting or sorting every matching placement).
//!
//! After migration 4 (scan state, risk and finish time copied onto image_tags with indexes;
//! counts summed from per-repository placement_counts), same machine with a release build
//! running beside it: seeding 96 s; p50/p99 ms: first page 0.77/4.7, repository name equals
//! 0.38/4.7, repository name contains 0.80/5.7, scanned and risky 0.53/0.60, digest
//! 0.06/0.09, registry type and region 0.67/0.88, offset 100000 7.1/8.3, latest scans first
//! 0.51/5.1. The offset page still walks 100,000 index entries.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use crowsnest_store::seed::seed_digest;
use crowsnest_store::{Field, Filter, PlacementOrder, PlacementQuery, SeedPlan, Store, TenantId};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn cases() -> Vec<(&'static str, PlacementQuery)> {
    let q = |filter, order, offset| PlacementQuery {
        filter,
        order,
        offset,
        limit: 20,
    };
    vec![
        (
            "first page, no filter",
            q(Filter::True, PlacementOrder::Id, 0),
        ),
        (
            "repository name equals",
            q(
                Filter::Eq(Field::RepoName, "app-1-42".into()),
                PlacementOrder::Id,
                0,
            ),
        ),
        (
            "repository name contains",
            q(
                Filter::Contains(Field::RepoName, "app-2-1".into()),
                PlacementOrder::Id,
                0,
            ),
        ),
        (
            "scanned and risky",
            q(
                Filter::All(vec![
                    Filter::Eq(Field::ScanState, "succeeded".into()),
                    Filter::Risky,
                ]),
                PlacementOrder::Id,
                0,
            ),
        ),
        (
            "digest equals",
            q(
                Filter::Eq(Field::Digest, seed_digest(123_456).into()),
                PlacementOrder::Id,
                0,
            ),
        ),
        (
            "registry type and region",
            q(
                Filter::All(vec![
                    Filter::Eq(Field::RegistryType, "harbor".into()),
                    Filter::Eq(Field::RegionId, "cn-shanghai".into()),
                ]),
                PlacementOrder::Id,
                0,
            ),
        ),
        (
            "page at offset 100000",
            q(Filter::True, PlacementOrder::Id, 100_000),
        ),
        (
            "latest scans first",
            q(Filter::True, PlacementOrder::LastScanDesc, 0),
        ),
    ]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn placements(c: &mut Criterion) {
    let images = env_number("CROWSNEST_BENCH_IMAGES", 1_000_000);
    let samples = env_number("CROWSNEST_BENCH_SAMPLES", 200).max(1) as usize;
    let dir = tempfile::tempdir().unwrap();
    let location = std::env::var("CROWSNEST_BENCH_DATABASE")
        .unwrap_or_else(|_| dir.path().join("bench.db").to_string_lossy().into_owned());
    let store = Store::open(&location).unwrap();
    let started = Instant::now();
    let report = store
        .seed(&SeedPlan {
            images,
            ..SeedPlan::default()
        })
        .unwrap();
    let seeding = started.elapsed();
    let tenant: TenantId = report.tenants[0];
    println!(
        "store: {} engine, {images} images seeded in {:.1} s ({:.0} images/s)",
        store.engine().as_str(),
        seeding.as_secs_f64(),
        images as f64 / seeding.as_secs_f64()
    );
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9}",
        "query", "matched", "p50 ms", "p99 ms", "max ms"
    );
    for (name, query) in cases() {
        let total = store.placements(tenant, &query).unwrap().total;
        let mut times: Vec<Duration> = (0..samples)
            .map(|_| {
                let t = Instant::now();
                let page = store.placements(tenant, &query).unwrap();
                std::hint::black_box(page);
                t.elapsed()
            })
            .collect();
        times.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{name:<28} {total:>9} {:>9.2} {:>9.2} {:>9.2}",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            ms(*times.last().unwrap())
        );
    }
    let mut group = c.benchmark_group("placements");
    group.sample_size(20);
    for (name, query) in cases() {
        group.bench_function(name, |b| {
            b.iter(|| store.placements(tenant, &query).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, placements);
criterion_main!(benches);
