//! Scan tasks run by real `crowsnest worker` processes against a real registry
//! (`docker-registry`, images pushed with skopeo):
//! - on PostgreSQL, a worker frozen and then killed with SIGKILL in the middle of a job loses
//!   its lease, and a second worker finishes the task: every job ends once, FinishCount is
//!   exact, and the killed job was claimed exactly twice;
//! - jobs that keep failing (a manifest deleted from the registry, a registry that went away)
//!   end FAIL with their seed code after the bounded retries, while the task's good image
//!   succeeds; the task ends FAIL with the first failure's code, announced to a webhook with
//!   an HMAC-SHA256 signature the test checks;
//! - PostgreSQL stopped for 3 s mid-task: the task still completes;
//! - a registry scheduled every second, with two `crowsnest serve` processes on one
//!   PostgreSQL: each due run is claimed by one server, each run that finds new digests queues
//!   one task for just those, and removing the schedule stops the runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crowsnest_store::{Filter, JobState, NewScanTask, ScanTask, Store, TaskCreation, TenantId};
use crowsnest_testkit::registry::{docker_archive, TestRegistry, PASSWORD, USER};

/// Worker timings that make a dead worker's job reclaimable in 2 s and retries quick.
const FAST: &[&str] = &[
    "--lease-secs",
    "2",
    "--heartbeat-secs",
    "0.3",
    "--poll-secs",
    "0.2",
    "--backoff-secs",
    "0.2",
    "--registry-timeout-secs",
    "5",
];

fn crowsnest(data_dir: &Path, database: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crowsnest"));
    cmd.args(args)
        .env("CROWSNEST_DATA_DIR", data_dir)
        .env("CROWSNEST_REGISTRY_USERNAME", USER)
        .env("CROWSNEST_REGISTRY_PASSWORD", PASSWORD)
        .env_remove("CROWSNEST_DATABASE");
    if let Some(url) = database {
        cmd.env("CROWSNEST_DATABASE", url);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "crowsnest {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn spawn_worker(data_dir: &Path, database: Option<&str>, id: &str, extra: &[&str]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crowsnest"));
    cmd.args(["worker", "--id", id])
        .args(FAST)
        .args(extra)
        .env("CROWSNEST_DATA_DIR", data_dir)
        .env("CROWSNEST_LOG", "info")
        .env_remove("CROWSNEST_DATABASE")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(data_dir.join(format!("{id}.log"))).unwrap());
    if let Some(url) = database {
        cmd.env("CROWSNEST_DATABASE", url);
    }
    cmd.spawn().unwrap()
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} failed");
}

/// Creates a tenant, connects `registries` (uid, registry) to it and syncs each.
fn tenant_with(data: &Path, database: Option<&str>, registries: &[(&str, &TestRegistry)]) -> i64 {
    let out = crowsnest(
        data,
        database,
        &["tenants", "create", "--name", "t", "--account-id", "a1"],
    );
    let tenant = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    for (uid, registry) in registries {
        let url = format!("http://{}", registry.host());
        crowsnest(
            data,
            database,
            &[
                "registry", "add", "--tenant", &tenant, "--name", uid, "--type", "harbor", "--url",
                &url,
            ],
        );
        crowsnest(
            data,
            database,
            &["registry", "sync", "--tenant", &tenant, uid],
        );
    }
    tenant.parse().unwrap()
}

fn create_task(store: &Store, tenant: i64, uid: &str) -> i64 {
    match store
        .create_scan_task_with_jobs(
            TenantId(tenant),
            &NewScanTask {
                task_uid: uid.into(),
                selection: serde_json::json!({}),
                total_count: 0,
                collect_ms: crowsnest_store::now_ms(),
            },
            &Filter::True,
            10,
        )
        .unwrap()
    {
        TaskCreation::Created { jobs, rematch, .. } => {
            assert_eq!(rematch, 0, "nothing was scanned before");
            jobs
        }
        other => panic!("task not created: {other:?}"),
    }
}

fn wait_for_end(store: &Store, tenant: i64, uid: &str, within: Duration, logs: &Path) -> ScanTask {
    let deadline = Instant::now() + within;
    loop {
        let task = store.scan_task(TenantId(tenant), uid).unwrap().unwrap();
        if !matches!(task.status.as_str(), "INIT" | "PROCESSING") {
            return task;
        }
        if Instant::now() > deadline {
            let jobs = store.scan_jobs(TenantId(tenant), uid).unwrap();
            let logs: String = std::fs::read_dir(logs)
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .collect();
            panic!("task {uid} did not end within {within:?}: {task:?}\n{jobs:#?}\n{logs}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A fresh schema on the test PostgreSQL server, dropped on drop.
struct PgSchema {
    admin_url: String,
    schema: String,
    url: String,
}

impl PgSchema {
    fn create() -> Option<PgSchema> {
        let admin_url = match std::env::var("CROWSNEST_TEST_POSTGRES") {
            Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
            _ => {
                assert!(
                    !crowsnest_testkit::tools_required(),
                    "CROWSNEST_TEST_POSTGRES is required under CI"
                );
                eprintln!("skipping: CROWSNEST_TEST_POSTGRES is not set (bash .ci/postgres)");
                return None;
            }
        };
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .unwrap();
        let sep = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{sep}options=-csearch_path%3D{schema}");
        Some(PgSchema {
            admin_url,
            schema,
            url,
        })
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema));
        }
    }
}

/// Kills its process on drop, so a failed assertion leaves no worker behind.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_killed_worker_s_job_is_finished_by_another_exactly_once() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let Some(pg) = PgSchema::create() else {
        return;
    };
    // Five distinct digests: the two Alpine images as Docker v2s2 and as OCI manifests, and the
    // larger acme-shop image (tens of MB: its scan is the job most likely caught mid-way).
    let acme = format!(
        "oci-archive:{}",
        crowsnest_testkit::fixture("images/acme-shop.oci.tar").display()
    );
    registry.push(&acme, "acme/shop:1.0", &[]);
    for (n, fixture) in ["images/alpine-310.tar.gz", "images/alpine-311.tar.gz"]
        .iter()
        .enumerate()
    {
        let source = docker_archive(fixture);
        registry.push(&source, &format!("lib/alpine{n}:v2"), &[]);
        registry.push(&source, &format!("lib/alpine{n}:oci"), &["--format", "oci"]);
    }
    let data = tempfile::tempdir().unwrap();
    let db = Some(pg.url.as_str());
    let tenant = tenant_with(data.path(), db, &[("local", &registry)]);
    let store = Store::open(&pg.url).unwrap();
    let total = create_task(&store, tenant, "task-kill");
    assert_eq!(total, 5);

    // Worker A alone, frozen (SIGSTOP) while it holds a running job, then killed outright.
    let mut a = Reaped(spawn_worker(data.path(), db, "A", &[]));
    let deadline = Instant::now() + Duration::from_secs(120);
    let held = loop {
        assert!(Instant::now() < deadline, "worker A never held a job");
        let running = store
            .scan_jobs(TenantId(tenant), "task-kill")
            .unwrap()
            .into_iter()
            .find(|j| j.state == JobState::Running && j.lease_owner == "A-0");
        if running.is_some() {
            signal(&a.0, "-STOP");
            // It may have finished that job just before it stopped: look again, frozen.
            let still = store
                .scan_jobs(TenantId(tenant), "task-kill")
                .unwrap()
                .into_iter()
                .find(|j| j.state == JobState::Running && j.lease_owner == "A-0");
            if let Some(job) = still {
                break job;
            }
            signal(&a.0, "-CONT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    signal(&a.0, "-KILL");
    let _ = a.0.wait();
    let killed_at = Instant::now();

    let _b = Reaped(spawn_worker(data.path(), db, "B", &[]));
    let task = wait_for_end(
        &store,
        tenant,
        "task-kill",
        Duration::from_secs(240),
        data.path(),
    );
    eprintln!("task ended {:?} after the kill", killed_at.elapsed());
    assert_eq!(task.status, "SUCCESS", "{task:?}");
    assert_eq!(task.result, "SUCCESS");
    assert_eq!(
        (
            task.total_count,
            task.finish_count,
            task.failed_count,
            task.progress
        ),
        (5, 5, 0, 100)
    );
    let jobs = store.scan_jobs(TenantId(tenant), "task-kill").unwrap();
    assert_eq!(jobs.len(), 5);
    for job in &jobs {
        assert_eq!(job.state, JobState::Succeeded, "{job:?}");
        // Nothing pulled twice for a digest: every job's inventory is stored once.
        assert!(store.stored_inventory(&job.digest).unwrap().is_some());
        if job.id == held.id {
            assert_eq!(
                (job.attempts, job.lease_owner.as_str()),
                (2, "B-0"),
                "the killed job is claimed once more, by B: {job:?}"
            );
        } else {
            assert_eq!(job.attempts, 1, "{job:?}");
        }
    }
}

#[test]
fn jobs_that_keep_failing_end_with_their_code_after_bounded_retries() {
    let Some(good) = TestRegistry::start() else {
        return;
    };
    let Some(mut gone) = TestRegistry::start() else {
        return;
    };
    let alpine310 = docker_archive("images/alpine-310.tar.gz");
    let alpine311 = docker_archive("images/alpine-311.tar.gz");
    good.push(&alpine310, "lib/kept:1", &[]);
    good.push(&alpine311, "lib/deleted:1", &[]);
    gone.push(&alpine310, "lib/far:1", &["--format", "oci"]);
    let data = tempfile::tempdir().unwrap();
    // This test runs on the SQLite store of the data directory (the other on PostgreSQL).
    let tenant = tenant_with(data.path(), None, &[("good", &good), ("gone", &gone)]);
    // After the sync: one manifest deleted from the registry, the other registry stopped.
    let deleted = Command::new("skopeo")
        .args([
            "delete",
            "--tls-verify=false",
            "--creds",
            &format!("{USER}:{PASSWORD}"),
            &format!("docker://{}/lib/deleted:1", good.host()),
        ])
        .output()
        .unwrap();
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    gone.kill();
    let store = Store::open_data_dir(data.path()).unwrap();
    assert_eq!(create_task(&store, tenant, "task-fail"), 3);

    // A webhook receiver: one POST, answered 200, handed to the test.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (hook_tx, hook_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Read, Write};
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            headers.push(line.trim().to_ascii_lowercase());
        }
        let length: usize = headers
            .iter()
            .find_map(|h| h.strip_prefix("content-length:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .unwrap();
        hook_tx.send((headers, body)).unwrap();
    });
    let _w = Reaped(spawn_worker(
        data.path(),
        None,
        "W",
        &[
            "--max-attempts",
            "3",
            "--webhook-url",
            &hook_url,
            "--webhook-secret",
            "hook-secret",
        ],
    ));
    let task = wait_for_end(
        &store,
        tenant,
        "task-fail",
        Duration::from_secs(180),
        data.path(),
    );
    assert_eq!(
        (
            task.status.as_str(),
            task.finish_count,
            task.failed_count,
            task.progress
        ),
        ("FAIL", 3, 2, 100),
        "{task:?}"
    );
    let jobs = store.scan_jobs(TenantId(tenant), "task-fail").unwrap();
    let by_repo = |repo: &str| jobs.iter().find(|j| j.repository == repo).unwrap();
    let kept = by_repo("lib/kept");
    assert_eq!(
        (kept.state, kept.attempts, kept.failure_code.as_str()),
        (JobState::Succeeded, 1, "")
    );
    let deleted = by_repo("lib/deleted");
    assert_eq!(
        (
            deleted.state,
            deleted.attempts,
            deleted.failure_code.as_str()
        ),
        (JobState::Failed, 3, "get_detail_info_not_found")
    );
    let far = by_repo("lib/far");
    assert_eq!(
        (far.state, far.attempts, far.failure_code.as_str()),
        (JobState::Failed, 3, "download_failed")
    );
    // The task's result is the first failure's code.
    let first = [deleted, far]
        .into_iter()
        .min_by_key(|j| (j.finished_ms, j.id))
        .unwrap();
    assert_eq!(task.result, first.failure_code);
    // The finished task was announced once, signed with HMAC-SHA256 of the body.
    let (headers, body) = hook_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let announced: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (
            &announced["TaskId"],
            &announced["Status"],
            &announced["FinishCount"]
        ),
        (
            &serde_json::json!("task-fail"),
            &serde_json::json!("FAIL"),
            &serde_json::json!(3)
        )
    );
    let expected = {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"hook-secret").unwrap();
        mac.update(&body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    assert!(
        headers.contains(&format!("x-crowsnest-signature: {expected}")),
        "{headers:?}"
    );
    // No retry after the last one: the job stays failed.
    std::thread::sleep(Duration::from_millis(600));
    let again = store.scan_jobs(TenantId(tenant), "task-fail").unwrap();
    assert_eq!(again, jobs);
}

/// A PostgreSQL cluster of this test's own (started with `.ci/postgres` in a fresh directory
/// on a free port), so stopping it disturbs no other test; removed on drop.
struct PrivatePostgres {
    dir: String,
    port: u16,
    url: String,
}

impl PrivatePostgres {
    fn start() -> Option<PrivatePostgres> {
        let installed = std::fs::read_dir("/usr/lib/postgresql")
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if !installed {
            assert!(
                !crowsnest_testkit::tools_required(),
                "PostgreSQL's server is required under CI"
            );
            eprintln!("skipping: no PostgreSQL server installed");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Directly under /tmp: the server runs as the postgres user when the test runs as
        // root, and must reach its directory.
        let dir = format!("/tmp/crowsnest-pg-{}", uuid::Uuid::new_v4().simple());
        let mut pg = PrivatePostgres {
            dir,
            port,
            url: String::new(),
        };
        pg.url = pg.script();
        Some(pg)
    }

    /// Runs `.ci/postgres` for this cluster (initialises, or restarts a stopped server).
    fn script(&self) -> String {
        let out = Command::new("bash")
            .arg(crowsnest_testkit::repo_root().join(".ci/postgres"))
            .env("CROWSNEST_PG_DIR", &self.dir)
            .env("CROWSNEST_PG_PORT", self.port.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn pg_ctl(&self, args: &[&str]) -> bool {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin/pg_ctl"))
            .filter(|p| p.is_file())
            .max()
            .unwrap();
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let mut cmd = if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&bin);
            c
        } else {
            Command::new(&bin)
        };
        cmd.args(["-D", &self.dir])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Stops the server: every client's connection is cut, as in an outage. Not `immediate`:
    /// `.ci/postgres` runs with `synchronous_commit=off`, so an immediate stop loses the last
    /// commits (a CI run lost the task row itself), which a real server would have kept.
    fn stop(&self) {
        assert!(self.pg_ctl(&["stop", "-m", "fast", "-w"]), "pg_ctl stop");
    }

    fn start_again(&self) {
        assert_eq!(self.script(), self.url);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_task_completes_after_postgresql_was_stopped_mid_way() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let Some(pg) = PrivatePostgres::start() else {
        return;
    };
    let acme = format!(
        "oci-archive:{}",
        crowsnest_testkit::fixture("images/acme-shop.oci.tar").display()
    );
    registry.push(&acme, "acme/shop:1.0", &[]);
    let alpine = docker_archive("images/alpine-311.tar.gz");
    registry.push(&alpine, "lib/alpine:v2", &[]);
    registry.push(&alpine, "lib/alpine:oci", &["--format", "oci"]);
    let data = tempfile::tempdir().unwrap();
    let db = Some(pg.url.as_str());
    let tenant = tenant_with(data.path(), db, &[("local", &registry)]);
    let total = {
        let store = Store::open(&pg.url).unwrap();
        create_task(&store, tenant, "task-pg")
    };
    assert_eq!(total, 3);

    let _w = Reaped(spawn_worker(data.path(), db, "W", &["--max-attempts", "5"]));
    // Stop the server once the worker holds a job, keep it down for 3 s, start it again.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "the worker never claimed a job");
        let store = Store::open(&pg.url).unwrap();
        let jobs = store.scan_jobs(TenantId(tenant), "task-pg").unwrap();
        if jobs.iter().any(|j| j.state == JobState::Running) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    pg.stop();
    std::thread::sleep(Duration::from_secs(3));
    pg.start_again();

    let store = Store::open(&pg.url).unwrap();
    let task = wait_for_end(
        &store,
        tenant,
        "task-pg",
        Duration::from_secs(240),
        data.path(),
    );
    assert_eq!(
        (task.status.as_str(), task.finish_count, task.failed_count),
        ("SUCCESS", 3, 0),
        "{task:?}"
    );
    let jobs = store.scan_jobs(TenantId(tenant), "task-pg").unwrap();
    assert!(
        jobs.iter().all(|j| j.state == JobState::Succeeded),
        "{jobs:#?}"
    );
}

/// `text` without ANSI colour sequences (the log may be coloured even into a file).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The `due_ms` of every "scheduled run claimed" line in `log`.
fn claimed_runs(log: &Path) -> Vec<i64> {
    strip_ansi(&std::fs::read_to_string(log).unwrap_or_default())
        .lines()
        .filter(|l| l.contains("scheduled run claimed"))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("due_ms="))
                .and_then(|v| v.parse().ok())
        })
        .collect()
}

/// (task uid, status, total count) of every scheduled task, oldest first.
fn scheduled_tasks(pg: &PgSchema) -> Vec<(String, String, i64)> {
    let mut client = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    client
        .query(
            "SELECT task_uid, status, total_count FROM scan_tasks \
             WHERE task_uid LIKE 'sched-%' ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

fn wait_until<T>(within: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_registry_scheduled_every_second_is_synced_and_scanned_once_per_run_by_two_servers() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let Some(pg) = PgSchema::create() else {
        return;
    };
    registry.push(
        &docker_archive("images/alpine-310.tar.gz"),
        "lib/first:1",
        &[],
    );
    let data = tempfile::tempdir().unwrap();
    let db = Some(pg.url.as_str());
    let out = crowsnest(
        data.path(),
        db,
        &["tenants", "create", "--name", "t", "--account-id", "a1"],
    );
    let tenant = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let url = format!("http://{}", registry.host());
    // Invalid cron is refused with its code before anything is stored.
    let mut bad = Command::new(env!("CARGO_BIN_EXE_crowsnest"));
    let bad = bad
        .args([
            "registry", "add", "--tenant", &tenant, "--name", "x", "--url", &url,
        ])
        .args(["--schedule", "every second"])
        .env("CROWSNEST_DATA_DIR", data.path())
        .env("CROWSNEST_DATABASE", &pg.url)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("error: invalid_parameter"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    crowsnest(
        data.path(),
        db,
        &[
            "registry",
            "add",
            "--tenant",
            &tenant,
            "--name",
            "local",
            "--url",
            &url,
            "--schedule",
            "* * * * * *",
        ],
    );
    let listed = crowsnest(
        data.path(),
        db,
        &["registry", "list", "--tenant", &tenant, "--format", "json"],
    );
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["schedule"], "* * * * * *");
    assert!(listed[0]["next_run_ms"].as_i64().unwrap() > 0);

    // Two servers on one PostgreSQL, each with the scheduler and one worker.
    let servers: Vec<Reaped> = ["S1", "S2"]
        .iter()
        .map(|id| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_crowsnest"));
            cmd.args(["serve", "--listen", "127.0.0.1:0", "--workers", "1"])
                .args(FAST)
                .env("CROWSNEST_DATA_DIR", data.path())
                .env("CROWSNEST_DATABASE", &pg.url)
                .env("CROWSNEST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(data.path().join(format!("{id}.log"))).unwrap());
            Reaped(cmd.spawn().unwrap())
        })
        .collect();

    // The first run syncs the pushed tag and queues a task for its digest, which a worker runs.
    let store = Store::open(&pg.url).unwrap();
    let first = wait_until(Duration::from_secs(120), "a scheduled task", || {
        scheduled_tasks(&pg).into_iter().next()
    });
    assert_eq!(first.2, 1, "one new digest: {first:?}");
    let first = wait_for_end(
        &store,
        tenant.parse().unwrap(),
        &first.0,
        Duration::from_secs(120),
        data.path(),
    );
    assert_eq!(first.status, "SUCCESS", "{first:?}");

    // A new tag with a new digest: a later run queues a task for that digest alone.
    registry.push(
        &docker_archive("images/alpine-311.tar.gz"),
        "lib/second:1",
        &[],
    );
    let second = wait_until(Duration::from_secs(60), "a second scheduled task", || {
        scheduled_tasks(&pg).into_iter().nth(1)
    });
    assert_eq!(second.2, 1, "only the new digest: {second:?}");
    let second = wait_for_end(
        &store,
        tenant.parse().unwrap(),
        &second.0,
        Duration::from_secs(120),
        data.path(),
    );
    assert_eq!(second.status, "SUCCESS", "{second:?}");
    // Runs that found nothing new queue nothing.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(scheduled_tasks(&pg).len(), 2, "{:?}", scheduled_tasks(&pg));

    // Removing the schedule stops the runs.
    crowsnest(
        data.path(),
        db,
        &[
            "registry",
            "update",
            "--tenant",
            &tenant,
            "local",
            "--schedule",
            "",
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    let runs = |id: &str| claimed_runs(&data.path().join(format!("{id}.log")));
    let before: usize = runs("S1").len() + runs("S2").len();
    std::thread::sleep(Duration::from_secs(3));
    drop(servers);
    let (s1, s2) = (runs("S1"), runs("S2"));
    assert_eq!(
        s1.len() + s2.len(),
        before,
        "no run after the schedule was removed"
    );

    // Every due run was claimed by exactly one server, and there were many.
    let mut all: Vec<i64> = s1.iter().chain(&s2).copied().collect();
    all.sort_unstable();
    let n = all.len();
    all.dedup();
    assert_eq!(all.len(), n, "a run claimed twice: S1 {s1:?} S2 {s2:?}");
    assert!(n >= 5, "only {n} scheduled runs: S1 {s1:?} S2 {s2:?}");
    eprintln!("scheduled runs claimed: S1 {}, S2 {}", s1.len(), s2.len());
}
