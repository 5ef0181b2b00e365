//! The agent against a real Crowsnest server (the API served on a local port over a SQLite
//! store, with a vulnerability database built from the OSV fixtures): registration, reports
//! from a real Podman store, ListLocalImages' counts and filters from what the agent
//! reported, idempotent resends, offline detection and revocation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crowsnest_agent::client::{Key, ServerClient};
use crowsnest_agent::queue::QueueLimits;
use crowsnest_agent::runtime::containerd::Containerd as ContainerdStore;
use crowsnest_agent::runtime::storage::ContainersStorage;
use crowsnest_agent::runtime::Runtime;
use crowsnest_agent::{Agent, AgentOptions, HostIdentity};
use crowsnest_api::{AgentSettings, AppState, Settings};
use crowsnest_image::Limits;
use crowsnest_scan::Scanner;
use crowsnest_store::{NewTenant, Store, VulnCounts};
use crowsnest_testkit::fixture;
use reqwest::Method;
use serde_json::Value;
use support::*;

struct Server {
    base: String,
    store: Store,
    _rt: tokio::runtime::Runtime,
}

fn start_server(dir: &Path, vulndb: &Path) -> Server {
    let store = Store::open_sqlite(&dir.join("crowsnest.db")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::with_settings(
        store.clone(),
        Settings {
            vulndb: Some(vulndb.to_owned()),
            agents: AgentSettings {
                heartbeat_interval_ms: 1_000,
                offline_after_ms: 1_500,
            },
            ..Settings::default()
        },
    );
    rt.spawn(crowsnest_api::serve_listener(listener, state));
    Server {
        base,
        store,
        _rt: rt,
    }
}

fn options(server: &str, enrol: &Key, state_dir: &Path, storage_root: &Path) -> AgentOptions {
    options_with(
        server,
        enrol,
        state_dir,
        vec![Box::new(ContainersStorage::open(storage_root).unwrap())],
    )
}

fn options_with(
    server: &str,
    enrol: &Key,
    state_dir: &Path,
    runtimes: Vec<Box<dyn Runtime>>,
) -> AgentOptions {
    AgentOptions {
        server: server.to_owned(),
        enrol_key: Some(enrol.clone()),
        state_dir: state_dir.to_owned(),
        runtimes,
        report_interval: Duration::from_millis(200),
        heartbeat_interval: Duration::from_millis(200),
        queue: QueueLimits::default(),
        host: HostIdentity {
            uid: "host-e2e-1".into(),
            name: "node-1".into(),
            private_ip: String::new(),
            public_ip: "203.0.113.7".into(),
        },
        max_reports: Some(1),
        request_timeout: Duration::from_secs(30),
    }
}

fn list_local_images(base: &str, token: &str, query: &[(&str, &str)]) -> Value {
    let resp = reqwest::blocking::Client::new()
        .get(format!("{base}/v5/p1/image/local-repositories"))
        .query(query)
        .header("x-auth-token", token)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().unwrap()
}

fn total(v: &Value) -> i64 {
    v["total_num"].as_i64().unwrap()
}

#[test]
fn reports_fill_list_local_images_once_per_report() {
    if !can_run_runtimes(&["podman"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let podman = Podman::with_acme_shop(&dir.path().join("podman"));
    let vulndb = dir.path().join("vulndb.sqlite");
    for eco in ["Maven", "npm"] {
        crowsnest_vulndb::import_path(&vulndb, &fixture(&format!("osv/{eco}/all.zip"))).unwrap();
    }
    let server = start_server(dir.path(), &vulndb);
    let store = server.store.clone();
    let tenant = store
        .create_tenant(&NewTenant {
            name: "shop".into(),
            account_id: "1001".into(),
        })
        .unwrap();
    store.add_project(tenant, "p1", "cn-north-4").unwrap();
    let enrol = crowsnest_api::keys::create(&store, tenant, &["crowsnest:RegisterAgent"]).unwrap();
    let enrol = Key {
        id: enrol.id,
        secret: enrol.secret,
    };
    let admin = crowsnest_api::keys::create(&store, tenant, &["*"]).unwrap();
    let admin = Key {
        id: admin.id,
        secret: admin.secret,
    };
    let token = crowsnest_api::keys::create_token(&store, tenant, &["*"], 3_600_000).unwrap();

    // First run: registers, scans acme-shop in place, reports once.
    let state_dir = dir.path().join("agent");
    let mut agent = Agent::start(options(&server.base, &enrol, &state_dir, &podman.root)).unwrap();
    let stats = agent.run(&AtomicBool::new(false)).unwrap();
    assert_eq!(
        (
            stats.reports_made,
            stats.reports_accepted,
            stats.images_scanned
        ),
        (1, 1, 1),
        "{stats:?}"
    );
    assert_eq!(stats.agent_id.len(), 64);

    // What ListLocalImages must show, from the fixture scanned directly and matched against
    // the same database (the oracle).
    let direct = Scanner::new(Limits::default())
        .scan_image(
            fixture("images/acme-shop.oci.tar").to_str().unwrap(),
            &mut |_| {},
        )
        .unwrap();
    let db = crowsnest_vulndb::VulnDb::open(&vulndb).unwrap();
    let counts = VulnCounts::of(&crowsnest_vulndb::match_inventory(&db, &direct).unwrap());
    assert!(
        counts.total() > 0,
        "the fixture has vulnerable lodash and SnakeYAML"
    );

    let page = list_local_images(&server.base, &token, &[]);
    assert_eq!(total(&page), 1, "{page}");
    let row = &page["data_list"][0];
    assert_eq!(row["image_name"], "localhost/acme-shop");
    assert_eq!(row["image_version"], "latest");
    assert_eq!(row["local_image_type"], "other_image");
    assert_eq!(row["scan_status"], "success");
    assert_eq!(row["host_num"], 1);
    assert_eq!(row["container_num"], 1);
    assert_eq!(row["component_num"], direct.packages.len() as i64);
    assert_eq!(row["vul_num"], counts.total());
    assert_eq!(row["severity_level"], counts.level());
    assert_eq!(row["host_name"], "node-1");
    assert_eq!(row["host_id"], "host-e2e-1");
    assert_eq!(row["agent_id"], stats.agent_id.as_str());
    let oracle: Value = serde_json::from_str(&podman.run(&["images", "--format", "json"])).unwrap();
    assert_eq!(row["image_digest"], oracle[0]["Digest"]);

    for (query, want) in [
        (vec![("app_name", "django")], 1),
        (vec![("app_name", "log4j")], 1),
        (vec![("app_name", "nginx")], 0),
        (vec![("host_ip", "203.0.113.7")], 1),
        (vec![("host_name", "node")], 1),
        (vec![("container_name", "web")], 1),
        (vec![("has_container", "false")], 0),
        (vec![("has_vul", "true")], 1),
        (vec![("image_name", "acme"), ("image_version", "latest")], 1),
    ] {
        let page = list_local_images(&server.base, &token, &query);
        assert_eq!(total(&page), want, "{query:?}: {page}");
    }

    // A restarted agent keeps its key and does not scan or resend a delivered inventory.
    let mut again = Agent::start(AgentOptions {
        enrol_key: None,
        ..options(&server.base, &enrol, &state_dir, &podman.root)
    })
    .unwrap();
    let stats2 = again.run(&AtomicBool::new(false)).unwrap();
    assert_eq!(stats2.agent_id, stats.agent_id);
    assert_eq!((stats2.reports_accepted, stats2.images_scanned), (1, 0));
    let report = again.collect();
    assert!(report.scans.is_empty());
    assert_eq!(report.images.len(), 1);
    assert_eq!(total(&list_local_images(&server.base, &token, &[])), 1);

    // The same report sent twice (its answer lost) is applied and counted once.
    let creds: Value =
        serde_json::from_slice(&std::fs::read(state_dir.join("credentials.json")).unwrap())
            .unwrap();
    let agent_key = Key {
        id: creds["access_key_id"].as_str().unwrap().into(),
        secret: creds["access_key_secret"].as_str().unwrap().into(),
    };
    let client = ServerClient::new(&server.base, Duration::from_secs(30)).unwrap();
    let body = serde_json::to_vec(&report).unwrap();
    let first: Value = serde_json::from_slice(
        &client
            .post(&agent_key, "/api/v1/agents/reports", &body)
            .unwrap()
            .body,
    )
    .unwrap();
    let second: Value = serde_json::from_slice(
        &client
            .post(&agent_key, "/api/v1/agents/reports", &body)
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(
        (first["duplicate"].as_bool(), second["duplicate"].as_bool()),
        (Some(false), Some(true))
    );
    let listed: Value = serde_json::from_slice(
        &client
            .send(&admin, Method::GET, "/api/v1/agents", b"")
            .unwrap()
            .body,
    )
    .unwrap();
    let me = &listed["agents"][0];
    assert_eq!(
        me["reports_received"], 3,
        "two runs and one (resent) report: {listed}"
    );
    assert_eq!(me["status"], "online");

    // A report for another host is refused: an agent speaks only for its own host.
    let mut other = report.clone();
    other.host.uid = "someone-else".into();
    other.report_id = "r-other".into();
    let err = client
        .post(
            &agent_key,
            "/api/v1/agents/reports",
            &serde_json::to_vec(&other).unwrap(),
        )
        .unwrap_err();
    assert_eq!(err.code(), "report_rejected", "{err}");

    // Offline after the window without heartbeats.
    std::thread::sleep(Duration::from_millis(1_700));
    let listed: Value = serde_json::from_slice(
        &client
            .send(&admin, Method::GET, "/api/v1/agents", b"")
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(listed["agents"][0]["status"], "offline", "{listed}");

    // Revoked: the agent's key is refused from then on.
    client
        .send(
            &admin,
            Method::DELETE,
            &format!("/api/v1/agents/{}", stats.agent_id),
            b"",
        )
        .unwrap();
    let mut revoked = Agent::start(AgentOptions {
        enrol_key: None,
        ..options(&server.base, &enrol, &state_dir, &podman.root)
    })
    .unwrap();
    let err = revoked.heartbeat().unwrap_err();
    assert_eq!(err.code(), "agent_refused", "{err}");
    let err = revoked.run(&AtomicBool::new(false)).unwrap_err();
    assert_eq!(err.code(), "agent_refused");
    assert_eq!(
        revoked.queued().unwrap(),
        1,
        "the refused report stays queued"
    );
    let listed: Value = serde_json::from_slice(
        &client
            .send(&admin, Method::GET, "/api/v1/agents", b"")
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(listed["agents"][0]["status"], "revoked");
    // The enrolment key itself may not report.
    let err = client
        .post(&enrol, "/api/v1/agents/reports", &body)
        .unwrap_err();
    assert_eq!(err.code(), "agent_refused");
}

/// Kubernetes pods from containerd's CRI records reach ListLocalImages: a pod sandbox (a
/// container labelled `io.cri-containerd.kind=sandbox`) and two containers of its pod, one
/// with the kubelet's pod labels and one naming its sandbox only in its spec annotation, in a
/// real containerd (`ctr containers create`: metadata only, nothing runs).
#[test]
fn containerd_pods_reach_list_local_images() {
    if !can_run_runtimes(&["containerd", "ctr"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ctd = Containerd::start(&dir.path().join("containerd"));
    let alpine = alpine_tar(dir.path());
    ctd.ctr_ok(&[
        "images",
        "import",
        "--snapshotter",
        "native",
        "--base-name",
        "docker.io/library/alpine",
        alpine.to_str().unwrap(),
    ]);
    let image = "docker.io/library/alpine:3.10";
    let sandbox = "0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4";
    let uid = "3f2e1d0c-9b8a-4765-8432-10fedcba9876";
    let create = |id: &str, extra: &[&str]| {
        let mut args = vec!["containers", "create", "--snapshotter", "native"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[image, id]);
        ctd.ctr_ok(&args);
    };
    let uid_label = format!("io.kubernetes.pod.uid={uid}");
    let sandbox_annotation = format!("io.kubernetes.cri.sandbox-id={sandbox}");
    create(
        sandbox,
        &[
            "--label",
            "io.cri-containerd.kind=sandbox",
            "--label",
            &uid_label,
            "--label",
            "io.kubernetes.pod.name=checkout-5f7d",
            "--label",
            "io.kubernetes.pod.namespace=shop",
        ],
    );
    create(
        "checkout-app",
        &[
            "--label",
            "io.cri-containerd.kind=container",
            "--label",
            &uid_label,
            "--label",
            "io.kubernetes.pod.name=checkout-5f7d",
            "--label",
            "io.kubernetes.pod.namespace=shop",
            "--label",
            "io.kubernetes.container.name=app",
        ],
    );
    create(
        "checkout-sidecar",
        &[
            "--label",
            "io.cri-containerd.kind=container",
            "--annotation",
            &sandbox_annotation,
            "--annotation",
            "io.kubernetes.cri.container-name=sidecar",
        ],
    );

    let vulndb = dir.path().join("vulndb.sqlite");
    crowsnest_vulndb::import_path(&vulndb, &fixture("osv/npm/all.zip")).unwrap();
    let server = start_server(dir.path(), &vulndb);
    let store = server.store.clone();
    let tenant = store
        .create_tenant(&NewTenant {
            name: "k8s".into(),
            account_id: "1002".into(),
        })
        .unwrap();
    store.add_project(tenant, "p1", "cn-north-4").unwrap();
    let enrol = crowsnest_api::keys::create(&store, tenant, &["crowsnest:RegisterAgent"]).unwrap();
    let enrol = Key {
        id: enrol.id,
        secret: enrol.secret,
    };
    let token = crowsnest_api::keys::create_token(&store, tenant, &["*"], 3_600_000).unwrap();
    let runtime = ContainerdStore::new(&ctd.root).with_state_dir(&ctd.state);
    let mut agent = Agent::start(options_with(
        &server.base,
        &enrol,
        &dir.path().join("agent"),
        vec![Box::new(runtime)],
    ))
    .unwrap();
    let report = agent.collect();
    let mut pods: Vec<(&str, &str, &str)> = report
        .pods
        .iter()
        .map(|p| (p.uid.as_str(), p.name.as_str(), p.namespace.as_str()))
        .collect();
    pods.sort();
    assert_eq!(pods, vec![(uid, "checkout-5f7d", "shop")]);
    let stats = agent.run(&AtomicBool::new(false)).unwrap();
    assert_eq!((stats.reports_accepted, stats.images_scanned), (1, 1));

    let page = list_local_images(&server.base, &token, &[]);
    assert_eq!(total(&page), 1, "{page}");
    // The sandbox is the pod, not one of its containers.
    assert_eq!(page["data_list"][0]["container_num"], 2, "{page}");
    for (query, want) in [
        (vec![("pod_id", uid)], 1),
        (vec![("pod_name", "checkout")], 1),
        (vec![("pod_name", "cart")], 0),
        (vec![("pod_id", "00000000-0000-0000-0000-000000000000")], 0),
        (vec![("container_name", "sidecar")], 1),
        (vec![("container_id", "checkout-sidecar")], 1),
        (vec![("container_id", sandbox)], 0),
        (vec![("has_container", "true")], 1),
    ] {
        let page = list_local_images(&server.base, &token, &query);
        assert_eq!(total(&page), want, "{query:?}: {page}");
    }
}
