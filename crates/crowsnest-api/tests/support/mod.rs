//! Test support: a real server on `127.0.0.1:0` over a temporary SQLite store seeded with two
//! tenants, and clients that sign requests the way the clouds' SDKs do.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod python;
pub mod vm;

use std::net::SocketAddr;

use crowsnest_api::auth::{alibaba as ali_sig, huawei as hw_sig};
use crowsnest_api::form::{rfc3986, Pairs};
use crowsnest_api::{keys, AppState, Settings};
use crowsnest_store::{
    ImageApp, NewContainer, NewHost, NewImage, NewLocalImage, NewPod, NewRegistry, NewRepository,
    NewTag, NewTenant, NewVmImage, ScanRecord, ScanState, Store, TenantId, VmImageCheck,
    VmImageDisk, VmImageSource,
};
use reqwest::StatusCode;
use serde_json::Value;

/// A check of a successful response body, in the operations' table-driven tests.
pub type Check = fn(&Value);
/// A table case that succeeds: name, parameters, check.
pub type OkCase = (&'static str, Vec<(&'static str, &'static str)>, Check);
/// A table case that fails: name, parameters, status, code.
pub type ErrCase = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    u16,
    &'static str,
);
/// A table case refused as invalid: name, parameters.
pub type BadCase = (&'static str, Vec<(&'static str, &'static str)>);

/// A running server and its store.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The address.
    pub addr: SocketAddr,
    /// The store the server uses.
    pub store: Store,
    /// The seeded data.
    pub seed: Seed,
    _dir: Box<dyn Send + Sync>,
}

/// What [`seed`] created.
pub struct Seed {
    /// Tenant A: two registries, several repositories, shared and multi-arch images.
    pub a: TenantId,
    /// Tenant B: one registry tagging a digest A also has, and one of its own.
    pub b: TenantId,
    /// A key of A allowed everything.
    pub a_all: keys::AccessKey,
    /// A key of A allowed nothing relevant.
    pub a_none: keys::AccessKey,
    /// A key of B allowed everything.
    pub b_all: keys::AccessKey,
    /// A token of A allowed everything.
    pub a_token: String,
}

pub fn digest(n: u8) -> crowsnest_model::Digest {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
        .parse()
        .unwrap()
}

pub fn digest_hex(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

fn image(store: &Store, n: u8, size: i64, multiarch: bool) -> i64 {
    store
        .upsert_image(&NewImage {
            digest: digest(n),
            config_digest: (!multiarch).then(|| digest(n + 100)),
            size_bytes: size,
            created_ms: 1_600_000_000_000 + i64::from(n),
            is_multiarch: multiarch,
        })
        .unwrap()
}

fn scan(
    store: &Store,
    image_row: i64,
    state: ScanState,
    (vul, hc): (i64, i64),
    finished: i64,
    failure: &str,
    severity: &str,
) {
    store
        .record_scan(
            image_row,
            &ScanRecord {
                state,
                stage: String::new(),
                progress: if matches!(state, ScanState::Succeeded | ScanState::Failed) {
                    100
                } else {
                    0
                },
                failure_code: failure.into(),
                vul_count: vul,
                baseline_count: hc,
                malicious_count: 0,
                alarm_count: 0,
                severity: severity.into(),
                started_ms: Some(finished - 10),
                finished_ms: Some(finished),
            },
        )
        .unwrap();
}

fn tag(store: &Store, repo: i64, image_row: i64, name: &str, updated: i64, latest: bool) {
    store
        .put_tag(
            repo,
            image_row,
            &NewTag {
                tag: name.into(),
                updated_ms: updated,
                synced_ms: updated + 1,
                latest_version: latest,
                scannable: true,
                ..Default::default()
            },
        )
        .unwrap();
}

/// Seeds the two tenants. Tenant A's placements, in insertion order:
/// 1. shop/web_app:1.0 (acr, cn-hangzhou, cri-a1) → image 1, scanned, 3 vulns, High
/// 2. shop/web_app:latest → image 2, never scanned
/// 3. shop/web_app:2.0 → image 3, failed (download_failed)
/// 4. infra/Nginx:1.25 → image 1 again (the same digest)
/// 5. tools/busybox:multi (harbor, cn-shanghai) → index 4 with children 5 and 6
pub fn seed(store: &Store) -> Seed {
    let a = store
        .create_tenant(&NewTenant {
            name: "alpha".into(),
            account_id: "1001".into(),
        })
        .unwrap();
    let b = store
        .create_tenant(&NewTenant {
            name: "beta".into(),
            account_id: "1002".into(),
        })
        .unwrap();
    store.add_project(a, "proj-a", "cn-north-4").unwrap();
    store.add_project(b, "proj-b", "cn-north-4").unwrap();

    let img1 = image(store, 1, 50 * 1024 * 1024, false);
    let img2 = image(store, 2, 10 * 1024 * 1024, false);
    let img3 = image(store, 3, 1000, false);
    let img4 = image(store, 4, 2000, true);
    let img5 = image(store, 5, 3000, false);
    let img6 = image(store, 6, 4000, false);
    let img7 = image(store, 7, 5000, false);
    store.add_image_child(img4, img5, "linux/amd64").unwrap();
    store.add_image_child(img4, img6, "linux/arm64").unwrap();
    scan(store, img1, ScanState::Succeeded, (3, 0), 2000, "", "High");
    scan(
        store,
        img3,
        ScanState::Failed,
        (0, 0),
        3000,
        "download_failed",
        "",
    );
    scan(store, img4, ScanState::Succeeded, (0, 2), 4000, "", "Low");
    scan(
        store,
        img5,
        ScanState::Succeeded,
        (1, 0),
        4000,
        "",
        "Medium",
    );
    scan(store, img7, ScanState::Succeeded, (9, 9), 5000, "", "High");

    let reg_a1 = store
        .upsert_registry(
            a,
            &NewRegistry {
                uid: "reg-a1".into(),
                name: "acr-main".into(),
                registry_type: "acr".into(),
                region_id: "cn-hangzhou".into(),
                instance_id: "cri-a1".into(),
                instance_name: "main".into(),
                endpoints: vec!["registry.example".into()],
                ..Default::default()
            },
        )
        .unwrap();
    let reg_a2 = store
        .upsert_registry(
            a,
            &NewRegistry {
                uid: "reg-a2".into(),
                name: "harbor-tools".into(),
                registry_type: "harbor".into(),
                region_id: "cn-shanghai".into(),
                enterprise_project_id: "ep-1".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let shop = store
        .upsert_repository(
            reg_a1,
            &NewRepository {
                uid: "repo-a1".into(),
                namespace: "shop".into(),
                name: "web_app".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let infra = store
        .upsert_repository(
            reg_a1,
            &NewRepository {
                uid: "repo-a2".into(),
                namespace: "infra".into(),
                name: "Nginx".into(),
                repo_type: "public".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let tools = store
        .upsert_repository(
            reg_a2,
            &NewRepository {
                uid: "repo-a3".into(),
                namespace: "tools".into(),
                name: "busybox".into(),
                image_type: "harbor".into(),
                ..Default::default()
            },
        )
        .unwrap();
    tag(store, shop, img1, "1.0", 100, false);
    tag(store, shop, img2, "latest", 300, true);
    tag(store, shop, img3, "2.0", 200, false);
    tag(store, infra, img1, "1.25", 400, true);
    tag(store, tools, img4, "multi", 500, true);

    let reg_b = store
        .upsert_registry(
            b,
            &NewRegistry {
                uid: "reg-b1".into(),
                name: "acr-b".into(),
                registry_type: "acr".into(),
                region_id: "cn-hangzhou".into(),
                instance_id: "cri-a1".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let repo_b = store
        .upsert_repository(
            reg_b,
            &NewRepository {
                uid: "repo-b1".into(),
                namespace: "shop".into(),
                name: "web_app".into(),
                ..Default::default()
            },
        )
        .unwrap();
    tag(store, repo_b, img1, "1.0", 100, false);
    tag(store, repo_b, img7, "secret-b", 600, true);

    seed_vm_images(store, a, b);
    seed_hosts(store, a, b, img1, img2);

    Seed {
        a,
        b,
        a_all: keys::create(store, a, &["*"]).unwrap(),
        a_none: keys::create(store, a, &["oss:*"]).unwrap(),
        b_all: keys::create(store, b, &["yundun-sas:*", "ecs:*", "hss:*"]).unwrap(),
        a_token: keys::create_token(store, a, &["hss:*"], 3_600_000).unwrap(),
    }
}

/// Starts a server with `settings` over a fresh seeded store.
pub async fn start_with(settings: Settings) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_data_dir(&dir.path().join("data")).unwrap();
    start_on(store, settings, Box::new(dir)).await
}

/// Starts a server over `store` (fresh, migrated), seeding it; `keep` lives as long as the
/// server (a temporary directory or a PostgreSQL schema guard).
pub async fn start_on(store: Store, settings: Settings, keep: Box<dyn Send + Sync>) -> TestServer {
    start_full(store, settings, None, keep).await
}

/// Starts a server with `settings` and `importer` over a fresh seeded store in a temporary
/// directory.
pub async fn start_with_importer(
    settings: Settings,
    importer: std::sync::Arc<dyn crowsnest_api::native::vm_images::VmImporter>,
) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_data_dir(&dir.path().join("data")).unwrap();
    start_full(store, settings, Some(importer), Box::new(dir)).await
}

/// [`start_on`] with a VM importer.
pub async fn start_full(
    store: Store,
    settings: Settings,
    importer: Option<std::sync::Arc<dyn crowsnest_api::native::vm_images::VmImporter>>,
    keep: Box<dyn Send + Sync>,
) -> TestServer {
    // The PostgreSQL client is synchronous and must not run on the async runtime's threads.
    let seed = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || seed(&store))
            .await
            .unwrap()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut state = AppState::with_settings(store.clone(), settings);
    state.vm_importer = importer;
    tokio::spawn(crowsnest_api::serve_listener(listener, state));
    TestServer {
        base: format!("http://{addr}"),
        addr,
        store,
        seed,
        _dir: keep,
    }
}

/// A schema of its own on the PostgreSQL server named by `CROWSNEST_TEST_POSTGRES`, dropped
/// when this is. None (after saying why) when the variable is unset, unless CI requires it.
pub struct PgSchema {
    admin_url: String,
    schema: String,
    /// The server URL with the schema as search path.
    pub url: String,
}

impl PgSchema {
    /// A fresh schema, or None when no server is configured outside CI.
    pub fn create() -> Option<PgSchema> {
        let admin_url = match std::env::var("CROWSNEST_TEST_POSTGRES") {
            Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
            _ => {
                assert!(
                    !crowsnest_testkit::tools_required(),
                    "CROWSNEST_TEST_POSTGRES is required under CI (CROWSNEST_REQUIRE_TOOLS=1)"
                );
                eprintln!("skipping the PostgreSQL run: CROWSNEST_TEST_POSTGRES is not set");
                return None;
            }
        };
        let schema = format!("api_{}", uuid::Uuid::new_v4().simple());
        let (admin, create) = (admin_url.clone(), format!("CREATE SCHEMA {schema}"));
        // On a plain thread: the synchronous client refuses to run inside the async runtime.
        std::thread::spawn(move || {
            let mut admin = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
            admin.batch_execute(&create).unwrap();
        })
        .join()
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
        let (admin, drop) = (
            self.admin_url.clone(),
            format!("DROP SCHEMA {} CASCADE", self.schema),
        );
        let _ = std::thread::spawn(move || {
            if let Ok(mut admin) = postgres::Client::connect(&admin, postgres::NoTls) {
                let _ = admin.batch_execute(&drop);
            }
        })
        .join();
    }
}

/// Starts a server with default settings.
pub async fn start() -> TestServer {
    start_with(Settings::default()).await
}

pub fn timestamp_iso(offset_ms: i64) -> String {
    let now = time::OffsetDateTime::now_utc() + time::Duration::milliseconds(offset_ms);
    now.format(&time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap()
}

pub fn encode_query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", rfc3986(k), rfc3986(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A signed Huawei GET: what goes on the wire.
pub struct HuaweiSigned {
    /// The Host header (`127.0.0.1:PORT`).
    pub host: String,
    /// Path and query, as sent.
    pub target: String,
    /// `X-Sdk-Date`.
    pub date: String,
    /// The `Authorization` header.
    pub authorization: String,
}

impl HuaweiSigned {
    /// The request as raw HTTP/1.1 bytes (the connection closes after the answer).
    pub fn raw_http(&self) -> Vec<u8> {
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nX-Sdk-Date: {}\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
            self.target, self.host, self.date, self.authorization
        )
        .into_bytes()
    }
}

/// Sends raw request bytes over a new TCP connection and returns the status and JSON body
/// (the server answers with a Content-Length body and closes).
pub async fn send_raw(addr: SocketAddr, request: &[u8]) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap())
}

/// A signed Alibaba RPC request.
pub struct RpcRequest {
    pub method: &'static str,
    pub params: Vec<(String, String)>,
}

impl TestServer {
    /// The RPC parameters the SDKs add, signed with HMAC-SHA1 (SignatureVersion 1.0).
    pub fn rpc_signed(
        &self,
        key: &keys::AccessKey,
        action: &str,
        version: &str,
        params: &[(&str, &str)],
        timestamp: &str,
        nonce: &str,
    ) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = vec![
            ("Action".into(), action.into()),
            ("Version".into(), version.into()),
            ("Format".into(), "JSON".into()),
            ("Timestamp".into(), timestamp.into()),
            ("SignatureNonce".into(), nonce.into()),
            ("SignatureMethod".into(), "HMAC-SHA1".into()),
            ("SignatureVersion".into(), "1.0".into()),
            ("AccessKeyId".into(), key.id.clone()),
        ];
        all.extend(
            params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let sig = ali_sig::rpc_signature(&key.secret, &ali_sig::rpc_string_to_sign("GET", &all));
        all.push(("Signature".into(), sig));
        all
    }

    /// Sends raw query pairs to `/` by GET.
    pub async fn get_query(&self, pairs: &[(String, String)]) -> (StatusCode, Value) {
        let url = format!("{}/?{}", self.base, encode_query(pairs));
        let resp = reqwest::get(url).await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }

    /// A signed SAS (2018-12-03) call by GET.
    pub async fn sas(
        &self,
        key: &keys::AccessKey,
        action: &str,
        params: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        self.rpc(key, action, "2018-12-03", params).await
    }

    /// A signed ECS (2014-05-26) call by GET.
    pub async fn ecs(&self, key: &keys::AccessKey, params: &[(&str, &str)]) -> (StatusCode, Value) {
        self.rpc(key, "DescribeImages", "2014-05-26", params).await
    }

    /// A signed RPC call by GET.
    pub async fn rpc(
        &self,
        key: &keys::AccessKey,
        action: &str,
        version: &str,
        params: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let pairs = self.rpc_signed(
            key,
            action,
            version,
            params,
            &timestamp_iso(0),
            &uuid::Uuid::new_v4().to_string(),
        );
        self.get_query(&pairs).await
    }

    /// A Huawei GET signed with SDK-HMAC-SHA256.
    pub async fn huawei(
        &self,
        key: &keys::AccessKey,
        path: &str,
        query: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        self.huawei_at(key, path, query, 0).await
    }

    /// A Huawei GET signed at now + `offset_ms`.
    pub async fn huawei_at(
        &self,
        key: &keys::AccessKey,
        path: &str,
        query: &[(&str, &str)],
        offset_ms: i64,
    ) -> (StatusCode, Value) {
        let signed = self.huawei_sign(key, path, query, offset_ms);
        let resp = reqwest::Client::new()
            .get(format!("{}{}", self.base, signed.target))
            .header("x-sdk-date", signed.date)
            .header("authorization", signed.authorization)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }

    /// Signs a Huawei GET of `path?query` at now + `offset_ms` (signed headers: host and
    /// x-sdk-date, as the minimal APIG client does).
    pub fn huawei_sign(
        &self,
        key: &keys::AccessKey,
        path: &str,
        query: &[(&str, &str)],
        offset_ms: i64,
    ) -> HuaweiSigned {
        self.huawei_sign_request(key, "GET", path, query, b"", offset_ms)
    }

    /// Signs a Huawei-style `method` request of `path?query` with `body` at now + `offset_ms`.
    pub fn huawei_sign_request(
        &self,
        key: &keys::AccessKey,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: &[u8],
        offset_ms: i64,
    ) -> HuaweiSigned {
        use sha2::Digest as _;
        let now = time::OffsetDateTime::now_utc() + time::Duration::milliseconds(offset_ms);
        let date = now
            .format(&time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .unwrap();
        let pairs: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let host = self.addr.to_string();
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("host", host.parse().unwrap());
        headers.insert("x-sdk-date", date.parse().unwrap());
        let signed: Vec<String> = vec!["host".into(), "x-sdk-date".into()];
        let canonical = hw_sig::canonical_request(
            method,
            path,
            &pairs,
            &headers,
            &signed,
            &hex::encode(sha2::Sha256::digest(body)),
        )
        .unwrap();
        let sig = hw_sig::signature(&key.secret, &date, &canonical);
        let authorization = format!(
            "SDK-HMAC-SHA256 Access={}, SignedHeaders=host;x-sdk-date, Signature={sig}",
            key.id
        );
        let target = if pairs.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", encode_query(&pairs))
        };
        HuaweiSigned {
            host,
            target,
            date,
            authorization,
        }
    }

    /// A Huawei GET with `X-Auth-Token`.
    pub async fn huawei_token(
        &self,
        token: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let pairs: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let resp = reqwest::Client::new()
            .get(format!("{}{path}?{}", self.base, encode_query(&pairs)))
            .header("x-auth-token", token)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }
}

/// Parses a query string for assertions.
pub fn pairs(s: &str) -> Pairs {
    Pairs::parse(s).unwrap()
}

fn vm(
    image_id: &str,
    source: VmImageSource,
    os: &str,
    arch: &str,
    status: &str,
    created: &str,
) -> NewVmImage {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let created_ms = time::Date::parse(created, &format)
        .unwrap()
        .midnight()
        .assume_utc()
        .unix_timestamp()
        * 1000;
    NewVmImage {
        image_id: image_id.into(),
        region_id: "cn-hangzhou".into(),
        source,
        owner_account_id: 0,
        image_name: format!("{image_id}-name"),
        image_family: String::new(),
        image_version: "1".into(),
        description: String::new(),
        status: status.into(),
        progress: "100%".into(),
        is_public: source != VmImageSource::Custom,
        is_copied: false,
        is_self_shared: false,
        is_subscribed: false,
        is_support_io_optimized: true,
        is_support_cloudinit: true,
        login_as_non_root: false,
        usage: "none".into(),
        os_type: os.into(),
        os_name: String::new(),
        os_name_en: String::new(),
        platform: if os == "windows" {
            "Windows Server 2016".into()
        } else {
            "Ubuntu".into()
        },
        architecture: arch.into(),
        boot_mode: "BIOS".into(),
        size_gib: 40,
        product_code: String::new(),
        supplier_name: String::new(),
        resource_group_id: String::new(),
        nvme_support: "supported".into(),
        detection_status: String::new(),
        created_ms,
        disks: vec![],
        tags: vec![],
        checks: vec![],
    }
}

/// VM images in cn-hangzhou, newest first as DescribeImages lists them:
/// a-custom-2 (A, Creating), b-community (B, community), b-shared (B, shared with A, group rg-b),
/// b-private (B, not shared), a-custom-1 (A, tagged, arm64, in use, group rg-a), mkt-1
/// (marketplace, windows), sys-1 (system, family ubuntu-lts, snapshot s-sys1); sys-sh in
/// cn-shanghai (not I/O optimised).
fn seed_vm_images(store: &Store, a: TenantId, b: TenantId) {
    let mut sys = vm(
        "m-sys1",
        VmImageSource::System,
        "linux",
        "x86_64",
        "Available",
        "2024-01-01",
    );
    sys.image_family = "ubuntu-lts".into();
    sys.disks = vec![VmImageDisk {
        disk_type: "system".into(),
        device: "/dev/xvda".into(),
        size_gib: 40,
        snapshot_id: "s-sys1".into(),
        format: "qcow2".into(),
        progress: "100%".into(),
        ..Default::default()
    }];
    store.upsert_vm_image(None, &sys).unwrap();
    let mut sh = vm(
        "m-syssh",
        VmImageSource::System,
        "linux",
        "x86_64",
        "Available",
        "2024-01-02",
    );
    sh.region_id = "cn-shanghai".into();
    sh.is_support_io_optimized = false;
    store.upsert_vm_image(None, &sh).unwrap();
    let mut mkt = vm(
        "m-mkt1",
        VmImageSource::Marketplace,
        "windows",
        "x86_64",
        "Available",
        "2024-02-01",
    );
    mkt.product_code = "cmjj000001".into();
    store.upsert_vm_image(None, &mkt).unwrap();
    let mut a1 = vm(
        "m-acustom1",
        VmImageSource::Custom,
        "linux",
        "arm64",
        "Available",
        "2024-06-01",
    );
    a1.owner_account_id = 1001;
    a1.usage = "instance".into();
    a1.resource_group_id = "rg-a".into();
    a1.tags = vec![
        ("env".into(), "prod".into()),
        ("team".into(), "shop".into()),
    ];
    a1.detection_status = "Finished".into();
    a1.checks = vec![VmImageCheck {
        name: "Nvme".into(),
        value: "Unsupported".into(),
        risk_level: "High".into(),
        risk_code: "NVMe.NotInstalled".into(),
    }];
    store.upsert_vm_image(Some(a), &a1).unwrap();
    let mut a2 = vm(
        "m-acustom2",
        VmImageSource::Custom,
        "linux",
        "x86_64",
        "Creating",
        "2024-12-01",
    );
    a2.owner_account_id = 1001;
    store.upsert_vm_image(Some(a), &a2).unwrap();
    let mut bp = vm(
        "m-bprivate",
        VmImageSource::Custom,
        "linux",
        "x86_64",
        "Available",
        "2024-07-01",
    );
    bp.owner_account_id = 1002;
    store.upsert_vm_image(Some(b), &bp).unwrap();
    let mut bs = vm(
        "m-bshared",
        VmImageSource::Custom,
        "linux",
        "x86_64",
        "Available",
        "2024-08-01",
    );
    bs.owner_account_id = 1002;
    bs.resource_group_id = "rg-b".into();
    let shared = store.upsert_vm_image(Some(b), &bs).unwrap();
    store.share_vm_image(b, shared, a).unwrap();
    let mut bc = vm(
        "m-bcommunity",
        VmImageSource::Custom,
        "linux",
        "x86_64",
        "Available",
        "2024-09-01",
    );
    bc.owner_account_id = 1002;
    bc.is_public = true;
    bc.supplier_name = "beta".into();
    store.upsert_vm_image(Some(b), &bc).unwrap();
}

/// A Linux host in cn-north-4.
fn host(store: &Store, tenant: TenantId, uid: &str, name: &str, agent: &str, ip: &str) -> i64 {
    store
        .upsert_host(
            tenant,
            &NewHost {
                uid: uid.into(),
                name: name.into(),
                agent_id: agent.into(),
                private_ip: ip.into(),
                region_id: "cn-north-4".into(),
                os_type: "linux".into(),
                ..Default::default()
            },
        )
        .unwrap()
}

/// A local image `(name, version)` of `image_row` in `tenant`'s hosts.
fn local_image(
    store: &Store,
    tenant: TenantId,
    image_row: i64,
    (name, version): (&str, &str),
    local_image_type: &str,
    updated_ms: i64,
) -> i64 {
    store
        .upsert_local_image(
            tenant,
            &NewLocalImage {
                image_row,
                image_name: name.into(),
                image_version: version.into(),
                local_image_type: local_image_type.into(),
                updated_ms,
                ..Default::default()
            },
        )
        .unwrap()
}

/// Local images: A has nginx:1.25 (image 1, on two hosts, one container in a pod, app nginx)
/// and redis:7 (image 2, never scanned, other_image, on db-host); B has nginx:1.25 too.
fn seed_hosts(store: &Store, a: TenantId, b: TenantId, img1: i64, img2: i64) {
    let web = host(store, a, "host-a1", "web_host-1", "agent-a1", "10.0.0.5");
    let db = host(store, a, "host-a2", "db-host", "agent-a2", "10.0.0.6");
    let nginx = local_image(store, a, img1, ("nginx", "1.25"), "swr_image", 1000);
    let redis = local_image(store, a, img2, ("redis", "7"), "other_image", 2000);
    store.add_local_image_host(a, nginx, web).unwrap();
    store.add_local_image_host(a, nginx, db).unwrap();
    store.add_local_image_host(a, redis, db).unwrap();
    let pod = store
        .upsert_pod(
            a,
            &NewPod {
                uid: "pod-uid-1".into(),
                name: "web-pod".into(),
                namespace: "default".into(),
                cluster_name: "k1".into(),
                host_row: Some(web),
            },
        )
        .unwrap();
    store
        .upsert_container(
            a,
            &NewContainer {
                container_id: "c0ffee01".into(),
                name: "nginx.main".into(),
                host_row: web,
                local_image_row: Some(nginx),
                pod_row: Some(pod),
                status: "running".into(),
                created_ms: 1500,
            },
        )
        .unwrap();
    store
        .set_image_apps(
            img1,
            &[ImageApp {
                name: "nginx".into(),
                version: "1.25".into(),
            }],
        )
        .unwrap();
    store.set_component_count(img1, 146).unwrap();
    let hb = host(store, b, "host-b1", "b-host", "agent-b1", "10.9.0.5");
    let nb = local_image(store, b, img1, ("nginx", "1.25"), "swr_image", 1000);
    store.add_local_image_host(b, nb, hb).unwrap();
}
