//! The official SDKs, unchanged, against the real server: a Python virtualenv under `target/`
//! (created once, reused while `sdk-tests/requirements.txt` is unchanged) with the pinned
//! alibabacloud_sas20181203, alibabacloud_ecs20140526 and huaweicloudsdkhss from PyPI runs the
//! scripts in `sdk-tests/` with a valid key, a wrong secret and no key, and this test checks
//! what the SDKs parsed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::python::{scripts_dir, sdk_python};
use support::*;

/// Runs a script with the given key and returns its JSON output.
async fn run(
    python: &Path,
    script: &str,
    server: &TestServer,
    ak: &str,
    sk: &str,
    project: &str,
) -> Value {
    let python = python.to_owned();
    let script = scripts_dir().join(script);
    let script_path = script.clone();
    let endpoint = server.addr.to_string();
    let (ak, sk, project) = (ak.to_owned(), sk.to_owned(), project.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(&script_path)
            .env("CROWSNEST_ENDPOINT", endpoint)
            .env("AK", ak)
            .env("SK", sk)
            .env("PROJECT_ID", project)
            .env("NO_PROXY", "*")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{} failed: {}\n{stdout}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn error_code(v: &Value) -> (Option<i64>, String) {
    let e = &v["error"];
    (
        e["status"].as_i64(),
        e["code"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_work_unchanged() {
    let Some(python) = sdk_python() else {
        return;
    };
    // SQLite, then (one after the other: the venv is shared) a fresh PostgreSQL schema.
    check_sdks(&python, &start().await).await;
    if let Some(pg) = PgSchema::create() {
        let url = pg.url.clone();
        let store = std::thread::spawn(move || crowsnest_store::Store::open(&url).unwrap())
            .join()
            .unwrap();
        assert_eq!(store.engine(), crowsnest_store::EngineKind::Postgres);
        let server = start_on(store, Default::default(), Box::new(pg)).await;
        check_sdks(&python, &server).await;
    }
}

async fn check_sdks(python: &std::path::Path, server: &TestServer) {
    let seed = &server.seed;

    // Alibaba Security Center, with the ACS3 signature (the SDK's default) and the RPC one.
    let out = run(
        python,
        "alibaba_sas.py",
        server,
        &seed.a_all.id,
        &seed.a_all.secret,
        "",
    )
    .await;
    for scheme in ["acs3", "rpc"] {
        let r = &out[scheme];
        let body = &r["describe_default"]["ok"];
        assert_eq!(body["PageInfo"]["TotalCount"], 5, "{scheme}: {r}");
        assert_eq!(body["ImageInstanceList"][0]["Digest"], digest_hex(1));
        assert_eq!(body["ImageInstanceList"][0]["VulCount"], 3);
        assert!(body["RequestId"].as_str().is_some());
        let filtered = &r["describe_filtered"]["ok"];
        assert_eq!(filtered["PageInfo"]["TotalCount"], 2, "{scheme}: {r}");
        assert_eq!(filtered["ImageInstanceList"][0]["Tag"], "2.0");
        assert_eq!(
            error_code(&r["describe_bad_page"]),
            (Some(400), "InvalidParameter".into()),
            "{scheme}"
        );
        assert_eq!(
            r["criteria"]["ok"]["CriteriaList"]
                .as_array()
                .unwrap()
                .len(),
            4
        );
        assert_eq!(
            r["pre_check"]["ok"]["Data"]["ScanImageCount"], 4,
            "{scheme}: {r}"
        );
        assert_eq!(r["pre_check"]["ok"]["Data"]["NeedAuthCount"], 3);
        let task = &r["create"]["ok"]["Data"];
        assert_eq!(task["TotalCount"], 1, "{scheme}: {r}");
        assert_eq!(task["Status"], "INIT");
        assert_eq!(task["TaskId"].as_str().unwrap().len(), 32);
        assert_eq!(
            error_code(&r["create_empty"]),
            (Some(400), "TaskNumEmpty".into())
        );
    }
    let wrong = run(
        python,
        "alibaba_sas.py",
        server,
        &seed.a_all.id,
        "wrong-secret",
        "",
    )
    .await;
    for scheme in ["acs3", "rpc"] {
        assert_eq!(
            error_code(&wrong[scheme]["describe_default"]),
            (Some(400), "SignatureDoesNotMatch".into()),
            "{scheme}: {wrong}"
        );
    }
    let denied = run(
        python,
        "alibaba_sas.py",
        server,
        &seed.a_none.id,
        &seed.a_none.secret,
        "",
    )
    .await;
    assert_eq!(
        error_code(&denied["acs3"]["describe_default"]),
        (Some(403), "NoPermission".into()),
        "{denied}"
    );
    let missing = run(python, "alibaba_sas.py", server, "", "", "").await;
    // Without a key the SDK refuses to send anything.
    assert_eq!(
        missing["acs3"]["describe_default"]["error"]["code"], "InvalidCredentials",
        "{missing}"
    );
    let other = run(
        python,
        "alibaba_sas.py",
        server,
        &seed.b_all.id,
        &seed.b_all.secret,
        "",
    )
    .await;
    assert_eq!(
        other["acs3"]["describe_default"]["ok"]["PageInfo"]["TotalCount"], 2,
        "{other}"
    );

    // Alibaba ECS.
    let out = run(
        python,
        "alibaba_ecs.py",
        server,
        &seed.a_all.id,
        &seed.a_all.secret,
        "",
    )
    .await;
    let images = &out["default"]["ok"];
    assert_eq!(images["TotalCount"], 5, "{out}");
    assert_eq!(images["Images"]["Image"][0]["ImageId"], "m-bcommunity");
    let tagged = &out["tagged"]["ok"];
    assert_eq!(tagged["TotalCount"], 1, "{out}");
    assert_eq!(
        tagged["Images"]["Image"][0]["Tags"]["Tag"][0]["TagValue"],
        "prod"
    );
    assert_eq!(
        tagged["Images"]["Image"][0]["DetectionOptions"]["Items"]["Item"][0]["Name"],
        "Nvme"
    );
    assert_eq!(
        error_code(&out["bad_alias"]),
        (Some(400), "InvalidImageOwnerAlias.ValueNotSupported".into())
    );
    assert_eq!(
        error_code(&out["dry_run"]),
        (Some(400), "DryRunOperation".into())
    );
    let wrong = run(
        python,
        "alibaba_ecs.py",
        server,
        &seed.a_all.id,
        "wrong",
        "",
    )
    .await;
    assert_eq!(
        error_code(&wrong["default"]),
        (Some(400), "SignatureDoesNotMatch".into()),
        "{wrong}"
    );

    // Huawei HSS.
    let out = run(
        python,
        "huawei_hss.py",
        server,
        &seed.a_all.id,
        &seed.a_all.secret,
        "proj-a",
    )
    .await;
    let body = &out["registry_default"]["ok"];
    assert_eq!(body["total_num"], 4, "{out}");
    assert_eq!(
        body["data_list"][0]["image_digest"],
        format!("sha256:{}", digest_hex(1))
    );
    let multi = &out["registry_filtered"]["ok"];
    assert_eq!(multi["total_num"], 1, "{out}");
    assert_eq!(
        multi["data_list"][0]["association_images"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        error_code(&out["registry_bad_limit"]),
        (Some(400), "HSS.0001".into())
    );
    let local = &out["local_default"]["ok"];
    assert_eq!(local["total_num"], 2, "{out}");
    assert_eq!(local["data_list"][0]["component_num"], 146);
    assert_eq!(out["local_filtered"]["ok"]["total_num"], 1, "{out}");
    let wrong = run(
        python,
        "huawei_hss.py",
        server,
        &seed.a_all.id,
        "wrong",
        "proj-a",
    )
    .await;
    assert_eq!(
        error_code(&wrong["registry_default"]),
        (Some(401), "APIGW.0301".into()),
        "{wrong}"
    );
    let foreign = run(
        python,
        "huawei_hss.py",
        server,
        &seed.a_all.id,
        &seed.a_all.secret,
        "proj-b",
    )
    .await;
    assert_eq!(
        error_code(&foreign["registry_default"]),
        (Some(403), "HSS.0003".into()),
        "{foreign}"
    );
    let missing = run(python, "huawei_hss.py", server, "", "", "proj-a").await;
    assert!(
        missing["registry_default"]["error"].is_object(),
        "{missing}"
    );
}
