//! Huawei HSS ListRegistryImages and ListLocalImages against the real router over TCP: the
//! query rules of their documents, AK/SK signatures and tokens, and tenant isolation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::*;

const REGISTRY: &str = "/v5/proj-a/image/registries/images";
const LONG_64: &str = "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp";
const LONG_65: &str = "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv";
const LONG_129: &str = concat!(
    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
);
const LONG_257: &str = concat!(
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
);
const LOCAL: &str = "/v5/proj-a/image/local-repositories";

fn names(v: &Value) -> Vec<String> {
    v["data_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}:{}",
                i["image_name"].as_str().unwrap(),
                i["image_version"].as_str().unwrap()
            )
        })
        .collect()
}

async fn table(server: &TestServer, path: &str, ok: Vec<OkCase>, bad: Vec<BadCase>) {
    for (name, query, check) in ok {
        let (status, body) = server.huawei(&server.seed.a_all, path, &query).await;
        assert_eq!(status, 200, "{name}: {body}");
        check(&body);
    }
    for (name, query) in bad {
        assert!(
            LONG_64.len() == 64
                && LONG_65.len() == 65
                && LONG_129.len() == 129
                && LONG_257.len() == 257
        );
        let (status, body) = server.huawei(&server.seed.a_all, path, &query).await;
        assert_eq!(status, 400, "{name}: {body}");
        assert_eq!(body["error_code"], "HSS.0001", "{name}");
        assert!(
            body["error_msg"].as_str().unwrap().contains(query[0].0),
            "{name}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_registry_images_rules() {
    let server = start().await;
    let ok: Vec<OkCase> = vec![
        ("default enterprise project 0", vec![], |v| {
            assert_eq!(
                names(v),
                ["web_app:1.0", "web_app:latest", "web_app:2.0", "Nginx:1.25"]
            );
            assert_eq!(v["total_num"], 4);
        }),
        (
            "all projects",
            vec![("enterprise_project_id", "all_granted_eps")],
            |v| assert_eq!(v["total_num"], 5),
        ),
        (
            "one project",
            vec![("enterprise_project_id", "ep-1")],
            |v| assert_eq!(names(v), ["busybox:multi"]),
        ),
        (
            "limit and offset",
            vec![("limit", "1"), ("offset", "2")],
            |v| {
                assert_eq!(names(v), ["web_app:2.0"]);
                assert_eq!(v["total_num"], 4);
            },
        ),
        ("namespace", vec![("namespace", "infra")], |v| {
            assert_eq!(names(v), ["Nginx:1.25"])
        }),
        ("image name", vec![("image_name", "web_app")], |v| {
            assert_eq!(v["total_num"], 3)
        }),
        // The document gives image_name no partial or case-insensitive matching (unlike
        // ListLocalImages), so it is an exact, case-sensitive match.
        (
            "image name is case sensitive",
            vec![("image_name", "WEB_APP")],
            |v| assert_eq!(v["total_num"], 0),
        ),
        (
            "image name is not partial",
            vec![("image_name", "web")],
            |v| assert_eq!(v["total_num"], 0),
        ),
        (
            "image name keeps its case",
            vec![("image_name", "Nginx")],
            |v| assert_eq!(v["total_num"], 1),
        ),
        (
            "image name other case",
            vec![("image_name", "nginx")],
            |v| assert_eq!(v["total_num"], 0),
        ),
        ("image version", vec![("image_version", "latest")], |v| {
            assert_eq!(names(v), ["web_app:latest"])
        }),
        ("registry name", vec![("registry_name", "acr-main")], |v| {
            assert_eq!(v["total_num"], 4)
        }),
        (
            "image type",
            vec![
                ("image_type", "harbor"),
                ("enterprise_project_id", "all_granted_eps"),
            ],
            |v| assert_eq!(names(v), ["busybox:multi"]),
        ),
        ("scan status unscan", vec![("scan_status", "unscan")], |v| {
            assert_eq!(names(v), ["web_app:latest"])
        }),
        ("scan status failed", vec![("scan_status", "failed")], |v| {
            assert_eq!(names(v), ["web_app:2.0"])
        }),
        (
            "scan status success",
            vec![("scan_status", "success")],
            |v| assert_eq!(v["total_num"], 2),
        ),
        ("latest version", vec![("latest_version", "true")], |v| {
            assert_eq!(names(v), ["web_app:latest", "Nginx:1.25"])
        }),
        ("image size exact", vec![("image_size", "1000")], |v| {
            assert_eq!(names(v), ["web_app:2.0"])
        }),
        (
            "update window",
            vec![
                ("start_latest_update_time", "150"),
                ("end_latest_update_time", "350"),
            ],
            |v| {
                assert_eq!(names(v), ["web_app:latest", "web_app:2.0"]);
            },
        ),
        (
            "scan window",
            vec![
                ("start_latest_scan_time", "2500"),
                ("end_latest_scan_time", "3500"),
            ],
            |v| assert_eq!(names(v), ["web_app:2.0"]),
        ),
        (
            "sync window",
            vec![("start_latest_sync_time", "400")],
            |v| assert_eq!(names(v), ["Nginx:1.25"]),
        ),
        ("has vul", vec![("has_vul", "true")], |v| {
            assert_eq!(names(v), ["web_app:1.0", "Nginx:1.25"])
        }),
        (
            "has no vul: only scanned images",
            vec![("has_vul", "false")],
            |v| assert_eq!(v["total_num"], 0),
        ),
        (
            "unsafe settings",
            vec![
                ("has_unsafe_setting", "true"),
                ("enterprise_project_id", "all_granted_eps"),
            ],
            |v| assert_eq!(names(v), ["busybox:multi"]),
        ),
        ("malicious", vec![("has_malicious_file", "true")], |v| {
            assert_eq!(v["total_num"], 0)
        }),
        ("risky", vec![("risky", "true")], |v| {
            assert_eq!(v["total_num"], 2)
        }),
        ("not risky", vec![("risky", "false")], |v| {
            assert_eq!(names(v), ["web_app:latest", "web_app:2.0"])
        }),
        ("instance id", vec![("instance_id", "cri-a1")], |v| {
            assert_eq!(v["total_num"], 4)
        }),
        (
            "empty instance id filters nothing",
            vec![("instance_id", "")],
            |v| assert_eq!(v["total_num"], 4),
        ),
        ("severity", vec![("severity_level", "High")], |v| {
            assert_eq!(v["total_num"], 2)
        }),
        (
            "multi-arch",
            vec![
                ("is_multarch", "true"),
                ("enterprise_project_id", "all_granted_eps"),
            ],
            |v| {
                let row = &v["data_list"][0];
                assert_eq!(row["is_multiple_arch"], true);
                let kids = row["association_images"].as_array().unwrap();
                assert_eq!(kids.len(), 2);
                assert_eq!(kids[0]["image_digest"], format!("sha256:{}", digest_hex(5)));
                assert_eq!(kids[0]["scan_status"], "success");
                assert_eq!(kids[0]["vul_num"], 1);
                assert_eq!(kids[1]["scan_status"], "unscan");
            },
        ),
        (
            "sort by scan time desc",
            vec![("sort_key", "latest_scan_time"), ("sort_dir", "desc")],
            |v| {
                assert_eq!(
                    names(v),
                    ["web_app:2.0", "web_app:1.0", "Nginx:1.25", "web_app:latest"]
                );
            },
        ),
        (
            "sort by scan time, ascending by default",
            vec![("sort_key", "latest_scan_time")],
            |v| {
                assert_eq!(names(v)[0], "web_app:latest");
                assert_eq!(names(v)[3], "web_app:2.0");
            },
        ),
        ("response fields", vec![("limit", "3")], |v| {
            let first = &v["data_list"][0];
            assert_eq!(first["image_digest"], format!("sha256:{}", digest_hex(1)));
            assert_eq!(first["image_id"], digest_hex(101));
            assert_eq!(first["namespace"], "shop");
            assert_eq!(first["registry_id"], "reg-a1");
            assert_eq!(first["registry_name"], "acr-main");
            assert_eq!(first["registry_type"], "acr");
            assert_eq!(first["image_type"], "private_image");
            assert_eq!(first["vul_num"], 3);
            assert_eq!(first["severity_level"], "High");
            assert_eq!(first["latest_scan_time"], 2000);
            assert_eq!(first["latest_update_time"], 100);
            assert_eq!(first["latest_sync_time"], 101);
            assert_eq!(first["scannable"], true);
            assert_eq!(first["instance_id"], "cri-a1");
            let failed = &v["data_list"][2];
            assert_eq!(failed["scan_status"], "download_failed");
            assert_eq!(failed["scan_failed_code"], "download_failed");
            assert_eq!(
                failed["scan_failed_desc"],
                "The image download failed. Contact technical support."
            );
            assert!(v["data_list"][1].get("latest_scan_time").is_none());
        }),
    ];
    let bad: Vec<BadCase> = vec![
        ("limit 0", vec![("limit", "0")]),
        ("limit 201", vec![("limit", "201")]),
        ("offset negative", vec![("offset", "-1")]),
        ("offset too large", vec![("offset", "2000001")]),
        ("limit text", vec![("limit", "ten")]),
        ("bad image type", vec![("image_type", "docker")]),
        ("bad scan status", vec![("scan_status", "done")]),
        ("bad sort key", vec![("sort_key", "name")]),
        ("bad sort dir", vec![("sort_dir", "up")]),
        ("bad severity", vec![("severity_level", "Critical")]),
        ("bad bool", vec![("has_vul", "True")]),
        ("image size range", vec![("image_size", "2147483548")]),
        ("namespace too long", vec![("namespace", LONG_129)]),
        ("empty image name", vec![("image_name", "")]),
        ("image version too long", vec![("image_version", LONG_65)]),
        (
            "enterprise project empty",
            vec![("enterprise_project_id", "")],
        ),
    ];
    table(&server, REGISTRY, ok, bad).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_local_images_rules() {
    let server = start().await;
    let ok: Vec<OkCase> = vec![
        ("all", vec![], |v| {
            assert_eq!(names(v), ["nginx:1.25", "redis:7"]);
            assert_eq!(v["total_num"], 2);
            let n = &v["data_list"][0];
            assert_eq!(n["image_digest"], format!("sha256:{}", digest_hex(1)));
            assert_eq!(n["local_image_type"], "swr_image");
            assert_eq!(n["scan_status"], "success");
            assert_eq!(n["host_num"], 2);
            assert_eq!(n["container_num"], 1);
            assert_eq!(n["component_num"], 146);
            assert_eq!(n["vul_num"], 3);
            assert_eq!(n["severity_level"], "High");
            assert_eq!(n["latest_scan_time"], 2000);
            assert_eq!(n["host_id"], "host-a1");
            assert_eq!(n["agent_id"], "agent-a1");
            assert_eq!(v["data_list"][1]["scan_status"], "unscan");
        }),
        ("name is partial", vec![("image_name", "ngi")], |v| {
            assert_eq!(names(v), ["nginx:1.25"])
        }),
        (
            "name is case sensitive",
            vec![("image_name", "NGINX")],
            |v| assert_eq!(v["total_num"], 0),
        ),
        (
            "version with name",
            vec![("image_name", "nginx"), ("image_version", "9")],
            |v| assert_eq!(v["total_num"], 0),
        ),
        (
            "version without name is ignored",
            vec![("image_version", "9")],
            |v| assert_eq!(v["total_num"], 2),
        ),
        ("scan status", vec![("scan_status", "unscan")], |v| {
            assert_eq!(names(v), ["redis:7"])
        }),
        (
            "unknown scan status: empty result",
            vec![("scan_status", "Success")],
            |v| assert_eq!(v["total_num"], 0),
        ),
        (
            "unknown image type: empty result",
            vec![("local_image_type", "SWR_IMAGE")],
            |v| assert_eq!(v["total_num"], 0),
        ),
        (
            "image type",
            vec![("local_image_type", "other_image")],
            |v| assert_eq!(names(v), ["redis:7"]),
        ),
        ("size is exact", vec![("image_size", "52428800")], |v| {
            assert_eq!(names(v), ["nginx:1.25"])
        }),
        (
            "update window",
            vec![
                ("start_latest_update_time", "1500"),
                ("end_latest_update_time", "2500"),
            ],
            |v| assert_eq!(names(v), ["redis:7"]),
        ),
        (
            "update window needs both ends",
            vec![("start_latest_update_time", "1500")],
            |v| assert_eq!(v["total_num"], 2),
        ),
        (
            "reversed window is ignored",
            vec![
                ("start_latest_update_time", "2500"),
                ("end_latest_update_time", "1500"),
            ],
            |v| assert_eq!(v["total_num"], 2),
        ),
        (
            "scan window",
            vec![
                ("start_latest_scan_time", "1000"),
                ("end_latest_scan_time", "3000"),
            ],
            |v| assert_eq!(names(v), ["nginx:1.25"]),
        ),
        ("has vul", vec![("has_vul", "true")], |v| {
            assert_eq!(names(v), ["nginx:1.25"])
        }),
        ("host name fuzzy", vec![("host_name", "db")], |v| {
            assert_eq!(v["total_num"], 2)
        }),
        ("host id exact", vec![("host_id", "host-a")], |v| {
            assert_eq!(v["total_num"], 0)
        }),
        ("host id", vec![("host_id", "host-a1")], |v| {
            assert_eq!(names(v), ["nginx:1.25"])
        }),
        ("host ip", vec![("host_ip", "10.0.0.6")], |v| {
            assert_eq!(v["total_num"], 2)
        }),
        ("container id", vec![("container_id", "c0ffee01")], |v| {
            assert_eq!(names(v), ["nginx:1.25"])
        }),
        (
            "container name fuzzy",
            vec![("container_name", "main")],
            |v| assert_eq!(names(v), ["nginx:1.25"]),
        ),
        ("pod id", vec![("pod_id", "pod-uid-1")], |v| {
            assert_eq!(names(v), ["nginx:1.25"])
        }),
        ("pod name fuzzy", vec![("pod_name", "web")], |v| {
            assert_eq!(names(v), ["nginx:1.25"])
        }),
        ("app name fuzzy", vec![("app_name", "ngin")], |v| {
            assert_eq!(names(v), ["nginx:1.25"])
        }),
        ("has container", vec![("has_container", "false")], |v| {
            assert_eq!(names(v), ["redis:7"])
        }),
        ("limit", vec![("limit", "10"), ("offset", "1")], |v| {
            assert_eq!(names(v), ["redis:7"])
        }),
    ];
    let bad: Vec<BadCase> = vec![
        ("limit below 10", vec![("limit", "9")]),
        ("limit above 200", vec![("limit", "201")]),
        ("offset", vec![("offset", "2000001")]),
        ("image name charset", vec![("image_name", "web@1")]),
        ("image name too long", vec![("image_name", LONG_257)]),
        ("image version charset", vec![("image_version", "1.0#")]),
        ("host name charset", vec![("host_name", "web.host")]),
        ("host id charset", vec![("host_id", "host_a1")]),
        ("host ip", vec![("host_ip", "10.0.0.256")]),
        ("container id charset", vec![("container_id", "c.1")]),
        ("pod name hyphen", vec![("pod_name", "-web")]),
        ("pod name too long", vec![("pod_name", LONG_64)]),
        ("app name charset", vec![("app_name", "nginx!")]),
        ("has vul bool", vec![("has_vul", "yes")]),
        ("image size negative", vec![("image_size", "-1")]),
    ];
    table(&server, LOCAL, ok, bad).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huawei_authentication_and_isolation() {
    let server = start().await;
    let seed = &server.seed;
    // Tokens.
    let (status, body) = server.huawei_token(&seed.a_token, REGISTRY, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total_num"], 4);
    let (status, body) = server.huawei_token("cn1.not-a-token", REGISTRY, &[]).await;
    assert_eq!(
        (status.as_u16(), body["error_code"].as_str()),
        (401, Some("APIGW.0301"))
    );
    // No credentials at all.
    let resp = reqwest::get(format!("{}{REGISTRY}", server.base))
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get("x-request-id").is_some());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error_code"], "APIGW.0301");
    // Wrong secret, unknown key, stale date.
    let wrong = crowsnest_api::keys::AccessKey {
        id: seed.a_all.id.clone(),
        secret: "x".into(),
    };
    assert_eq!(server.huawei(&wrong, REGISTRY, &[]).await.0, 401);
    let unknown = crowsnest_api::keys::AccessKey {
        id: "nobody".into(),
        secret: "x".into(),
    };
    assert_eq!(server.huawei(&unknown, REGISTRY, &[]).await.0, 401);
    let (status, body) = server
        .huawei_at(&seed.a_all, REGISTRY, &[], -20 * 60 * 1000)
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error_msg"].as_str().unwrap().contains("window"));
    // A key without the action.
    let (status, body) = server.huawei(&seed.a_none, LOCAL, &[]).await;
    assert_eq!(
        (status.as_u16(), body["error_code"].as_str()),
        (403, Some("HSS.0003"))
    );
    // Another tenant's project: refused, not emptied.
    for path in [
        "/v5/proj-b/image/registries/images",
        "/v5/proj-b/image/local-repositories",
        "/v5/no-such-project/image/local-repositories",
    ] {
        let (status, body) = server.huawei(&seed.a_all, path, &[]).await;
        assert_eq!(
            (status.as_u16(), body["error_code"].as_str()),
            (403, Some("HSS.0003")),
            "{path}"
        );
    }
    // B's own view holds only B's rows.
    let (status, body) = server
        .huawei(&seed.b_all, "/v5/proj-b/image/registries/images", &[])
        .await;
    assert_eq!(status, 200);
    assert_eq!(names(&body), ["web_app:1.0", "web_app:secret-b"]);
    assert!(body["data_list"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["registry_id"] == "reg-b1"));
    let (_, body) = server
        .huawei(&seed.b_all, "/v5/proj-b/image/local-repositories", &[])
        .await;
    assert_eq!(names(&body), ["nginx:1.25"]);
    assert_eq!(body["data_list"][0]["host_num"], 1);
    assert_eq!(body["data_list"][0]["host_id"], "host-b1");
    // Unknown routes under /v5 answer in Huawei's envelope.
    let (status, body) = server
        .huawei(&seed.a_all, "/v5/proj-a/image/nothing", &[])
        .await;
    assert_eq!(
        (status.as_u16(), body["error_code"].as_str()),
        (404, Some("APIGW.0101"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_signed_request_is_refused() {
    let server = start().await;
    let seed = &server.seed;
    let signed = server.huawei_sign(&seed.a_all, REGISTRY, &[("limit", "2")], 0);
    let raw = signed.raw_http();
    let (status, body) = send_raw(server.addr, &raw).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total_num"], 4);
    // The same bytes again, on a new connection, inside the freshness window.
    let (status, body) = send_raw(server.addr, &raw).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (401, Some("APIGW.0301")),
        "{body}"
    );
    assert!(body["error_msg"].as_str().unwrap().contains("replay"));
    // A different request (other query) signed in the same second is still accepted, and so is
    // the same request signed by another key: signatures are remembered per key.
    let other = server.huawei_sign(&seed.a_all, REGISTRY, &[("limit", "3")], 0);
    assert_eq!(send_raw(server.addr, &other.raw_http()).await.0, 200);
    let by_b = server.huawei_sign(&seed.b_all, "/v5/proj-b/image/registries/images", &[], 0);
    assert_eq!(send_raw(server.addr, &by_b.raw_http()).await.0, 200);
    // A forged signature is refused as forged, and does not burn the genuine one.
    let genuine = server.huawei_sign(&seed.a_all, REGISTRY, &[("limit", "1")], 0);
    let mut forged = genuine.authorization.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    let forged = HuaweiSigned {
        host: genuine.host.clone(),
        target: genuine.target.clone(),
        date: genuine.date.clone(),
        authorization: forged,
    };
    let (status, body) = send_raw(server.addr, &forged.raw_http()).await;
    assert_eq!(status, 401);
    assert!(body["error_msg"]
        .as_str()
        .unwrap()
        .contains("does not match"));
    assert_eq!(send_raw(server.addr, &genuine.raw_http()).await.0, 200);
}
