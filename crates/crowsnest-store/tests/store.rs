//! The store against a real SQLite file: migrations, tenant isolation, digest sharing, filters.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up helpers outside #[test] fns

use crowsnest_store::{
    Field, Filter, NewImage, NewRegistry, NewRepository, NewTag, NewTenant, PlacementOrder,
    PlacementQuery, ScanRecord, ScanState, Store, TenantId,
};

fn digest(n: u8) -> crowsnest_model::Digest {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
        .parse()
        .unwrap()
}

fn tenant(store: &Store, name: &str) -> TenantId {
    store
        .create_tenant(&NewTenant {
            name: name.into(),
            account_id: format!("acct-{name}"),
        })
        .unwrap()
}

/// Two tenants tagging the same digest; tenant A also has an unscanned image.
fn seeded() -> (tempfile::TempDir, Store, TenantId, TenantId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_data_dir(&dir.path().join("data")).unwrap();
    let a = tenant(&store, "a");
    let b = tenant(&store, "b");
    let shared = store
        .upsert_image(&NewImage {
            digest: digest(1),
            config_digest: Some(digest(2)),
            size_bytes: 1000,
            created_ms: 10,
            is_multiarch: false,
        })
        .unwrap();
    let lonely = store
        .upsert_image(&NewImage {
            digest: digest(3),
            config_digest: Some(digest(4)),
            size_bytes: 5000,
            created_ms: 20,
            is_multiarch: false,
        })
        .unwrap();
    for (t, name) in [(a, "a"), (b, "b")] {
        let reg = store
            .upsert_registry(
                t,
                &NewRegistry {
                    uid: format!("reg-{name}"),
                    name: format!("registry-{name}"),
                    registry_type: "acr".into(),
                    region_id: "cn-hangzhou".into(),
                    ..Default::default()
                },
            )
            .unwrap();
        let repo = store
            .upsert_repository(
                reg,
                &NewRepository {
                    uid: format!("repo-{name}"),
                    namespace: "shop".into(),
                    name: "web_app".into(),
                    ..Default::default()
                },
            )
            .unwrap();
        store
            .put_tag(
                repo,
                shared,
                &NewTag {
                    tag: "1.0".into(),
                    updated_ms: 100,
                    synced_ms: 100,
                    ..Default::default()
                },
            )
            .unwrap();
        if t == a {
            store
                .put_tag(
                    repo,
                    lonely,
                    &NewTag {
                        tag: "2.0".into(),
                        updated_ms: 200,
                        synced_ms: 200,
                        latest_version: true,
                        ..Default::default()
                    },
                )
                .unwrap();
        }
    }
    store
        .record_scan(
            shared,
            &ScanRecord {
                state: ScanState::Succeeded,
                stage: "SUCCESS".into(),
                progress: 100,
                failure_code: String::new(),
                vul_count: 7,
                baseline_count: 0,
                malicious_count: 0,
                alarm_count: 0,
                severity: "High".into(),
                started_ms: Some(500),
                finished_ms: Some(600),
            },
        )
        .unwrap();
    (dir, store, a, b)
}

fn all(limit: i64) -> PlacementQuery {
    PlacementQuery {
        filter: Filter::True,
        order: PlacementOrder::Id,
        offset: 0,
        limit,
    }
}

#[test]
fn migrations_apply_once_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/data");
    let store = Store::open_data_dir(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 1);
    drop(store);
    let again = Store::open_data_dir(&path).unwrap();
    assert_eq!(again.schema_version().unwrap(), 1);
}

#[test]
fn tenants_never_see_each_others_placements() {
    let (_dir, store, a, b) = seeded();
    let pa = store.placements(a, &all(50)).unwrap();
    let pb = store.placements(b, &all(50)).unwrap();
    assert_eq!(pa.total, 2);
    assert_eq!(pb.total, 1);
    assert!(pb.rows.iter().all(|r| r.registry_uid == "reg-b"));
    // The shared digest is one image row with one scan, seen by both tenants.
    assert_eq!(pa.rows[0].image_row, pb.rows[0].image_row);
    assert_eq!(pb.rows[0].scan.as_ref().unwrap().vul_count, 7);
}

#[test]
fn registry_uid_of_another_tenant_is_not_taken_over() {
    let (_dir, store, _a, b) = seeded();
    let err = store.upsert_registry(
        b,
        &NewRegistry {
            uid: "reg-a".into(),
            name: "stolen".into(),
            registry_type: "acr".into(),
            region_id: "cn-hangzhou".into(),
            ..Default::default()
        },
    );
    assert!(err.is_err());
}

#[test]
fn filters_count_and_page() {
    let (_dir, store, a, _b) = seeded();
    let q = |filter| PlacementQuery { filter, ..all(10) };
    let scanned = store
        .placements(a, &q(Filter::Eq(Field::ScanState, "succeeded".into())))
        .unwrap();
    assert_eq!(scanned.total, 1);
    assert_eq!(scanned.rows[0].tag, "1.0");
    let unscanned = store
        .placements(a, &q(Filter::Eq(Field::ScanState, "unscanned".into())))
        .unwrap();
    assert_eq!(unscanned.rows[0].tag, "2.0");
    assert!(unscanned.rows[0].scan.is_none());
    // Case-insensitive substring; `_` is literal, not a wildcard.
    let contains = store
        .placements(a, &q(Filter::Contains(Field::RepoName, "WEB_".into())))
        .unwrap();
    assert_eq!(contains.total, 2);
    let literal = store
        .placements(a, &q(Filter::Contains(Field::RepoName, "web%".into())))
        .unwrap();
    assert_eq!(literal.total, 0);
    let either = store
        .placements(
            a,
            &q(Filter::Any(vec![
                Filter::Eq(Field::Tag, "2.0".into()),
                Filter::Risky,
            ])),
        )
        .unwrap();
    assert_eq!(either.total, 2);
    let paged = store
        .placements(
            a,
            &PlacementQuery {
                offset: 1,
                limit: 1,
                ..all(1)
            },
        )
        .unwrap();
    assert_eq!((paged.total, paged.rows.len()), (2, 1));
    assert_eq!(paged.rows[0].tag, "2.0");
    let by_scan = store
        .placements(
            a,
            &PlacementQuery {
                order: PlacementOrder::LastScanDesc,
                ..all(10)
            },
        )
        .unwrap();
    assert_eq!(by_scan.rows[0].tag, "1.0");
}

#[test]
fn keys_tokens_and_nonces() {
    let (_dir, store, a, _b) = seeded();
    store
        .create_api_key(a, "AK1", "secret", &["yundun-sas:DescribeImageInstances"])
        .unwrap();
    let key = store.api_key("AK1").unwrap().unwrap();
    assert_eq!(key.tenant, a);
    assert!(key.enabled);
    assert!(key.allows("yundun-sas:DescribeImageInstances"));
    assert!(!key.allows("yundun-sas:PublicCreateImageScanTask"));
    assert!(store.api_key("nope").unwrap().is_none());

    store.create_token(a, "tok", &["hss:*"], 1_000).unwrap();
    assert_eq!(store.token("tok", 999).unwrap().unwrap().0, a);
    assert!(store.token("tok", 1_000).unwrap().is_none());
    assert!(store.token("other", 0).unwrap().is_none());

    assert!(store.claim_nonce("AK1", "n1", 0, 100).unwrap());
    assert!(!store.claim_nonce("AK1", "n1", 50, 150).unwrap());
    assert!(store.claim_nonce("AK2", "n1", 50, 150).unwrap());
    // Expired nonces are forgotten.
    assert!(store.claim_nonce("AK1", "n1", 101, 200).unwrap());
}

#[test]
fn multiarch_children_carry_their_own_scans() {
    let (_dir, store, _a, _b) = seeded();
    let index = store
        .upsert_image(&NewImage {
            digest: digest(9),
            config_digest: None,
            size_bytes: 0,
            created_ms: 0,
            is_multiarch: true,
        })
        .unwrap();
    let arm = store
        .upsert_image(&NewImage {
            digest: digest(10),
            config_digest: Some(digest(11)),
            size_bytes: 1,
            created_ms: 0,
            is_multiarch: false,
        })
        .unwrap();
    store.add_image_child(index, arm, "linux/arm64").unwrap();
    let children = store.image_children(&[index]).unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].platform, "linux/arm64");
    assert!(children[0].scan.is_none());
}

#[test]
fn postgres_urls_are_refused_without_leaking_the_password() {
    let err = Store::open("postgres://u:hunter2@localhost/x")
        .err()
        .unwrap();
    assert!(!err.to_string().contains("hunter2"));
}
