//! Sync and scan of a real registry into the store: repositories, tags, digests, multi-arch
//! children, latest_version, incremental second sync (no manifest fetched), removal of what
//! disappeared, and scan results with the seed's failure codes as ListRegistryImages reads
//! them (the placement query). SQLite here; the store's own tests cover both engines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use crowsnest_image::Limits;
use crowsnest_registry::sync::{self, ScanCounts, ScanPolicy, SyncOptions};
use crowsnest_registry::ServerKey;
use crowsnest_store::{
    Filter, NewRegistry, NewRegistryConnection, NewTenant, PlacementOrder, PlacementQuery, Store,
};
use crowsnest_testkit::registry::{TestRegistry, PASSWORD, USER};

fn alpine(version: &str) -> String {
    crowsnest_testkit::registry::docker_archive(&format!("images/alpine-{version}.tar.gz"))
}

#[test]
fn sync_records_changes_incrementally_and_scans_record_codes() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    registry.push(&alpine("310"), "library/alpine:3.10", &[]);
    registry.push(&alpine("311"), "library/alpine:3.11", &[]);
    registry.push(&alpine("311"), "library/alpine:latest", &[]);
    registry.push(&alpine("310"), "team/app:1", &[]);
    registry.push(&alpine("310"), "other/skip:1", &[]);
    let schema1 = registry
        .try_push(&alpine("310"), "old/legacy:v1", &["--format", "v2s1"])
        .status
        .success();

    let data = tempfile::tempdir().unwrap();
    let store = Store::open_data_dir(data.path()).unwrap();
    let tenant = store
        .create_tenant(&NewTenant {
            name: "t".into(),
            account_id: "acct-t".into(),
        })
        .unwrap();
    let key = ServerKey::load_or_create(data.path()).unwrap();
    let uid = "local";
    store
        .add_registry_connection(
            tenant,
            &NewRegistryConnection {
                registry: NewRegistry {
                    uid: uid.into(),
                    name: "local registry".into(),
                    registry_type: "generic".into(),
                    ..NewRegistry::default()
                },
                url: format!("http://{}", registry.host()),
                username: USER.into(),
                secret_sealed: key.seal(uid, PASSWORD).unwrap(),
                namespace_filters: vec!["library".into(), "team".into(), "old".into()],
                ..NewRegistryConnection::default()
            },
        )
        .unwrap();
    let connection = store.registry_connection(tenant, uid).unwrap().unwrap();
    assert!(!connection.secret_sealed.contains(PASSWORD));
    let client = Arc::new(sync::connect(&connection, &key, Duration::from_secs(10)).unwrap());

    let first = sync::sync_registry(
        &store,
        tenant,
        &connection,
        &client,
        &SyncOptions::default(),
    )
    .unwrap();
    eprintln!("first sync: {first:?}");
    let expected_repos = if schema1 { 3 } else { 2 };
    assert_eq!(first.repositories, expected_repos, "other/ is filtered out");
    assert_eq!(first.tags, expected_repos + 2);
    assert_eq!(first.changed_tags, first.tags);
    assert!(first.problems.is_empty(), "{:?}", first.problems);
    let tags = store.synced_tags(tenant, connection.id).unwrap();
    let digest_of = |repo: &str, tag: &str| {
        tags.iter()
            .find(|t| t.repository == repo && t.tag == tag)
            .map(|t| t.digest.clone())
            .unwrap()
    };
    assert_eq!(digest_of("alpine", "3.11"), digest_of("alpine", "latest"));
    assert_ne!(digest_of("alpine", "3.10"), digest_of("alpine", "3.11"));
    assert_eq!(
        digest_of("alpine", "3.10"),
        client
            .head_manifest("library/alpine", "3.10")
            .unwrap()
            .digest
            .unwrap()
            .to_string()
    );

    // Unchanged registry: one tag list per repository, one HEAD per tag, no manifest GET.
    let second = sync::sync_registry(
        &store,
        tenant,
        &connection,
        &client,
        &SyncOptions::default(),
    )
    .unwrap();
    eprintln!("second sync: {second:?}");
    assert_eq!(second.changed_tags, 0);
    assert_eq!(second.manifests_fetched, 0);
    assert!(
        second.requests < first.requests,
        "{} vs {}",
        second.requests,
        first.requests
    );

    // A moved tag is fetched again; a deleted tag disappears.
    registry.push(&alpine("311"), "team/app:1", &[]);
    let gone = client
        .head_manifest("library/alpine", "3.10")
        .unwrap()
        .digest
        .unwrap();
    let layer_digest = {
        let m = client
            .manifest("library/alpine", &gone.to_string(), 1 << 20)
            .unwrap();
        match crowsnest_image::source::RemoteDocument::parse(&m.bytes, m.media_type.as_deref(), "m")
            .unwrap()
        {
            crowsnest_image::source::RemoteDocument::Manifest { layers, .. } => {
                layers[0].0.to_string()
            }
            other => panic!("{other:?}"),
        }
    };
    let deleted = client_delete(&registry, "library/alpine", &gone.to_string());
    assert!(deleted, "the registry allows deletes");
    let third = sync::sync_registry(
        &store,
        tenant,
        &connection,
        &client,
        &SyncOptions::default(),
    )
    .unwrap();
    eprintln!("third sync: {third:?}");
    assert_eq!(third.changed_tags, 1);
    assert_eq!(third.removed_tags, 1);
    let tags = store.synced_tags(tenant, connection.id).unwrap();
    assert!(!tags
        .iter()
        .any(|t| t.repository == "alpine" && t.tag == "3.10"));

    // Scan what has no scan yet; the schema 1 image was recorded as failed at sync time.
    // With the baseline analyzer: its findings are counted onto the stored scan.
    let baseline = crowsnest_risk::RiskAnalyzers::new(&crowsnest_risk::RiskOptions {
        kinds: [crowsnest_model::RiskKind::Baseline].into_iter().collect(),
        ..Default::default()
    })
    .unwrap();
    let scanner = crowsnest_scan::Scanner::new(Limits::default()).with_risk(baseline);
    let baseline_seen = std::cell::Cell::new(0);
    let mut assess = |_digest: &str, out: &crowsnest_scan::ScanOutput| {
        baseline_seen.set(out.risks.len() as i64);
        ScanCounts {
            vul_count: out.inventory.packages.len() as i64,
            baseline_count: out.risks.len() as i64,
            severity: "Low".into(),
            ..Default::default()
        }
    };
    let outcomes = sync::scan_unscanned(
        &store,
        tenant,
        &connection,
        Arc::clone(&client),
        &scanner,
        &ScanPolicy::default(),
        &mut assess,
    )
    .unwrap();
    // alpine 3.11 (shared by three tags) is scanned once.
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[0].failure_code, None);
    assert_eq!(outcomes[0].packages, 14);

    let page = store
        .placements(
            tenant,
            &PlacementQuery {
                filter: Filter::True,
                order: PlacementOrder::Id,
                offset: 0,
                limit: 100,
            },
        )
        .unwrap();
    let latest: Vec<String> = page
        .rows
        .iter()
        .filter(|r| r.latest_version)
        .map(|r| format!("{}/{}:{}", r.namespace, r.repo_name, r.tag))
        .collect();
    assert!(
        latest.contains(&"library/alpine:latest".to_owned()),
        "{latest:?}"
    );
    for row in &page.rows {
        let scan = row.scan.as_ref().expect("every placement has a scan");
        if row.namespace == "old" {
            assert_eq!(scan.failure_code, "schema_v1_not_support");
            assert_eq!(scan.state, "failed");
        } else {
            assert_eq!(scan.state, "succeeded", "{row:?}");
            assert_eq!(scan.vul_count, 14);
            // alpine sets no USER: at least "runs as root".
            assert!(baseline_seen.get() > 0);
            assert_eq!(scan.baseline_count, baseline_seen.get());
        }
        assert!(row.synced_ms > 0);
    }

    // alpine 3.10's manifest was deleted but its blobs stay in storage. Corrupt its layer and
    // tag it again (skopeo sees the blob present and does not upload it): the scan fails with
    // download_failed, and ListRegistryImages' query shows that code on the new placement.
    let manifest = client
        .manifest("library/alpine", &gone.to_string(), 1 << 20)
        .ok();
    assert!(manifest.is_none(), "the deleted manifest is gone");
    let file = registry.blob_file(&layer_digest);
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x55;
    std::fs::write(&file, bytes).unwrap();
    registry.push(&alpine("310"), "team/app:2", &[]);
    let fourth = sync::sync_registry(
        &store,
        tenant,
        &connection,
        &client,
        &SyncOptions::default(),
    )
    .unwrap();
    assert_eq!(fourth.changed_tags, 1, "{fourth:?}");
    let outcomes = sync::scan_unscanned(
        &store,
        tenant,
        &connection,
        Arc::clone(&client),
        &scanner,
        &ScanPolicy::default(),
        &mut assess,
    )
    .unwrap();
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[0].failure_code.as_deref(), Some("download_failed"));
    let page = store
        .placements(
            tenant,
            &PlacementQuery {
                filter: Filter::True,
                order: PlacementOrder::Id,
                offset: 0,
                limit: 100,
            },
        )
        .unwrap();
    let app2 = page
        .rows
        .iter()
        .find(|r| r.repo_name == "app" && r.tag == "2")
        .unwrap();
    assert_eq!(app2.scan.as_ref().unwrap().failure_code, "download_failed");

    // Removing the registry removes its placements.
    assert!(store.remove_registry(tenant, uid).unwrap());
    assert!(store.synced_tags(tenant, connection.id).unwrap().is_empty());
    assert!(store.registry_connection(tenant, uid).unwrap().is_none());
}

/// Deletes a manifest through the registry API (authenticated with Basic), as an operator would.
fn client_delete(registry: &TestRegistry, repository: &str, digest: &str) -> bool {
    let output = std::process::Command::new("skopeo")
        .args([
            "delete",
            "--tls-verify=false",
            "--creds",
            &format!("{USER}:{PASSWORD}"),
        ])
        .arg(format!(
            "docker://{}/{repository}@{digest}",
            registry.host()
        ))
        .output()
        .unwrap();
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    }
    output.status.success()
}
