//! Benchmarks over the real fixture database (`fixtures/osv/*/all.zip`):
//!
//! - `import/all_fixture_zips`: one `import_path` of the whole fixture directory into a new
//!   database (every ecosystem's zip); the resulting file size is printed.
//! - `match/100_inventories_x_300`: matching 100 synthetic inventories of 300 packages each.
//! - A timed full run, printed (criterion's minimum of ten samples would make it minutes long):
//!   10,000 synthetic inventories of 300 packages, on one thread and on two worker threads
//!   (each with its own read-only handle, as scan workers do).
//!
//! Inventories draw packages from the (ecosystem, name) pairs the database knows, with versions
//! that are half the records' own event versions (range boundaries) and half random ones, from a
//! fixed seed so every run matches the same packages.
//!
//! Run: `cargo bench -p crowsnest-vulndb -- --sample-size 10`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Instant;

use criterion::{criterion_main, BatchSize, Criterion};
use crowsnest_model::{Ecosystem, Package};
use crowsnest_vulndb::{import_path, match_packages, VulnDb};

const INVENTORIES: usize = 10_000;

/// `CROWSNEST_BENCH_INVENTORIES` shrinks the full run (for profiling under callgrind).
fn inventory_count() -> usize {
    std::env::var("CROWSNEST_BENCH_INVENTORIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(INVENTORIES)
}
const PACKAGES_PER_INVENTORY: usize = 300;

fn fixtures() -> std::path::PathBuf {
    crowsnest_testkit::fixture("osv")
}

/// xorshift64*: a fixed-seed generator, enough to draw names and versions.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn ecosystem_of(base: &str) -> Option<Ecosystem> {
    Some(match base {
        "PyPI" => Ecosystem::Pypi,
        "npm" => Ecosystem::Npm,
        "Go" => Ecosystem::Golang,
        "crates.io" => Ecosystem::Cargo,
        "Maven" => Ecosystem::Maven,
        _ => return None,
    })
}

/// Every language package the database knows, with the versions its records name.
fn package_pool(db: &VulnDb) -> Vec<(Ecosystem, String, Vec<String>)> {
    let mut pool = Vec::new();
    for (base, name) in db.package_names().unwrap() {
        let Some(eco) = ecosystem_of(&base) else {
            continue;
        };
        let mut versions: Vec<String> = Vec::new();
        for c in db.candidates(&base, &name).unwrap().iter() {
            for r in &c.stored.ranges {
                for e in &r.events {
                    let v = e.version();
                    if v != "0" && !versions.iter().any(|x| x == v) {
                        versions.push(v.to_owned());
                    }
                }
            }
            versions.extend(c.stored.versions.iter().cloned());
        }
        pool.push((eco, name, versions));
    }
    pool
}

fn inventories(
    pool: &[(Ecosystem, String, Vec<String>)],
    count: usize,
    seed: u64,
) -> Vec<Vec<Package>> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|_| {
            (0..PACKAGES_PER_INVENTORY)
                .map(|_| {
                    let (eco, name, versions) = &pool[rng.below(pool.len())];
                    let version = if !versions.is_empty() && rng.below(2) == 0 {
                        versions[rng.below(versions.len())].clone()
                    } else {
                        let v = format!("{}.{}.{}", rng.below(5), rng.below(30), rng.below(30));
                        if *eco == Ecosystem::Golang {
                            format!("v{v}")
                        } else {
                            v
                        }
                    };
                    Package::new(*eco, name.clone(), version, "/bench", "bench")
                })
                .collect()
        })
        .collect()
}

/// CPU time (user + system) of the calling thread, from `/proc/thread-self/stat`, in seconds;
/// the machine is shared, so wall time alone overstates what matching costs.
fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn match_all(db_path: &Path, invs: &[Vec<Package>]) -> usize {
    let db = VulnDb::open(db_path).unwrap();
    invs.iter()
        .map(|inv| match_packages(&db, inv, None).unwrap().len())
        .sum()
}

/// The profiled pass of `CROWSNEST_BENCH_PROFILE`, a function of its own so callgrind can
/// collect it alone.
#[inline(never)]
fn match_warm(db: &VulnDb, invs: &[Vec<Package>]) -> usize {
    invs.iter()
        .map(|inv| match_packages(db, inv, None).unwrap().len())
        .sum()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("vulndb.sqlite");

    // One import up front: its time and size are printed, and the match benches use it.
    let t = Instant::now();
    let summary = import_path(&db_path, &fixtures()).unwrap();
    let size = std::fs::metadata(&db_path).unwrap().len();
    eprintln!(
        "import: {} records from {} sources in {:.2?}; database file {} bytes ({:.1} MiB)",
        summary.records,
        summary.sources.len(),
        t.elapsed(),
        size,
        size as f64 / (1024.0 * 1024.0)
    );

    let mut group = c.benchmark_group("import");
    group.bench_function("all_fixture_zips", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |d| import_path(&d.path().join("vulndb.sqlite"), &fixtures()).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.finish();

    let pool = {
        let db = VulnDb::open(&db_path).unwrap();
        package_pool(&db)
    };
    eprintln!("pool: {} language packages", pool.len());

    let small = inventories(&pool, 100, 0x5eed);
    let mut group = c.benchmark_group("match");
    group.bench_function("100_inventories_x_300", |b| {
        b.iter(|| match_all(&db_path, &small))
    });
    group.finish();

    // The full run the issue asks for, timed once per thread count.
    let count = inventory_count();
    let all = inventories(&pool, count, 0xc0ffee);
    if std::env::var_os("CROWSNEST_BENCH_PROFILE").is_some() {
        // Steady state for callgrind (`--toggle-collect='*match_warm*'`): one handle, caches
        // warmed by a first pass, then the same inventories again.
        let db = VulnDb::open(&db_path).unwrap();
        let warm = |db: &VulnDb| -> usize {
            all.iter()
                .map(|inv| match_packages(db, inv, None).unwrap().len())
                .sum()
        };
        warm(&db);
        eprintln!("profile pass: {} findings", match_warm(&db, &all));
        return;
    }
    if std::env::var_os("CROWSNEST_BENCH_DIGEST").is_some() {
        // A digest of every finding in full, to show an optimisation changed no result.
        use sha2::Digest as _;
        let db = VulnDb::open(&db_path).unwrap();
        let mut h = sha2::Sha256::new();
        for inv in &all {
            let findings = match_packages(&db, inv, None).unwrap();
            h.update(serde_json::to_vec(&findings).unwrap());
        }
        eprintln!("findings digest: {}", hex::encode(h.finalize()));
    }
    let t = Instant::now();
    let cpu = thread_cpu_seconds();
    let findings = match_all(&db_path, &all);
    eprintln!(
        "match: {count} inventories x {PACKAGES_PER_INVENTORY} packages on 1 thread: {:.2?} wall, {:.2} s CPU ({findings} findings)",
        t.elapsed(),
        thread_cpu_seconds() - cpu
    );
    let t = Instant::now();
    let (a, b) = all.split_at(all.len() / 2);
    let findings2: usize = std::thread::scope(|s| {
        let h1 = s.spawn(|| match_all(&db_path, a));
        let h2 = s.spawn(|| match_all(&db_path, b));
        h1.join().unwrap() + h2.join().unwrap()
    });
    assert_eq!(findings, findings2);
    eprintln!(
        "match: {count} inventories x {PACKAGES_PER_INVENTORY} packages on 2 threads: {:.2?}",
        t.elapsed()
    );
}

// The macro defines an undocumented `pub fn benches`.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::bench);
}
use group::benches;
criterion_main!(benches);
