//! ECS DescribeImages over imported real disks: two tenants import disks built by the real
//! tools (GPT with an EFI system partition, MBR, a compressed qcow2, a qcow2 overlay on a
//! backing file, and a truncated qcow2) through `POST /api/v1/vm-images`, share, publish and
//! run some of them, and every filter of the seed is checked against the answer computed from
//! what was built. The images live in a region of their own, away from the seeded catalogue.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use crowsnest_api::Settings;
use crowsnest_testkit::disk;
use serde_json::{json, Value};
use support::vm::{self, Root};
use support::*;

const REGION: &str = "cn-wulanchabu";

/// What one import was built from and what the catalogue should say of it.
#[derive(Clone, Debug)]
struct Built {
    id: String,
    /// "a" or "b".
    owner: &'static str,
    name: String,
    family: String,
    tags: Vec<(String, String)>,
    /// Available, or CreateFailed for the truncated disk.
    status: &'static str,
    boot_mode: &'static str,
    cloud_init: bool,
    os_name: String,
    format: &'static str,
    shared_with_a: bool,
    public: bool,
    /// One of A's instances runs it.
    used_by_a: bool,
    created_ms: i64,
}

impl Built {
    /// Whether tenant A can see it at all.
    fn visible_to_a(&self) -> bool {
        self.owner == "a" || self.shared_with_a || self.public
    }
    /// ImageOwnerAlias as A sees it.
    fn alias(&self) -> &'static str {
        if self.owner == "a" {
            "self"
        } else {
            "others"
        }
    }
    fn community_for_a(&self) -> bool {
        self.owner != "a" && self.public
    }
}

fn root(os: &str, cloud_init: bool) -> Root {
    match os {
        "debian" => Root {
            os_id: "debian",
            os_name: "Debian GNU/Linux",
            version_id: "12",
            cloud_init,
        },
        _ => Root {
            os_id: "ubuntu",
            os_name: "Ubuntu",
            version_id: "22.04",
            cloud_init,
        },
    }
}

/// Builds the disks into `dir` (the import directory).
fn build_disks(dir: &Path) {
    let work = vm::scratch("vm-catalogue");
    let ext4 = |name: &str, r: &Root| {
        let out = work.join(name);
        vm::ext4(r, &work, &out);
        out
    };
    // GPT + ESP, raw: UEFI.
    let debian_ci = ext4("debian-ci.ext4", &root("debian", true));
    disk::partitioned(
        &debian_ci,
        disk::Table::GptWithEsp,
        &dir.join("gpt-uefi.raw"),
    );
    // MBR, converted to a plain qcow2: BIOS.
    let ubuntu = ext4("ubuntu.ext4", &root("ubuntu", false));
    let mbr = work.join("mbr.raw");
    disk::partitioned(&ubuntu, disk::Table::Mbr, &mbr);
    disk::qcow2(&mbr, &dir.join("mbr-bios.qcow2"));
    // A bare filesystem as a compressed qcow2, and half of it.
    let debian = ext4("debian.ext4", &root("debian", false));
    disk::qcow2_compressed(&debian, &dir.join("compressed.qcow2"));
    let bytes = std::fs::read(dir.join("compressed.qcow2")).unwrap();
    std::fs::write(dir.join("truncated.qcow2"), &bytes[..bytes.len() / 2]).unwrap();
    // An overlay adding cloud-init over a backing qcow2 of the plain Debian filesystem: only
    // the overlay knows cloud-init is there.
    disk::qcow2(&debian, &dir.join("base.qcow2"));
    let written = disk::qcow2_overlay(
        &debian,
        &debian_ci,
        &dir.join("base.qcow2"),
        &dir.join("overlay.qcow2"),
    );
    assert!(written > 0);
    let _ = std::fs::remove_dir_all(work);
}

/// A native call with a token.
async fn native(
    server: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", server.base))
        .header("x-auth-token", token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A native API action (`method path` with JSON `body`) that must answer `status`.
async fn act(
    server: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
    status: u16,
) {
    let (got, v) = native(server, token, method.clone(), path, Some(body)).await;
    assert_eq!(got, status, "{method} {path}: {v}");
}

/// Imports `path` as `token`'s tenant and waits for the import to end.
async fn import(
    server: &TestServer,
    token: &str,
    path: &str,
    name: &str,
    family: &str,
    tags: &[(&str, &str)],
) -> Value {
    let tags: serde_json::Map<String, Value> = tags
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let (status, created) = native(
        server,
        token,
        reqwest::Method::POST,
        "/api/v1/vm-images",
        Some(json!({
            "path": path, "name": name, "region_id": REGION,
            "image_family": family, "tags": tags
        })),
    )
    .await;
    assert_eq!(status, 202, "{created}");
    let id = created["ImageId"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (status, image) = native(
            server,
            token,
            reqwest::Method::GET,
            &format!("/api/v1/vm-images/{id}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{image}");
        if image["Status"] != "Creating" {
            return image;
        }
        assert!(std::time::Instant::now() < deadline, "{image}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn creation_ms(image: &Value) -> i64 {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::PrimitiveDateTime::parse(image["CreationTime"].as_str().unwrap(), &format)
        .unwrap()
        .assume_utc()
        .unix_timestamp()
        * 1000
}

/// `yyyy-MM-ddTHH:mmZ` of the minute holding `ms`, plus `minutes`.
fn minute(ms: i64, minutes: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms / 1000 / 60 * 60 + minutes * 60).unwrap();
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]Z");
    t.format(&format).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_images_filters_over_imported_disks() {
    if !vm::tools() {
        return;
    }
    let imports = tempfile::tempdir().unwrap();
    build_disks(imports.path());
    let server = start_with_importer(
        Settings {
            vm_import_dir: Some(imports.path().to_owned()),
            ..Settings::default()
        },
        Arc::new(vm::VmReader),
    )
    .await;
    let (a, b) = (server.seed.a, server.seed.b);
    let store = server.store.clone();
    let (ta, tb) = tokio::task::spawn_blocking(move || {
        (
            crowsnest_api::keys::create_token(&store, a, &["crowsnest:*"], 3_600_000).unwrap(),
            crowsnest_api::keys::create_token(&store, b, &["crowsnest:*"], 3_600_000).unwrap(),
        )
    })
    .await
    .unwrap();

    // What is imported, by whom, and what inspection must find.
    struct Plan {
        owner: &'static str,
        path: &'static str,
        name: &'static str,
        family: &'static str,
        tags: &'static [(&'static str, &'static str)],
        status: &'static str,
        boot_mode: &'static str,
        root: Root,
        format: &'static str,
    }
    let plans = [
        Plan {
            owner: "a",
            path: "gpt-uefi.raw",
            name: "debian-uefi",
            family: "debian-12",
            tags: &[("env", "prod"), ("team", "web")],
            status: "Available",
            boot_mode: "UEFI",
            root: root("debian", true),
            format: "raw",
        },
        Plan {
            owner: "a",
            path: "mbr-bios.qcow2",
            name: "ubuntu-bios",
            family: "ubuntu-2204",
            tags: &[("env", "dev")],
            status: "Available",
            boot_mode: "BIOS",
            root: root("ubuntu", false),
            format: "qcow2",
        },
        Plan {
            owner: "a",
            path: "compressed.qcow2",
            name: "debian-compressed",
            family: "debian-12",
            tags: &[("env", "prod")],
            status: "Available",
            boot_mode: "BIOS",
            root: root("debian", false),
            format: "qcow2",
        },
        Plan {
            owner: "a",
            path: "overlay.qcow2",
            name: "debian-overlay",
            family: "",
            tags: &[],
            status: "Available",
            boot_mode: "BIOS",
            root: root("debian", true),
            format: "qcow2",
        },
        Plan {
            owner: "a",
            path: "truncated.qcow2",
            name: "debian-broken",
            family: "debian-12",
            tags: &[("env", "prod")],
            status: "CreateFailed",
            boot_mode: "",
            root: root("debian", false),
            format: "qcow2",
        },
        Plan {
            owner: "b",
            path: "mbr-bios.qcow2",
            name: "b-shared",
            family: "ubuntu-2204",
            tags: &[("env", "prod")],
            status: "Available",
            boot_mode: "BIOS",
            root: root("ubuntu", false),
            format: "qcow2",
        },
        Plan {
            owner: "b",
            path: "gpt-uefi.raw",
            name: "b-community",
            family: "debian-12",
            tags: &[],
            status: "Available",
            boot_mode: "UEFI",
            root: root("debian", true),
            format: "raw",
        },
        Plan {
            owner: "b",
            path: "compressed.qcow2",
            name: "b-private",
            family: "debian-12",
            tags: &[("env", "prod")],
            status: "Available",
            boot_mode: "BIOS",
            root: root("debian", false),
            format: "qcow2",
        },
    ];
    let mut built = Vec::new();
    for p in &plans {
        let token = if p.owner == "a" { &ta } else { &tb };
        let image = import(&server, token, p.path, p.name, p.family, p.tags).await;
        // Inspection found exactly what was built.
        assert_eq!(image["Status"], p.status, "{}: {image}", p.path);
        if p.status == "Available" {
            assert_eq!(image["BootMode"], p.boot_mode, "{}", p.path);
            assert_eq!(image["Architecture"], vm::host_architecture(), "{}", p.path);
            assert_eq!(image["OSName"], p.root.pretty_name().as_str(), "{}", p.path);
            assert_eq!(image["IsSupportCloudinit"], p.root.cloud_init, "{}", p.path);
        } else {
            assert_eq!(image["FailureCode"], "invalid_image", "{image}");
        }
        assert_eq!(
            image["DiskDeviceMappings"]["DiskDeviceMapping"][0]["Format"],
            p.format
        );
        let mut tags: Vec<(String, String)> = p
            .tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        tags.sort();
        built.push(Built {
            id: image["ImageId"].as_str().unwrap().to_owned(),
            owner: p.owner,
            name: p.name.to_owned(),
            family: p.family.to_owned(),
            tags,
            status: p.status,
            boot_mode: p.boot_mode,
            cloud_init: p.root.cloud_init,
            os_name: p.root.pretty_name(),
            format: p.format,
            shared_with_a: false,
            public: false,
            used_by_a: false,
            created_ms: creation_ms(&image),
        });
    }
    // B shares one image with A and publishes another; A runs two images, one of them B's.
    let by_name = |built: &mut Vec<Built>, name: &str| -> usize {
        built.iter().position(|b| b.name == name).unwrap()
    };
    let shared = by_name(&mut built, "b-shared");
    let path = format!("/api/v1/vm-images/{}/shares", built[shared].id);
    act(
        &server,
        &tb,
        reqwest::Method::POST,
        &path,
        json!({ "account_id": "1001" }),
        201,
    )
    .await;
    built[shared].shared_with_a = true;
    let community = by_name(&mut built, "b-community");
    let path = format!("/api/v1/vm-images/{}/public", built[community].id);
    act(
        &server,
        &tb,
        reqwest::Method::PUT,
        &path,
        json!({ "public": true }),
        200,
    )
    .await;
    built[community].public = true;
    for name in ["ubuntu-bios", "b-shared"] {
        let i = by_name(&mut built, name);
        let path = format!("/api/v1/vm-images/{}/instances", built[i].id);
        let body = json!({ "instance_id": format!("i-a-{name}") });
        act(&server, &ta, reqwest::Method::POST, &path, body, 201).await;
        built[i].used_by_a = true;
    }
    // B's instance of its own private image must not make A see it.
    let private = by_name(&mut built, "b-private");
    let path = format!("/api/v1/vm-images/{}/instances", built[private].id);
    let body = json!({ "instance_id": "i-b-private" });
    act(&server, &tb, reqwest::Method::POST, &path, body, 201).await;

    // Newest first: the imports ran one after another.
    let order: Vec<String> = built.iter().rev().map(|b| b.id.clone()).collect();

    // Every filter, as A, against the model.
    let host = vm::host_architecture();
    let other_arch = if host == "arm64" { "x86_64" } else { "arm64" };
    let first = built.iter().map(|b| b.created_ms).min().unwrap();
    let last = built.iter().map(|b| b.created_ms).max().unwrap();
    let (from_first, after_last) = (minute(first, 0), minute(last, 1));
    let ids_of = |b: &Built| b.id.clone();
    let a_id = built[0].id.clone();
    let c_id = built[2].id.clone();
    let two_ids = format!("{a_id},{c_id}");
    let private_id = built[private].id.clone();
    type Pred = Box<dyn Fn(&Built) -> bool>;
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Pred);
    let available = |b: &Built| b.status == "Available";
    let cases: Vec<Case> = vec![
        ("defaults", vec![], Box::new(move |b| available(b))),
        (
            "Status=CreateFailed",
            vec![("Status", "CreateFailed")],
            Box::new(|b| b.status == "CreateFailed"),
        ),
        (
            "Status list",
            vec![("Status", "Available,CreateFailed")],
            Box::new(|_| true),
        ),
        (
            "ImageId list",
            vec![("ImageId", &two_ids), ("Status", "Available,CreateFailed")],
            Box::new({
                let (x, y) = (a_id.clone(), c_id.clone());
                move |b| b.id == x || b.id == y
            }),
        ),
        (
            "ImageId of B's private image",
            vec![("ImageId", &private_id)],
            Box::new(|_| false),
        ),
        (
            "ImageName",
            vec![("ImageName", "debian-overlay")],
            Box::new(|b| b.name == "debian-overlay"),
        ),
        (
            "ImageFamily",
            vec![("ImageFamily", "debian-12")],
            Box::new(move |b| available(b) && b.family == "debian-12"),
        ),
        (
            "OSType=linux",
            vec![("OSType", "linux")],
            Box::new(move |b| available(b)),
        ),
        (
            "OSType=windows",
            vec![("OSType", "windows")],
            Box::new(|_| false),
        ),
        (
            "Architecture=host",
            vec![("Architecture", host)],
            Box::new(move |b| available(b)),
        ),
        (
            "Architecture=other",
            vec![("Architecture", other_arch)],
            Box::new(|_| false),
        ),
        (
            "IsSupportCloudinit=true",
            vec![("IsSupportCloudinit", "true")],
            Box::new(move |b| available(b) && b.cloud_init),
        ),
        (
            "IsSupportCloudinit=false",
            vec![("IsSupportCloudinit", "false")],
            Box::new(move |b| available(b) && !b.cloud_init),
        ),
        (
            "IsSupportIoOptimized=true",
            vec![("IsSupportIoOptimized", "true")],
            Box::new(move |b| available(b)),
        ),
        (
            "Usage=instance",
            vec![("Usage", "instance")],
            Box::new(move |b| available(b) && b.used_by_a),
        ),
        (
            "Usage=none",
            vec![("Usage", "none")],
            Box::new(move |b| available(b) && !b.used_by_a),
        ),
        (
            "ImageOwnerAlias=self",
            vec![("ImageOwnerAlias", "self")],
            Box::new(move |b| available(b) && b.alias() == "self"),
        ),
        (
            "ImageOwnerAlias=others (shared only)",
            vec![("ImageOwnerAlias", "others")],
            Box::new(move |b| available(b) && b.alias() == "others" && !b.community_for_a()),
        ),
        (
            "ImageOwnerAlias=others IsPublic=true (community)",
            vec![("ImageOwnerAlias", "others"), ("IsPublic", "true")],
            Box::new(move |b| available(b) && b.community_for_a()),
        ),
        (
            "IsPublic=true alone (community)",
            vec![("IsPublic", "true")],
            Box::new(move |b| available(b) && b.community_for_a()),
        ),
        (
            "IsPublic=false (all but community)",
            vec![("IsPublic", "false")],
            Box::new(move |b| available(b) && !b.community_for_a()),
        ),
        (
            "ImageOwnerAlias=system",
            vec![("ImageOwnerAlias", "system")],
            Box::new(|_| false),
        ),
        (
            "ImageOwnerAlias=marketplace",
            vec![("ImageOwnerAlias", "marketplace")],
            Box::new(|_| false),
        ),
        (
            "ImageOwnerId of B, with others",
            vec![("ImageOwnerAlias", "others"), ("ImageOwnerId", "1002")],
            Box::new(move |b| available(b) && b.owner == "b" && !b.community_for_a()),
        ),
        (
            "ImageOwnerId of A, with others",
            vec![("ImageOwnerAlias", "others"), ("ImageOwnerId", "1001")],
            Box::new(|_| false),
        ),
        (
            "Tag key and value",
            vec![("Tag.1.Key", "env"), ("Tag.1.Value", "prod")],
            Box::new(move |b| available(b) && b.tags.contains(&("env".into(), "prod".into()))),
        ),
        (
            "Tag key only",
            vec![("Tag.1.Key", "env")],
            Box::new(move |b| available(b) && b.tags.iter().any(|(k, _)| k == "env")),
        ),
        (
            "two tags",
            vec![
                ("Tag.1.Key", "env"),
                ("Tag.1.Value", "prod"),
                ("Tag.2.Key", "team"),
                ("Tag.2.Value", "web"),
            ],
            Box::new(move |b| {
                available(b)
                    && b.tags.contains(&("env".into(), "prod".into()))
                    && b.tags.contains(&("team".into(), "web".into()))
            }),
        ),
        (
            "CreationStartTime at the first import's minute",
            vec![
                ("Filter.1.Key", "CreationStartTime"),
                ("Filter.1.Value", &from_first),
            ],
            Box::new(move |b| available(b)),
        ),
        (
            "CreationStartTime after the last import",
            vec![
                ("Filter.1.Key", "CreationStartTime"),
                ("Filter.1.Value", &after_last),
            ],
            Box::new(|_| false),
        ),
        (
            "CreationEndTime after the last import",
            vec![
                ("Filter.1.Key", "CreationEndTime"),
                ("Filter.1.Value", &after_last),
            ],
            Box::new(move |b| available(b)),
        ),
        (
            "CreationEndTime at the first import's minute",
            vec![
                ("Filter.1.Key", "CreationEndTime"),
                ("Filter.1.Value", &from_first),
            ],
            // CreationTime has whole seconds and the bound is a whole minute, so "created
            // before the bound" reads the same on the truncated time.
            Box::new(move |b| available(b) && b.created_ms < first / 60_000 * 60_000),
        ),
        (
            "InstanceType of the host's architecture",
            vec![(
                "InstanceType",
                if host == "arm64" {
                    "ecs.g6r.large"
                } else {
                    "ecs.g7.large"
                },
            )],
            Box::new(move |b| available(b)),
        ),
        (
            "InstanceType of the other architecture",
            vec![(
                "InstanceType",
                if host == "arm64" {
                    "ecs.g7.large"
                } else {
                    "ecs.g6r.large"
                },
            )],
            Box::new(|_| false),
        ),
        (
            "SnapshotId (imports have none)",
            vec![("SnapshotId", "s-none")],
            Box::new(|_| false),
        ),
    ];
    for (why, params, pred) in &cases {
        let mut all = vec![("RegionId", REGION), ("PageSize", "100")];
        all.extend(params.iter().copied());
        let (status, v) = server.ecs(&server.seed.a_all, &all).await;
        assert_eq!(status, 200, "{why}: {v}");
        let got: Vec<String> = v["Images"]["Image"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["ImageId"].as_str().unwrap().to_owned())
            .collect();
        // The expected images, newest first.
        let want: Vec<String> = order
            .iter()
            .filter(|id| {
                let b = built.iter().find(|b| &&b.id == id).unwrap();
                b.visible_to_a() && pred(b)
            })
            .cloned()
            .collect();
        assert_eq!(got, want, "{why}");
        assert_eq!(v["TotalCount"], want.len(), "{why}");
        // Each listed image is shown as built, from A's point of view.
        for image in v["Images"]["Image"].as_array().unwrap() {
            let b = built.iter().find(|b| b.id == image["ImageId"]).unwrap();
            assert_eq!(image["ImageOwnerAlias"], b.alias(), "{why}");
            assert_eq!(image["IsPublic"], b.public, "{why}");
            assert_eq!(
                image["Usage"],
                if b.used_by_a { "instance" } else { "none" },
                "{why}"
            );
            assert_eq!(image["ImageName"], b.name.as_str());
            assert_eq!(image["ImageFamily"], b.family.as_str());
            if b.status == "Available" {
                assert_eq!(image["BootMode"], b.boot_mode);
                assert_eq!(image["OSName"], b.os_name.as_str());
                assert_eq!(image["IsSupportCloudinit"], b.cloud_init);
            }
            assert_eq!(
                image["DiskDeviceMappings"]["DiskDeviceMapping"][0]["Format"],
                b.format
            );
            let tags: BTreeSet<(String, String)> = image["Tags"]["Tag"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    (
                        t["TagKey"].as_str().unwrap().to_owned(),
                        t["TagValue"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            assert_eq!(tags, b.tags.iter().cloned().collect(), "{why}");
        }
    }

    // Paging walks the default listing newest first, with the total on every page.
    let listed: Vec<String> = order
        .iter()
        .filter(|id| {
            let b = built.iter().find(|b| &&b.id == id).unwrap();
            b.visible_to_a() && available(b)
        })
        .cloned()
        .collect();
    let mut paged = Vec::new();
    for page in 1..=listed.len().div_ceil(2) + 1 {
        let page_s = page.to_string();
        let (status, v) = server
            .ecs(
                &server.seed.a_all,
                &[
                    ("RegionId", REGION),
                    ("PageSize", "2"),
                    ("PageNumber", &page_s),
                ],
            )
            .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["TotalCount"], listed.len());
        assert_eq!(v["PageNumber"], page);
        let ids: Vec<String> = v["Images"]["Image"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["ImageId"].as_str().unwrap().to_owned())
            .collect();
        assert!(ids.len() <= 2);
        paged.extend(ids);
    }
    assert_eq!(paged, listed);

    // B's point of view: its shared and published images are `self`, A's are invisible, and
    // its own instance makes its private image Usage=instance for it.
    let (status, v) = server
        .ecs(
            &server.seed.b_all,
            &[
                ("RegionId", REGION),
                ("ImageOwnerAlias", "self"),
                ("PageSize", "100"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let mut got: Vec<String> = v["Images"]["Image"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["ImageId"].as_str().unwrap().to_owned())
        .collect();
    got.sort();
    let mut want: Vec<String> = built
        .iter()
        .filter(|b| b.owner == "b")
        .map(ids_of)
        .collect();
    want.sort();
    assert_eq!(got, want);
    for image in v["Images"]["Image"].as_array().unwrap() {
        let b = built.iter().find(|b| b.id == image["ImageId"]).unwrap();
        assert_eq!(image["IsPublic"], b.public);
        assert_eq!(
            image["IsSelfShared"],
            if b.shared_with_a { "true" } else { "false" }
        );
        // B's own images: in use when anyone's instance runs them.
        let used = b.used_by_a || b.name == "b-private";
        assert_eq!(
            image["Usage"],
            if used { "instance" } else { "none" },
            "{}",
            b.name
        );
    }
}
