//! The native admin API under `/api/v1/` against a real server: every endpoint with valid,
//! missing and wrong credentials, tenant isolation of keys, and the served OpenAPI document
//! checked by openapi-spec-validator, with every response seen here checked against it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use crowsnest_api::keys::AccessKey;
use crowsnest_api::native;
use crowsnest_api::Settings;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::python::{scripts_dir, sdk_python};
use support::*;

/// How a request authenticates.
#[derive(Clone, Copy)]
enum Cred<'a> {
    Nothing,
    Token(&'a str),
    Key(&'a AccessKey),
}

/// One response, kept for checking against the OpenAPI document.
struct Sample {
    method: &'static str,
    /// The path as the document spells it (`/api/v1/keys/{access_key_id}`).
    template: &'static str,
    status: u16,
    body: Option<Value>,
}

struct Client<'s> {
    server: &'s TestServer,
    samples: Vec<Sample>,
}

impl Client<'_> {
    /// Sends `method path` with `body`, records the response and returns it.
    async fn call(
        &mut self,
        cred: Cred<'_>,
        method: &'static str,
        template: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let bytes = body
            .map(|b| serde_json::to_vec(b).unwrap())
            .unwrap_or_default();
        let mut req = reqwest::Client::new().request(
            method.to_ascii_uppercase().parse().unwrap(),
            format!("{}{path}", self.server.base),
        );
        match cred {
            Cred::Nothing => {}
            Cred::Token(t) => req = req.header("x-auth-token", t),
            Cred::Key(key) => {
                let signed = self
                    .server
                    .huawei_sign_request(key, method, path, &[], &bytes, 0);
                req = req
                    .header("x-sdk-date", signed.date)
                    .header("authorization", signed.authorization);
            }
        }
        if body.is_some() {
            req = req.header("content-type", "application/json").body(bytes);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let value: Option<Value> = (!text.is_empty()).then(|| {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
        });
        self.samples.push(Sample {
            method,
            template,
            status: status.as_u16(),
            body: value.clone(),
        });
        (status, value.unwrap_or(Value::Null))
    }
}

impl Client<'_> {
    async fn list_keys(&mut self, cred: Cred<'_>) -> (StatusCode, Value) {
        self.call(cred, "get", "/api/v1/keys", "/api/v1/keys", None)
            .await
    }

    async fn create_key(&mut self, cred: Cred<'_>, body: &Value) -> (StatusCode, Value) {
        self.call(cred, "post", "/api/v1/keys", "/api/v1/keys", Some(body))
            .await
    }

    async fn revoke_key(&mut self, cred: Cred<'_>, id: &str) -> (StatusCode, Value) {
        let path = format!("/api/v1/keys/{id}");
        self.call(cred, "delete", "/api/v1/keys/{access_key_id}", &path, None)
            .await
    }

    async fn scan_task(&mut self, cred: Cred<'_>, id: &str) -> (StatusCode, Value) {
        let path = format!("/api/v1/scan-tasks/{id}");
        self.call(cred, "get", "/api/v1/scan-tasks/{task_id}", &path, None)
            .await
    }

    async fn cancel_scan_task(&mut self, cred: Cred<'_>, id: &str) -> (StatusCode, Value) {
        let path = format!("/api/v1/scan-tasks/{id}/cancel");
        self.call(
            cred,
            "post",
            "/api/v1/scan-tasks/{task_id}/cancel",
            &path,
            None,
        )
        .await
    }

    async fn database_status(&mut self, cred: Cred<'_>) -> (StatusCode, Value) {
        let path = "/api/v1/database/status";
        self.call(cred, "get", path, path, None).await
    }

    async fn import_vm(&mut self, cred: Cred<'_>, body: &Value) -> (StatusCode, Value) {
        let path = "/api/v1/vm-images";
        self.call(cred, "post", path, path, Some(body)).await
    }

    /// Uploads `disk` as the body of an import named by `query`.
    async fn upload_vm(
        &mut self,
        cred: Cred<'_>,
        query: &str,
        disk: Vec<u8>,
    ) -> (StatusCode, Value) {
        let path = format!("/api/v1/vm-images?{query}");
        let mut req = reqwest::Client::new()
            .post(format!("{}{path}", self.server.base))
            .header("content-type", "application/octet-stream");
        match cred {
            Cred::Nothing => {}
            Cred::Token(t) => req = req.header("x-auth-token", t),
            Cred::Key(key) => {
                let pairs: Vec<(&str, &str)> = query
                    .split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .collect();
                let signed = self.server.huawei_sign_request(
                    key,
                    "POST",
                    "/api/v1/vm-images",
                    &pairs,
                    &disk,
                    0,
                );
                req = req
                    .header("x-sdk-date", signed.date)
                    .header("authorization", signed.authorization);
            }
        }
        let resp = req.body(disk).send().await.unwrap();
        let status = resp.status();
        let value: Value = resp.json().await.unwrap();
        self.samples.push(Sample {
            method: "post",
            template: "/api/v1/vm-images",
            status: status.as_u16(),
            body: Some(value.clone()),
        });
        (status, value)
    }

    async fn get_vm(&mut self, cred: Cred<'_>, id: &str) -> (StatusCode, Value) {
        let path = format!("/api/v1/vm-images/{id}");
        self.call(cred, "get", "/api/v1/vm-images/{image_id}", &path, None)
            .await
    }

    async fn vm_findings(&mut self, cred: Cred<'_>, id: &str) -> (StatusCode, Value) {
        let path = format!("/api/v1/vm-images/{id}/findings");
        self.call(
            cred,
            "get",
            "/api/v1/vm-images/{image_id}/findings",
            &path,
            None,
        )
        .await
    }

    /// Reads the image until its import has ended (two minutes at most).
    async fn vm_after_import(&mut self, cred: Cred<'_>, id: &str) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let (status, image) = self.get_vm(cred, id).await;
            assert_eq!(status, 200, "{image}");
            if image["Status"] != "Creating" {
                return image;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still importing: {image}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    async fn share_vm(&mut self, cred: Cred<'_>, id: &str, account: &str) -> (StatusCode, Value) {
        let path = format!("/api/v1/vm-images/{id}/shares");
        let body = json!({ "account_id": account });
        self.call(
            cred,
            "post",
            "/api/v1/vm-images/{image_id}/shares",
            &path,
            Some(&body),
        )
        .await
    }

    async fn unshare_vm(&mut self, cred: Cred<'_>, id: &str, account: &str) -> (StatusCode, Value) {
        let path = format!("/api/v1/vm-images/{id}/shares/{account}");
        self.call(
            cred,
            "delete",
            "/api/v1/vm-images/{image_id}/shares/{account_id}",
            &path,
            None,
        )
        .await
    }

    async fn publish_vm(&mut self, cred: Cred<'_>, id: &str, body: &Value) -> (StatusCode, Value) {
        let path = format!("/api/v1/vm-images/{id}/public");
        self.call(
            cred,
            "put",
            "/api/v1/vm-images/{image_id}/public",
            &path,
            Some(body),
        )
        .await
    }

    async fn add_instance(
        &mut self,
        cred: Cred<'_>,
        id: &str,
        instance: &str,
    ) -> (StatusCode, Value) {
        let path = format!("/api/v1/vm-images/{id}/instances");
        let body = json!({ "instance_id": instance });
        self.call(
            cred,
            "post",
            "/api/v1/vm-images/{image_id}/instances",
            &path,
            Some(&body),
        )
        .await
    }

    async fn remove_instance(
        &mut self,
        cred: Cred<'_>,
        id: &str,
        instance: &str,
    ) -> (StatusCode, Value) {
        let path = format!("/api/v1/vm-images/{id}/instances/{instance}");
        self.call(
            cred,
            "delete",
            "/api/v1/vm-images/{image_id}/instances/{instance_id}",
            &path,
            None,
        )
        .await
    }
}

/// The ids DescribeImages lists.
fn ecs_ids(v: &Value) -> Vec<String> {
    v["Images"]["Image"]
        .as_array()
        .unwrap_or_else(|| panic!("not a DescribeImages answer: {v}"))
        .iter()
        .map(|i| i["ImageId"].as_str().unwrap().to_owned())
        .collect()
}

/// Real disks in the import directory `dir`: `gpt.raw` (GPT with an EFI system partition,
/// cloud-init installed) and `broken.qcow2` (the first half of a compressed qcow2).
fn vm_disks(dir: &Path) {
    let root = vm::Root {
        os_id: "debian",
        os_name: "Debian GNU/Linux",
        version_id: "12",
        cloud_init: true,
    };
    let work = vm::scratch("native-vm");
    let ext4 = work.join("root.ext4");
    vm::ext4(&root, &work, &ext4);
    crowsnest_testkit::disk::partitioned(
        &ext4,
        crowsnest_testkit::disk::Table::GptWithEsp,
        &dir.join("gpt.raw"),
    );
    let qcow = work.join("whole.qcow2");
    crowsnest_testkit::disk::qcow2_compressed(&ext4, &qcow);
    let bytes = std::fs::read(&qcow).unwrap();
    std::fs::write(dir.join("broken.qcow2"), &bytes[..bytes.len() / 2]).unwrap();
    let _ = std::fs::remove_dir_all(work);
}

/// Asserts that `reply` is the native error `status` with `code`, and returns its body.
#[track_caller]
fn expect_error(reply: (StatusCode, Value), status: StatusCode, code_: &str) -> Value {
    let (got, body) = reply;
    assert_eq!((got, code(&body)), (status, code_), "{body}");
    body
}

fn code(body: &Value) -> &str {
    assert!(
        body["message"].is_string() && body["request_id"].is_string(),
        "not the native envelope: {body}"
    );
    body["code"].as_str().unwrap_or_default()
}

/// A vulnerability database built from two small OSV fixture archives.
fn vulndb(dir: &Path) -> PathBuf {
    let db = dir.join("vulndb.sqlite");
    for eco in ["Maven", "npm"] {
        let zip = crowsnest_testkit::fixture(&format!("osv/{eco}/all.zip"));
        crowsnest_vulndb::import_path(&db, &zip).unwrap();
    }
    db
}

/// How many OSV records an archive holds, counted by Python's zipfile (the oracle).
fn zip_records(python: &Path, eco: &str) -> u64 {
    let zip = crowsnest_testkit::fixture(&format!("osv/{eco}/all.zip"));
    let out = Command::new(python)
        .args([
            "-c",
            "import sys, zipfile; print(sum(n.endswith('.json') for n in zipfile.ZipFile(sys.argv[1]).namelist()))",
        ])
        .arg(zip)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_api_endpoints_auth_and_openapi() {
    let Some(python) = sdk_python() else {
        return;
    };
    if !vm::tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = vulndb(dir.path());
    let imports = dir.path().join("imports");
    std::fs::create_dir_all(&imports).unwrap();
    vm_disks(&imports);
    let server = start_with_importer(
        Settings {
            vulndb: Some(db),
            vm_import_dir: Some(imports.clone()),
            vm_upload_dir: Some(dir.path().join("uploads")),
            registry_key: Some(std::sync::Arc::new(
                crowsnest_registry::ServerKey::load_or_create(dir.path()).unwrap(),
            )),
            ..Settings::default()
        },
        std::sync::Arc::new(vm::VmReader),
    )
    .await;
    let seed = &server.seed;
    let store = server.store.clone();
    let (a, b) = (seed.a, seed.b);
    let (token, b_token) = tokio::task::spawn_blocking(move || {
        (
            crowsnest_api::keys::create_token(&store, a, &["crowsnest:*"], 3_600_000).unwrap(),
            crowsnest_api::keys::create_token(&store, b, &["*"], 3_600_000).unwrap(),
        )
    })
    .await
    .unwrap();
    let mut c = Client {
        server: &server,
        samples: Vec::new(),
    };

    // Health and the document need no credentials.
    let (status, health) = c
        .call(
            Cred::Nothing,
            "get",
            "/api/v1/health",
            "/api/v1/health",
            None,
        )
        .await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["store"]["engine"], "sqlite");
    let schema_version = {
        let store = server.store.clone();
        tokio::task::spawn_blocking(move || store.schema_version().unwrap())
            .await
            .unwrap()
    };
    assert_eq!(health["store"]["schema_version"], schema_version);
    assert_eq!(health["vulndb"]["present"], true);
    let (status, document) = c
        .call(
            Cred::Nothing,
            "get",
            "/api/v1/openapi.json",
            "/api/v1/openapi.json",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.1.0");

    // Listing keys: a token, a signature, none, wrong ones, a policy without the action.
    let (status, list) = c.list_keys(Cred::Token(&token)).await;
    assert_eq!(status, 200, "{list}");
    let ids: Vec<&str> = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["access_key_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [seed.a_all.id.as_str(), seed.a_none.id.as_str()]);
    assert!(
        !list.to_string().contains(&seed.a_all.secret),
        "a listing must never show a secret"
    );
    let (status, signed) = c.list_keys(Cred::Key(&seed.a_all)).await;
    assert_eq!(status, 200, "{signed}");
    assert_eq!(signed["keys"], list["keys"]);
    for (cred, why) in [
        (Cred::Nothing, "no credentials"),
        (Cred::Token("cn1.not-a-token"), "an unknown token"),
        (
            Cred::Key(&AccessKey {
                id: seed.a_all.id.clone(),
                secret: "wrong-secret".into(),
            }),
            "a wrong secret",
        ),
    ] {
        let (status, body) = c.list_keys(cred).await;
        assert_eq!(status, 401, "{why}: {body}");
        assert_eq!(code(&body), native::CODE_UNAUTHENTICATED, "{why}");
    }
    let (status, body) = c.list_keys(Cred::Key(&seed.a_none)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(code(&body), native::CODE_FORBIDDEN);

    // Creating: the secret comes back once and works; bad bodies and escalation are refused.
    let (status, created) = c
        .create_key(
            Cred::Token(&token),
            &json!({ "actions": ["crowsnest:ListKeys", "crowsnest:RevokeKey"] }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let new_key = AccessKey {
        id: created["access_key_id"].as_str().unwrap().to_owned(),
        secret: created["access_key_secret"].as_str().unwrap().to_owned(),
    };
    let (status, list) = c.list_keys(Cred::Key(&new_key)).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["keys"].as_array().unwrap().len(), 3);
    assert_eq!(list["keys"][2]["access_key_id"], new_key.id.as_str());
    assert_eq!(list["keys"][2]["enabled"], true);
    for (body, why) in [
        (json!({ "actions": [] }), "no actions"),
        (json!({ "actions": ["oss:GetObject"] }), "an unknown action"),
        (json!({ "actions": ["*"] }), "more than the caller holds"),
        (
            json!({ "actions": ["hss:*"] }),
            "another service than the caller's",
        ),
        (
            json!({ "action": ["crowsnest:ListKeys"] }),
            "a misspelt field",
        ),
        (json!("crowsnest:ListKeys"), "not an object"),
    ] {
        let (status, resp) = c.create_key(Cred::Token(&token), &body).await;
        assert_eq!(status, 400, "{why}: {resp}");
        assert_eq!(code(&resp), native::CODE_INVALID_PARAMETER, "{why}");
    }
    // The new key holds ListKeys and RevokeKey only.
    expect_error(
        c.create_key(
            Cred::Key(&new_key),
            &json!({ "actions": ["crowsnest:ListKeys"] }),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    // Revoking: another tenant's key is not found and stays enabled; one's own key stops working.
    let (status, body) = c.revoke_key(Cred::Token(&token), &seed.b_all.id).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(code(&body), native::CODE_NOT_FOUND);
    let (status, b_list) = c.list_keys(Cred::Token(&b_token)).await;
    assert_eq!(status, 200);
    assert_eq!(b_list["keys"].as_array().unwrap().len(), 1, "{b_list}");
    assert_eq!(b_list["keys"][0]["access_key_id"], seed.b_all.id.as_str());
    assert_eq!(b_list["keys"][0]["enabled"], true);
    expect_error(
        c.revoke_key(Cred::Nothing, &new_key.id).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    let (status, body) = c.revoke_key(Cred::Key(&new_key), &new_key.id).await;
    assert_eq!(status, 204, "{body}");
    expect_error(
        c.list_keys(Cred::Key(&new_key)).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    let (_, list) = c.list_keys(Cred::Token(&token)).await;
    assert_eq!(list["keys"][2]["enabled"], false, "{list}");

    // Agents: registered with the token (crowsnest:* holds RegisterAgent), heartbeating and
    // reporting with their own key only, listed per tenant, revoked for good.
    let (status, reg) = c
        .call(
            Cred::Token(&token),
            "post",
            "/api/v1/agents",
            "/api/v1/agents",
            Some(&json!({ "host_uid": "host-1", "host_name": "node-1" })),
        )
        .await;
    assert_eq!(status, 201, "{reg}");
    assert_eq!(reg["agent_id"].as_str().unwrap().len(), 64);
    let agent_key = AccessKey {
        id: reg["access_key_id"].as_str().unwrap().to_owned(),
        secret: reg["access_key_secret"].as_str().unwrap().to_owned(),
    };
    let agent_id = reg["agent_id"].as_str().unwrap().to_owned();
    expect_error(
        c.call(
            Cred::Token(&token),
            "post",
            "/api/v1/agents",
            "/api/v1/agents",
            Some(&json!({ "host_uid": "" })),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    );
    let heartbeat = "/api/v1/agents/heartbeat";
    let (status, hb) = c
        .call(
            Cred::Key(&agent_key),
            "post",
            heartbeat,
            heartbeat,
            Some(&json!({ "sent_ms": 1, "queued": 0 })),
        )
        .await;
    assert_eq!(status, 200, "{hb}");
    assert_eq!(hb["agent_id"], agent_id.as_str());
    let (status, body) = c
        .call(
            Cred::Key(&seed.a_all),
            "post",
            heartbeat,
            heartbeat,
            Some(&json!({ "sent_ms": 2 })),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "forbidden"),
        "only agents' keys"
    );
    let reports = "/api/v1/agents/reports";
    let digest = format!("sha256:{}", "ab".repeat(32));
    let report = |created_ms: i64, host_uid: &str, digest: &str| {
        json!({
            "report_id": "r-1",
            "created_ms": created_ms,
            "host": { "uid": host_uid, "name": "node-1", "private_ip": "10.0.0.5", "os_type": "linux" },
            "images": [{ "name": "nginx", "tag": "1.25", "digest": digest, "size_bytes": 1000,
                         "updated_ms": 5, "image_type": "other_image", "runtime": "containerd" }],
            "containers": [{ "id": "c1", "name": "web", "image": "nginx:1.25", "image_digest": digest,
                             "status": "running", "created_ms": 4, "pod_uid": "pod-1" }],
            "pods": [{ "uid": "pod-1", "name": "web-abc", "namespace": "default" }],
            "scans": [],
            "scan_failures": []
        })
    };
    let (status, first) = c
        .call(
            Cred::Key(&agent_key),
            "post",
            reports,
            reports,
            Some(&report(1, "host-1", &digest)),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (first["duplicate"].as_bool(), first["images"].as_i64()),
        (Some(false), Some(1))
    );
    // The same report id again (a resend; the body differs only so that its signature does).
    let (status, again) = c
        .call(
            Cred::Key(&agent_key),
            "post",
            reports,
            reports,
            Some(&report(2, "host-1", &digest)),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["duplicate"], true);
    for (body, why) in [
        (report(3, "host-2", &digest), "another host"),
        (report(4, "host-1", "sha256:xyz"), "a malformed digest"),
        (json!({ "report_id": "r-2" }), "no host"),
    ] {
        let (status, resp) = c
            .call(Cred::Key(&agent_key), "post", reports, reports, Some(&body))
            .await;
        assert_eq!(
            (status, code(&resp)),
            (StatusCode::BAD_REQUEST, "invalid_parameter"),
            "{why}: {resp}"
        );
    }
    let (status, agents) = c
        .call(
            Cred::Token(&token),
            "get",
            "/api/v1/agents",
            "/api/v1/agents",
            None,
        )
        .await;
    assert_eq!(status, 200, "{agents}");
    let listed = &agents["agents"][0];
    assert_eq!(listed["agent_id"], agent_id.as_str());
    assert_eq!(listed["status"], "online");
    assert_eq!(
        listed["reports_received"], 1,
        "a resend is not counted: {agents}"
    );
    assert_eq!(listed["heartbeats_received"], 1);
    let (_, b_agents) = c
        .call(
            Cred::Token(&b_token),
            "get",
            "/api/v1/agents",
            "/api/v1/agents",
            None,
        )
        .await;
    assert_eq!(
        b_agents["agents"],
        json!([]),
        "tenant B sees none of A's agents"
    );
    let revoke_path = format!("/api/v1/agents/{agent_id}");
    expect_error(
        c.call(
            Cred::Token(&b_token),
            "delete",
            "/api/v1/agents/{agent_id}",
            &revoke_path,
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (status, _) = c
        .call(
            Cred::Token(&token),
            "delete",
            "/api/v1/agents/{agent_id}",
            &revoke_path,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = c
        .call(
            Cred::Key(&agent_key),
            "post",
            heartbeat,
            heartbeat,
            Some(&json!({ "sent_ms": 3 })),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthenticated"),
        "revoked"
    );
    let (_, agents) = c
        .call(
            Cred::Token(&token),
            "get",
            "/api/v1/agents",
            "/api/v1/agents",
            None,
        )
        .await;
    assert_eq!(agents["agents"][0]["status"], "revoked");

    // The vulnerability database's status, against the archives' own record counts.
    expect_error(
        c.database_status(Cred::Nothing).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    let (status, db) = c.database_status(Cred::Key(&seed.a_all)).await;
    assert_eq!(status, 200, "{db}");
    let (maven, npm) = (zip_records(&python, "Maven"), zip_records(&python, "npm"));
    assert_eq!(db["ecosystems"]["Maven"], maven, "{db}");
    assert_eq!(db["ecosystems"]["npm"], npm, "{db}");
    assert_eq!(db["records"], maven + npm);
    assert!(db["updated_at"].as_str().unwrap().starts_with("20"), "{db}");
    assert_eq!(
        db["sources"][0]["source"], "all.zip",
        "no server paths: {db}"
    );
    expect_error(
        c.database_status(Cred::Key(&seed.a_none)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    // Scan tasks: A's task read by its id with one queued job per digest; another tenant's
    // caller, an unknown id and an overlong id are refused; a cancel ends the task and its
    // jobs, and a second cancel is a conflict.
    let store = server.store.clone();
    let created = tokio::task::spawn_blocking(move || {
        store
            .create_scan_task_with_jobs(
                a,
                &crowsnest_store::NewScanTask {
                    task_uid: "nt-1".into(),
                    selection: json!({}),
                    total_count: 0,
                    collect_ms: 5,
                },
                &crowsnest_store::Filter::True,
                10,
            )
            .unwrap()
    })
    .await
    .unwrap();
    let crowsnest_store::TaskCreation::Created { jobs, .. } = created else {
        panic!("{created:?}");
    };
    assert!(jobs > 1, "the seed gives tenant A several images");
    let (status, task) = c.scan_task(Cred::Token(&token), "nt-1").await;
    assert_eq!(status, 200, "{task}");
    assert_eq!(
        (&task["status"], &task["total_count"], &task["finish_count"]),
        (&json!("INIT"), &json!(jobs), &json!(0))
    );
    assert_eq!(task["jobs"].as_array().unwrap().len() as i64, jobs);
    assert!(task["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|j| j["state"] == "queued" && j["mode"] == "pull"));
    expect_error(
        c.scan_task(Cred::Token(&b_token), "nt-1").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    expect_error(
        c.scan_task(Cred::Key(&seed.a_all), "nope").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    expect_error(
        c.scan_task(Cred::Token(&token), &"x".repeat(200)).await,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    );
    expect_error(
        c.scan_task(Cred::Key(&seed.a_none), "nt-1").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    expect_error(
        c.cancel_scan_task(Cred::Token(&b_token), "nt-1").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (status, cancelled) = c.cancel_scan_task(Cred::Token(&token), "nt-1").await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "CANCELLED");
    assert!(cancelled["finished_ms"].is_i64());
    assert!(cancelled["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|j| j["state"] == "cancelled"));
    expect_error(
        c.cancel_scan_task(Cred::Token(&token), "nt-1").await,
        StatusCode::CONFLICT,
        native::CODE_CONFLICT,
    );

    // VM images: an import answers at once with the image Creating, and ends Available with
    // what the disk holds.
    let (status, created) = c
        .import_vm(
            Cred::Token(&token),
            &json!({
                "path": "gpt.raw",
                "name": "debian-uefi",
                "region_id": "cn-hangzhou",
                "image_family": "debian-12",
                "tags": { "env": "prod" }
            }),
        )
        .await;
    assert_eq!(status, 202, "{created}");
    assert_eq!(created["Status"], "Creating", "{created}");
    assert_eq!(created["ImageOwnerAlias"], "self");
    assert_eq!(
        created["DiskDeviceMappings"]["DiskDeviceMapping"][0]["Format"],
        "raw"
    );
    assert_eq!(
        created["DiskDeviceMappings"]["DiskDeviceMapping"][0]["ImportOSSObject"],
        "gpt.raw"
    );
    let uefi = created["ImageId"].as_str().unwrap().to_owned();
    let image = c.vm_after_import(Cred::Token(&token), &uefi).await;
    assert_eq!(image["Status"], "Available", "{image}");
    assert_eq!(image["Progress"], "100%");
    assert_eq!(image["RemainTime"], 0);
    assert_eq!(image["BootMode"], "UEFI");
    assert_eq!(image["Architecture"], vm::host_architecture());
    assert_eq!(image["OSName"], "Debian GNU/Linux 12");
    assert_eq!(image["IsSupportCloudinit"], true);
    assert_eq!(image["ImageFamily"], "debian-12");
    assert_eq!(
        image["Tags"]["Tag"][0],
        json!({"TagKey": "env", "TagValue": "prod"})
    );
    assert_eq!(image["DetectionOptions"]["Status"], "Finished");
    assert_eq!(image["Usage"], "none");
    assert_eq!(image["IsPublic"], false);
    // The importer's inventory is stored under the image and matched against the server's
    // database at import: the summary carries that build (no packages, nothing found).
    let summary = &image["ScanSummary"];
    let build = summary["VulnDbBuild"].as_str().unwrap().to_owned();
    assert!(!build.is_empty(), "{image}");
    assert_eq!(
        (&summary["VulnerabilityCount"], &summary["SeverityLevel"]),
        (&json!(0), &json!("Security"))
    );
    let (status, found) = c.vm_findings(Cred::Token(&token), &uefi).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["InventoryDigest"], summary["InventoryDigest"]);
    assert_eq!(found["VulnDbBuild"], build.as_str());
    assert_eq!(found["Vulnerabilities"], json!([]));
    // Tenant B cannot see A's private image, nor its findings.
    let (status, body) = c.vm_findings(Cred::Token(&b_token), &uefi).await;
    assert_eq!((status.as_u16(), code(&body)), (404, "not_found"));

    // A truncated qcow2 ends CreateFailed with the reason.
    let (status, created) = c
        .import_vm(
            Cred::Key(&seed.a_all),
            &json!({ "path": "broken.qcow2", "name": "broken", "region_id": "cn-hangzhou" }),
        )
        .await;
    assert_eq!(status, 202, "{created}");
    assert_eq!(
        created["DiskDeviceMappings"]["DiskDeviceMapping"][0]["Format"],
        "qcow2"
    );
    let broken = created["ImageId"].as_str().unwrap().to_owned();
    let image = c.vm_after_import(Cred::Token(&token), &broken).await;
    assert_eq!(image["Status"], "CreateFailed", "{image}");
    assert_eq!(image["FailureCode"], "invalid_image", "{image}");
    let reason = image["FailureReason"].as_str().unwrap();
    assert!(reason.contains("qcow2"), "{reason}");
    let item = &image["DetectionOptions"]["Items"]["Item"][0];
    assert_eq!(
        (&item["Name"], &item["RiskLevel"]),
        (&json!("ImageImport"), &json!("High"))
    );
    // A failed import stored no inventory: no summary, and no findings to show.
    assert!(image.get("ScanSummary").is_none(), "{image}");
    let (status, body) = c.vm_findings(Cred::Token(&token), &broken).await;
    assert_eq!((status.as_u16(), code(&body)), (404, "not_found"));

    // The same disk uploaded as the body, kept in the tenant's own upload directory; a
    // signature (which would cover the whole body) does not authenticate an upload.
    let disk_bytes = std::fs::read(imports.join("gpt.raw")).unwrap();
    let (status, created) = c
        .upload_vm(
            Cred::Token(&token),
            "name=uploaded&region_id=cn-hangzhou",
            disk_bytes.clone(),
        )
        .await;
    assert_eq!(status, 202, "{created}");
    let uploaded = created["ImageId"].as_str().unwrap().to_owned();
    let image = c.vm_after_import(Cred::Token(&token), &uploaded).await;
    assert_eq!(
        (&image["Status"], &image["BootMode"]),
        (&json!("Available"), &json!("UEFI")),
        "{image}"
    );
    // Refused uploads send a little: the server answers before reading the body.
    let head = disk_bytes[..4096].to_vec();
    let kept = dir
        .path()
        .join("uploads")
        .join(seed.a.0.to_string())
        .join(format!("{uploaded}.disk"));
    assert_eq!(std::fs::read(&kept).unwrap(), disk_bytes);
    expect_error(
        c.upload_vm(
            Cred::Key(&seed.a_all),
            "name=signed&region_id=cn-hangzhou",
            head.clone(),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    let (status, body) = c
        .upload_vm(Cred::Token(&token), "region_id=cn-hangzhou", head)
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_parameter"),
        "no name"
    );
    let (status, body) = c
        .upload_vm(
            Cred::Token(&token),
            "name=empty&region_id=cn-hangzhou",
            Vec::new(),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_parameter"),
        "no disk"
    );

    // Imports name files inside the import directory only, and other bad bodies.
    let outside = dir.path().join("vulndb.sqlite");
    for (body, why) in [
        (
            json!({ "path": "../vulndb.sqlite", "name": "x", "region_id": "cn-hangzhou" }),
            "a relative path out",
        ),
        (
            json!({ "path": outside.to_str().unwrap(), "name": "x", "region_id": "cn-hangzhou" }),
            "an absolute path out",
        ),
        (
            json!({ "path": "/etc/passwd", "name": "x", "region_id": "cn-hangzhou" }),
            "a system file",
        ),
        (
            json!({ "path": "missing.qcow2", "name": "x", "region_id": "cn-hangzhou" }),
            "a missing file",
        ),
        (
            json!({ "path": ".", "name": "x", "region_id": "cn-hangzhou" }),
            "a directory",
        ),
        (
            json!({ "path": "gpt.raw", "name": "", "region_id": "cn-hangzhou" }),
            "an empty name",
        ),
        (
            json!({ "path": "gpt.raw", "name": "x", "region_id": "cn hangzhou" }),
            "a bad region",
        ),
        (json!({ "path": "gpt.raw", "name": "x" }), "no region"),
        (
            json!({ "path": "gpt.raw", "name": "x", "region_id": "r", "owner": 1 }),
            "an unknown field",
        ),
    ] {
        let (status, resp) = c.import_vm(Cred::Token(&token), &body).await;
        assert_eq!(status, 400, "{why}: {resp}");
        assert_eq!(code(&resp), native::CODE_INVALID_PARAMETER, "{why}");
    }
    expect_error(
        c.import_vm(
            Cred::Key(&seed.a_none),
            &json!({ "path": "gpt.raw", "name": "x", "region_id": "cn-hangzhou" }),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // Another tenant's image is not found, exactly as a missing one.
    for id in [uefi.as_str(), "m-nosuchimage"] {
        let (status, body) = c.get_vm(Cred::Token(&b_token), id).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{id}"
        );
    }

    // Sharing: B then sees A's image as `others`, not public; only Available images, only
    // other existing accounts, only by the owner.
    let ecs_b = |params: Vec<(&'static str, &'static str)>| {
        let key = seed.b_all.clone();
        let server = &server;
        async move {
            let mut all = vec![("RegionId", "cn-hangzhou")];
            all.extend(params);
            let (status, v) = server.ecs(&key, &all).await;
            assert_eq!(status, 200, "{v}");
            v
        }
    };
    assert!(!ecs_ids(&ecs_b(vec![]).await).contains(&uefi));
    let (status, shared) = c.share_vm(Cred::Token(&token), &uefi, "1002").await;
    assert_eq!(status, 201, "{shared}");
    assert_eq!(shared["SharedWithAccounts"], json!(["1002"]));
    assert_eq!(shared["IsSelfShared"], "true");
    let (status, again) = c.share_vm(Cred::Token(&token), &uefi, "1002").await;
    assert_eq!(status, 200, "{again}");
    let others = ecs_b(vec![("ImageOwnerAlias", "others")]).await;
    assert!(ecs_ids(&others).contains(&uefi), "{others}");
    let mine = others["Images"]["Image"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["ImageId"] == uefi.as_str())
        .unwrap();
    assert_eq!(
        (&mine["ImageOwnerAlias"], &mine["IsPublic"]),
        (&json!("others"), &json!(false))
    );
    assert_eq!(mine["ImageOwnerId"], 1001);
    let community = ecs_b(vec![("ImageOwnerAlias", "others"), ("IsPublic", "true")]).await;
    assert!(
        !ecs_ids(&community).contains(&uefi),
        "shared is not community: {community}"
    );
    let (status, seen_by_b) = c.get_vm(Cred::Token(&b_token), &uefi).await;
    assert_eq!(status, 200, "{seen_by_b}");
    assert_eq!(seen_by_b["ImageOwnerAlias"], "others");
    assert_eq!(
        seen_by_b["SharedWithAccounts"],
        json!([]),
        "only the owner lists the accounts"
    );
    for (id, account, status, want, why) in [
        (
            broken.as_str(),
            "1002",
            400,
            "invalid_parameter",
            "a failed import",
        ),
        (
            uefi.as_str(),
            "1001",
            400,
            "invalid_parameter",
            "the owner's own account",
        ),
        (
            uefi.as_str(),
            "9999",
            404,
            "not_found",
            "an unknown account",
        ),
        (
            uefi.as_str(),
            "10 02",
            400,
            "invalid_parameter",
            "a malformed account",
        ),
    ] {
        let (s, body) = c.share_vm(Cred::Token(&token), id, account).await;
        assert_eq!((s.as_u16(), code(&body)), (status, want), "{why}: {body}");
    }
    let (status, body) = c.share_vm(Cred::Token(&b_token), &uefi, "1001").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "not_found"),
        "B does not own it"
    );

    // Usage: B records an instance running A's shared image; both see Usage=instance.
    let (status, used) = c
        .add_instance(Cred::Token(&b_token), &uefi, "i-b0001")
        .await;
    assert_eq!(status, 201, "{used}");
    assert_eq!(
        (&used["Usage"], &used["Instances"]),
        (&json!("instance"), &json!(["i-b0001"]))
    );
    let in_use = ecs_b(vec![("Usage", "instance")]).await;
    assert_eq!(ecs_ids(&in_use), std::slice::from_ref(&uefi), "{in_use}");
    let (_, owner_view) = c.get_vm(Cred::Token(&token), &uefi).await;
    assert_eq!(
        owner_view["Usage"], "instance",
        "the owner knows it is in use"
    );
    assert_eq!(
        owner_view["Instances"],
        json!([]),
        "but not whose instances"
    );
    expect_error(
        c.add_instance(Cred::Token(&token), &broken, "i-a1").await,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    );
    expect_error(
        c.add_instance(Cred::Token(&token), &uefi, "i-a/1").await,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    );
    let (status, body) = c
        .remove_instance(Cred::Token(&b_token), &uefi, "i-b0001")
        .await;
    assert_eq!(status, 204, "{body}");
    expect_error(
        c.remove_instance(Cred::Token(&b_token), &uefi, "i-b0001")
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (_, owner_view) = c.get_vm(Cred::Token(&token), &uefi).await;
    assert_eq!(owner_view["Usage"], "none");

    // Unsharing: B no longer sees it.
    let (status, body) = c.unshare_vm(Cred::Token(&token), &uefi, "1002").await;
    assert_eq!(status, 204, "{body}");
    expect_error(
        c.unshare_vm(Cred::Token(&token), &uefi, "1002").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert!(!ecs_ids(&ecs_b(vec![("Status", "Available,CreateFailed")]).await).contains(&uefi));

    // Publishing: a community image, seen by B with IsPublic=true only.
    let (status, published) = c
        .publish_vm(Cred::Token(&token), &uefi, &json!({ "public": true }))
        .await;
    assert_eq!(status, 200, "{published}");
    assert_eq!(
        (&published["IsPublic"], &published["SupplierName"]),
        (&json!(true), &json!("alpha"))
    );
    let community = ecs_b(vec![("ImageOwnerAlias", "others"), ("IsPublic", "true")]).await;
    assert!(ecs_ids(&community).contains(&uefi), "{community}");
    let shared_only = ecs_b(vec![("ImageOwnerAlias", "others")]).await;
    assert!(
        !ecs_ids(&shared_only).contains(&uefi),
        "others without IsPublic means shared: {shared_only}"
    );
    expect_error(
        c.publish_vm(Cred::Token(&token), &broken, &json!({ "public": true }))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    );
    let (status, body) = c
        .publish_vm(Cred::Token(&b_token), &uefi, &json!({ "public": false }))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "not_found"),
        "B does not own it"
    );
    let (status, withdrawn) = c
        .publish_vm(Cred::Token(&token), &uefi, &json!({ "public": false }))
        .await;
    assert_eq!(status, 200, "{withdrawn}");
    assert_eq!(withdrawn["IsPublic"], false);
    assert!(!ecs_ids(&ecs_b(vec![]).await).contains(&uefi));

    // Registries, against a real docker-registry with htpasswd auth (absent locally without
    // docker-registry, skopeo and htpasswd; required under CI).
    let registry = tokio::task::spawn_blocking(|| {
        let registry = crowsnest_testkit::registry::TestRegistry::start()?;
        let image = crowsnest_testkit::registry::docker_archive("images/alpine-310.tar.gz");
        registry.push(&image, "team/alpine:3.10", &[]);
        registry.push(&image, "other/alpine:1", &[]);
        Some(registry)
    })
    .await
    .unwrap();
    if let Some(registry) = &registry {
        registries(&mut c, &server, &token, &b_token, registry).await;
    }

    // Wrong routes and methods answer in the same envelope.
    let (status, body) = c
        .call(
            Cred::Token(&token),
            "put",
            "/api/v1/keys",
            "/api/v1/keys",
            None,
        )
        .await;
    assert_eq!(status, 405);
    assert_eq!(code(&body), native::CODE_METHOD_NOT_ALLOWED);
    c.samples.pop(); // PUT is not an operation of the document.
    let resp = reqwest::get(format!("{}/api/v1/no-such-thing", server.base))
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(code(&body), native::CODE_NOT_FOUND);

    // Every documented operation was exercised, and the validator accepts the document and
    // every response above.
    for (path, item) in document["paths"].as_object().unwrap() {
        if registry.is_none() && path.starts_with("/api/v1/registries") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            assert!(
                c.samples
                    .iter()
                    .any(|s| s.template == path && s.method == method && s.status < 300),
                "{method} {path} was never exercised successfully"
            );
        }
    }
    let samples: Vec<Value> = c
        .samples
        .iter()
        .map(|s| json!({ "method": s.method, "path": s.template, "status": s.status, "body": s.body }))
        .collect();
    let doc_file = dir.path().join("openapi.json");
    let samples_file = dir.path().join("samples.json");
    std::fs::write(&doc_file, document.to_string()).unwrap();
    std::fs::write(&samples_file, serde_json::to_vec(&samples).unwrap()).unwrap();
    let out = Command::new(&python)
        .arg(scripts_dir().join("validate_openapi.py"))
        .arg(&doc_file)
        .arg(&samples_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["errors"], json!([]), "{report}");
    assert_eq!(report["checked"], c.samples.len(), "{report}");
}

/// The registries resource: add (password sealed, never returned), tenant isolation, bad
/// bodies, sync against the real registry (first and incremental), a wrong password ending in
/// `sync_failed` with `authentication_failed`, update, delete.
async fn registries(
    c: &mut Client<'_>,
    server: &TestServer,
    token: &str,
    b_token: &str,
    registry: &crowsnest_testkit::registry::TestRegistry,
) {
    use crowsnest_testkit::registry::{PASSWORD, USER};
    const LIST: &str = "/api/v1/registries";
    const ONE: &str = "/api/v1/registries/{uid}";
    const SYNC: &str = "/api/v1/registries/{uid}/sync";
    let a = Cred::Token(token);
    let url = format!("http://{}", registry.host());
    let (status, added) = c
        .call(
            a,
            "post",
            LIST,
            LIST,
            Some(&json!({
                "name": "local", "type": "harbor", "url": url, "username": USER,
                "password": PASSWORD, "namespaces": ["team"], "region": "cn-north-4"
            })),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["uid"], "local");
    assert_eq!(added["has_password"], true);
    assert_eq!(added["latest_sync_ms"], 0);
    assert!(!added.to_string().contains(PASSWORD), "{added}");
    // Stored sealed: not the password, and it opens with the server key to the password.
    let store = server.store.clone();
    let tenant = server.seed.a;
    let stored = tokio::task::spawn_blocking(move || {
        store.registry_connection(tenant, "local").unwrap().unwrap()
    })
    .await
    .unwrap();
    assert!(!stored.secret_sealed.contains(PASSWORD));
    let (status, again) = c
        .call(
            a,
            "post",
            LIST,
            LIST,
            Some(&json!({ "name": "local", "url": url })),
        )
        .await;
    assert_eq!((status, code(&again)), (StatusCode::CONFLICT, "conflict"));
    for (body, why) in [
        (
            json!({ "name": "x", "url": url, "type": "dockerhub2" }),
            "an unknown type",
        ),
        (json!({ "name": "x", "url": "ftp://host" }), "not http(s)"),
        (json!({ "name": "x" }), "no url"),
        (
            json!({ "name": "x", "url": url, "pasword": "p" }),
            "a misspelt field",
        ),
        (
            json!({ "name": "x", "url": url, "uid": "a/b" }),
            "a uid with a slash",
        ),
        (json!({ "name": "", "url": url }), "an empty name"),
        (
            json!({ "name": "x", "url": url, "schedule": "every day" }),
            "a schedule that is not cron",
        ),
    ] {
        let (status, resp) = c.call(a, "post", LIST, LIST, Some(&body)).await;
        assert_eq!(status, 400, "{why}: {resp}");
        assert_eq!(code(&resp), native::CODE_INVALID_PARAMETER, "{why}");
    }
    // Tenant B sees none of it.
    let (status, b_list) = c.call(Cred::Token(b_token), "get", LIST, LIST, None).await;
    assert_eq!(
        (status, b_list["registries"].clone()),
        (StatusCode::OK, json!([]))
    );
    expect_error(
        c.call(
            Cred::Token(b_token),
            "get",
            ONE,
            "/api/v1/registries/local",
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    expect_error(
        c.call(
            Cred::Token(b_token),
            "post",
            SYNC,
            "/api/v1/registries/local/sync",
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // A sync: the namespace filter keeps team/alpine only; a second one changes nothing.
    let (status, report) = c
        .call(a, "post", SYNC, "/api/v1/registries/local/sync", None)
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (
            report["repositories"].clone(),
            report["tags"].clone(),
            report["changed_tags"].clone()
        ),
        (json!(1), json!(1), json!(1)),
        "{report}"
    );
    let store = server.store.clone();
    let found = tokio::task::spawn_blocking(move || {
        store
            .placements(
                tenant,
                &crowsnest_store::PlacementQuery {
                    filter: crowsnest_store::Filter::Eq(
                        crowsnest_store::Field::RegistryName,
                        "local".into(),
                    ),
                    order: crowsnest_store::PlacementOrder::Id,
                    offset: 0,
                    limit: 10,
                },
            )
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(
        (
            found.rows[0].namespace.as_str(),
            found.rows[0].repo_name.as_str(),
            found.rows[0].tag.as_str()
        ),
        ("team", "alpine", "3.10")
    );
    let (status, report) = c
        .call(a, "post", SYNC, "/api/v1/registries/local/sync", None)
        .await;
    assert_eq!(
        (status, report["changed_tags"].clone()),
        (StatusCode::OK, json!(0)),
        "{report}"
    );
    let (status, got) = c
        .call(a, "get", ONE, "/api/v1/registries/local", None)
        .await;
    assert_eq!(status, 200, "{got}");
    assert!(got["latest_sync_ms"].as_i64().unwrap() > 0, "{got}");
    assert_eq!(got["latest_sync_error"], "");

    // A wrong password: the sync fails with the registry's code and the record says so.
    let (status, changed) = c
        .call(
            a,
            "patch",
            ONE,
            "/api/v1/registries/local",
            Some(&json!({ "password": "wrong", "namespaces": ["team", "other"] })),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["namespaces"], json!(["team", "other"]));
    assert_eq!(changed["type"], "harbor", "absent fields are kept");
    assert_eq!(
        (
            changed["schedule"].as_str(),
            changed["next_run_ms"].as_i64()
        ),
        (Some(""), Some(0))
    );

    // A cron schedule: stored with its next run (at 03:00 UTC, within a day), then removed.
    let (status, scheduled) = c
        .call(
            a,
            "patch",
            ONE,
            "/api/v1/registries/local",
            Some(&json!({ "schedule": "0 3 * * *" })),
        )
        .await;
    assert_eq!(status, 200, "{scheduled}");
    assert_eq!(scheduled["schedule"], "0 3 * * *");
    let next = scheduled["next_run_ms"].as_i64().unwrap();
    let now = crowsnest_store::now_ms();
    assert!(next > now && next <= now + 86_400_000, "{scheduled}");
    assert_eq!(next % 86_400_000, 3 * 3_600_000, "03:00 UTC: {scheduled}");
    expect_error(
        c.call(
            a,
            "patch",
            ONE,
            "/api/v1/registries/local",
            Some(&json!({ "schedule": "61 * * * *" })),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    );
    let (status, unscheduled) = c
        .call(
            a,
            "patch",
            ONE,
            "/api/v1/registries/local",
            Some(&json!({ "schedule": "" })),
        )
        .await;
    assert_eq!(status, 200, "{unscheduled}");
    assert_eq!(
        (
            unscheduled["schedule"].as_str(),
            unscheduled["next_run_ms"].as_i64()
        ),
        (Some(""), Some(0))
    );
    let body = expect_error(
        c.call(a, "post", SYNC, "/api/v1/registries/local/sync", None)
            .await,
        StatusCode::BAD_GATEWAY,
        "sync_failed",
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("authentication_failed"),
        "{body}"
    );
    let (_, got) = c
        .call(a, "get", ONE, "/api/v1/registries/local", None)
        .await;
    assert!(
        got["latest_sync_error"]
            .as_str()
            .unwrap()
            .starts_with("authentication_failed"),
        "{got}"
    );
    expect_error(
        c.call(
            a,
            "patch",
            ONE,
            "/api/v1/registries/local",
            Some(&json!({ "uid": "renamed" })),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    );
    let (status, _) = c
        .call(
            a,
            "patch",
            ONE,
            "/api/v1/registries/local",
            Some(&json!({ "password": PASSWORD })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, report) = c
        .call(a, "post", SYNC, "/api/v1/registries/local/sync", None)
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (
            report["repositories"].clone(),
            report["changed_tags"].clone()
        ),
        (json!(2), json!(1))
    );

    let (status, list) = c.call(a, "get", LIST, LIST, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["registries"].as_array().unwrap().len(), 1, "{list}");
    assert!(!list.to_string().contains(PASSWORD));
    expect_error(
        c.call(
            Cred::Token(b_token),
            "delete",
            ONE,
            "/api/v1/registries/local",
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (status, _) = c
        .call(a, "delete", ONE, "/api/v1/registries/local", None)
        .await;
    assert_eq!(status, 204);
    expect_error(
        c.call(a, "get", ONE, "/api/v1/registries/local", None)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_vulnerability_database() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(Settings {
        vulndb: Some(dir.path().join("absent.sqlite")),
        ..Settings::default()
    })
    .await;
    let health: Value = reqwest::get(format!("{}/api/v1/health", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["vulndb"]["present"], false, "{health}");
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/database/status", server.base))
        .header("x-auth-token", &server.seed.a_token)
        .send()
        .await
        .unwrap();
    // The seeded token holds hss:* only: authenticated, but not allowed.
    assert_eq!(resp.status(), 403);
    let signed = server.huawei_sign_request(
        &server.seed.a_all,
        "GET",
        "/api/v1/database/status",
        &[],
        b"",
        0,
    );
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/database/status", server.base))
        .header("x-sdk-date", signed.date)
        .header("authorization", signed.authorization)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(code(&body), native::CODE_VULNDB_MISSING);
}
