//! Fault test with real processes: `crowsnest serve` and `crowsnest agent` as separate
//! processes; the server is killed while the agent keeps making reports, then restarted on
//! the same address. Every report must arrive exactly once (the server's count of distinct
//! report ids equals what the agent made), and after the agent is revoked its key is refused
//! (exit 2, `agent_refused`).
//!
//! The agent reads no container store here (its runtime roots do not exist), so the test
//! needs neither root nor a runtime: it is about delivery, which the runtime tests do not
//! cover.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crowsnest_agent::client::{Key, ServerClient};
use crowsnest_store::{Store, TenantId};

fn crowsnest(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crowsnest"))
        .args(args)
        .env("CROWSNEST_DATA_DIR", data)
        .env_remove("CROWSNEST_DATABASE")
        .output()
        .unwrap()
}

fn serve(data: &Path, addr: &str) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_crowsnest"))
        .args([
            "serve",
            "--listen",
            addr,
            "--agent-heartbeat-secs",
            "1",
            "--agent-offline-after-secs",
            "3",
        ])
        .env("CROWSNEST_DATA_DIR", data)
        .env_remove("CROWSNEST_DATABASE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn key_from(out: &Output) -> Key {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .to_owned()
    };
    Key {
        id: field("AccessKeyId:"),
        secret: field("AccessKeySecret:"),
    }
}

fn agent(data: &Path, addr: &str, enrol: &Key, max_reports: &str) -> Child {
    let none = data.join("none");
    Command::new(env!("CARGO_BIN_EXE_crowsnest"))
        .args(["agent", "--server", &format!("http://{addr}")])
        .arg("--key")
        .arg(format!("{}:{}", enrol.id, enrol.secret))
        .arg("--state-dir")
        .arg(data.join("agent-state"))
        .arg("--containerd-root")
        .arg(&none)
        .arg("--storage-root")
        .arg(&none)
        .arg("--docker-socket")
        .arg(none.join("docker.sock"))
        .args([
            "--report-interval-secs",
            "1",
            "--heartbeat-interval-secs",
            "1",
            "--host-id",
            "fault-host",
            "--host-name",
            "fault",
            "--max-reports",
            max_reports,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait(child: &mut Child, limit: Duration) -> (bool, String, String) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let (mut out, mut err) = (String::new(), String::new());
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.success(), out, err);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the agent did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn reports_survive_a_server_outage_once_each_and_a_revoked_agent_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let out = crowsnest(
        data.path(),
        &[
            "tenants",
            "create",
            "--name",
            "ops",
            "--account-id",
            "42",
            "--project-id",
            "p1",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tenant: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let t = tenant.to_string();
    let enrol = key_from(&crowsnest(
        data.path(),
        &[
            "keys",
            "create",
            "--tenant",
            &t,
            "--action",
            "crowsnest:RegisterAgent",
        ],
    ));
    let admin = key_from(&crowsnest(
        data.path(),
        &["keys", "create", "--tenant", &t, "--action", "crowsnest:*"],
    ));

    let mut server = serve(data.path(), &addr);
    const REPORTS: u64 = 8;
    let mut agent_proc = agent(data.path(), &addr, &enrol, &REPORTS.to_string());
    let store = Store::open_sqlite(&data.path().join("crowsnest.db")).unwrap();
    let received = || {
        store
            .agents(TenantId(tenant))
            .unwrap()
            .first()
            .map_or(0, |a| a.reports_received)
    };
    let started = Instant::now();
    while received() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no reports arrived"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The outage: the agent keeps making reports into its queue.
    server.kill().unwrap();
    server.wait().unwrap();
    let during = received();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        agent_proc.try_wait().unwrap().is_none(),
        "the agent must outlive the server"
    );
    let queued = std::fs::read_dir(data.path().join("agent-state/queue"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".json")
        })
        .count();
    assert!(
        queued >= 2,
        "reports wait in the queue during the outage ({queued})"
    );
    assert!(during < REPORTS as i64);

    let mut server = serve(data.path(), &addr);
    let (ok, stdout, stderr) = wait(&mut agent_proc, Duration::from_secs(90));
    assert!(ok, "{stderr}");
    let stats: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(stats["reports_made"], REPORTS, "{stats}");
    assert_eq!(
        stats["reports_accepted"].as_u64().unwrap() + stats["reports_duplicate"].as_u64().unwrap(),
        REPORTS,
        "{stats}"
    );
    assert!(stats["unreachable"].as_u64().unwrap() > 0, "{stats}");
    assert_eq!(stats["reports_dropped"], 0);
    // The server's own count: distinct report ids, each once.
    assert_eq!(received(), REPORTS as i64);

    // Revoked: the next start is refused and exits 2 with the stable code.
    let client = ServerClient::new(&format!("http://{addr}"), Duration::from_secs(30)).unwrap();
    let agent_id = stats["agent_id"].as_str().unwrap();
    client
        .send(
            &admin,
            reqwest::Method::DELETE,
            &format!("/api/v1/agents/{agent_id}"),
            b"",
        )
        .unwrap();
    let mut refused = agent(data.path(), &addr, &enrol, "1");
    let (ok, _, stderr) = wait(&mut refused, Duration::from_secs(60));
    assert!(!ok);
    assert!(stderr.contains("error: agent_refused"), "{stderr}");
    assert_eq!(
        received(),
        REPORTS as i64,
        "nothing from a revoked agent is counted"
    );
    server.kill().unwrap();
    server.wait().unwrap();
}
