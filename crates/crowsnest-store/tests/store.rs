//! The store on both engines (a real SQLite file and a real PostgreSQL server): migrations,
//! tenant isolation, digest sharing, filters, keys. Every test is a `fn(&TestDb)` listed in
//! `on_both_engines!` at the bottom, which runs it once per engine.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up helpers outside #[test] fns

#[macro_use]
mod engines;

use engines::TestDb;

use crowsnest_store::{
    EngineKind, Field, Filter, NewImage, NewRegistry, NewRepository, NewTag, NewTenant,
    NonceVerdict, PlacementOrder, PlacementQuery, ScanRecord, ScanState, Store, StoreError,
    TenantId,
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
fn seeded(db: &TestDb) -> (Store, TenantId, TenantId) {
    let store = db.open();
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
    (store, a, b)
}

fn all(limit: i64) -> PlacementQuery {
    PlacementQuery {
        filter: Filter::True,
        order: PlacementOrder::Id,
        offset: 0,
        limit,
    }
}

fn migrations_apply_once_and_reopen(db: &TestDb) {
    let store = db.open();
    let version = store.schema_version().unwrap();
    // One version per migration file, so adding a migration does not break this test.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count();
    assert_eq!(version, files as i64);
    drop(store);
    // Reopening (by the location string, as `crowsnest serve --database` does) applies nothing.
    let again = Store::open(&db.location()).unwrap();
    assert_eq!(again.schema_version().unwrap(), version);
}

#[test]
fn sqlite_data_dir_is_created_on_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/data");
    let store = Store::open_data_dir(&path).unwrap();
    assert_eq!(store.engine(), EngineKind::Sqlite);
    assert!(path.join(crowsnest_store::SQLITE_FILE).is_file());
}

fn engine_is_the_one_asked_for(db: &TestDb) {
    let expected = match db {
        TestDb::Sqlite(_) => EngineKind::Sqlite,
        TestDb::Postgres { .. } => EngineKind::Postgres,
    };
    assert_eq!(db.open().engine(), expected);
}

fn tenants_never_see_each_others_placements(db: &TestDb) {
    let (store, a, b) = seeded(db);
    let pa = store.placements(a, &all(50)).unwrap();
    let pb = store.placements(b, &all(50)).unwrap();
    assert_eq!(pa.total, 2);
    assert_eq!(pb.total, 1);
    assert!(pb.rows.iter().all(|r| r.registry_uid == "reg-b"));
    // The shared digest is one image row with one scan, seen by both tenants.
    assert_eq!(pa.rows[0].image_row, pb.rows[0].image_row);
    assert_eq!(pb.rows[0].scan.as_ref().unwrap().vul_count, 7);
}

fn registry_uid_of_another_tenant_is_not_taken_over(db: &TestDb) {
    let (store, _a, b) = seeded(db);
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

fn filters_count_and_page(db: &TestDb) {
    let (store, a, _b) = seeded(db);
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

fn keys_tokens_and_nonces(db: &TestDb) {
    let (store, a, _b) = seeded(db);
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

    store.create_api_key(a, "AK2", "secret2", &["*"]).unwrap();
    // A replay is the same request again: the same key, nonce and (signed) expiry.
    assert!(fresh(&store, "AK1", "n1", 0, 100));
    assert!(!fresh(&store, "AK1", "n1", 50, 100));
    assert!(fresh(&store, "AK2", "n1", 50, 100));
    // Another expiry means another signed timestamp, so another request.
    assert!(fresh(&store, "AK1", "n1", 101, 200));
    // A second later the batch also purges expired nonces (nonce_claims.rs), and still
    // answers its own claim and later ones right.
    assert!(fresh(&store, "AK1", "n2", 5_000, 6_000));
    assert!(!fresh(&store, "AK1", "n2", 5_001, 6_000));
    assert!(fresh(&store, "AK1", "n1", 5_002, 6_000));
}

/// Whether the claim of `nonce` found it new (see `NonceVerdict`).
fn fresh(store: &Store, key: &str, nonce: &str, now_ms: i64, expires_ms: i64) -> bool {
    store
        .claim_nonce(key, nonce, now_ms, expires_ms)
        .unwrap()
        .verdict
        == NonceVerdict::Fresh
}

/// The claim's transaction checks the key and reads the inventory generation, which is what
/// lets the API keep AccessKeys in memory and answer cached pages without a transaction: a
/// key revoked through another handle (another process) is refused at its next claim even
/// though this handle still remembers it, a re-enabled key works again, and the generation
/// a claim reports moves with inventory writes and only with them.
fn nonce_claims_check_keys_and_report_the_generation(db: &TestDb) {
    let (store, a, _b) = seeded(db);
    let other_process = db.open();
    store.create_api_key(a, "AK-live", "s", &["*"]).unwrap();
    assert!(store.api_key_cached("AK-live").unwrap().unwrap().enabled);
    let first = store.claim_nonce("AK-live", "n1", 0, 1_000).unwrap();
    assert_eq!(first.verdict, NonceVerdict::Fresh);
    // Key and nonce writes are not inventory: the generation stays.
    let second = store.claim_nonce("AK-live", "n2", 0, 1_000).unwrap();
    assert_eq!(second.generation, first.generation);
    other_process
        .upsert_image(&NewImage {
            digest: digest(77),
            config_digest: None,
            size_bytes: 1,
            created_ms: 0,
            is_multiarch: false,
        })
        .unwrap();
    let after_write = store.claim_nonce("AK-live", "n3", 0, 1_000).unwrap();
    assert!(after_write.generation > first.generation);

    other_process.revoke_api_key(a, "AK-live").unwrap();
    // This handle still remembers the key; its claim refuses it.
    assert!(store.api_key_cached("AK-live").unwrap().unwrap().enabled);
    let revoked = store.claim_nonce("AK-live", "n4", 0, 1_000).unwrap();
    assert_eq!(revoked.verdict, NonceVerdict::KeyDisabled);
    // ...and forgot it, so the next lookup reads that it is disabled.
    assert!(!store.api_key_cached("AK-live").unwrap().unwrap().enabled);
    // A refused claim stored nothing: once the key is enabled again, n4 is new.
    other_process.set_api_key_enabled("AK-live", true).unwrap();
    assert!(fresh(&store, "AK-live", "n4", 0, 1_000));
    // Unknown keys are refused too, and not remembered.
    let unknown = store.claim_nonce("AK-unknown", "n1", 0, 1_000).unwrap();
    assert_eq!(unknown.verdict, NonceVerdict::KeyDisabled);
    assert!(store.api_key_cached("AK-unknown").unwrap().is_none());
}

/// The native API lists and revokes keys by tenant; the tenant condition is in the SQL, so a
/// key id of another tenant is neither listed nor revocable.
fn keys_are_listed_and_revoked_per_tenant(db: &TestDb) {
    let (store, a, b) = seeded(db);
    store.create_api_key(a, "AK-A1", "s1", &["*"]).unwrap();
    store
        .create_api_key(a, "AK-A2", "s2", &["hss:*", "crowsnest:ListKeys"])
        .unwrap();
    store.create_api_key(b, "AK-B1", "s3", &["*"]).unwrap();
    let ids = |t| -> Vec<String> {
        store
            .list_api_keys(t)
            .unwrap()
            .into_iter()
            .map(|k| k.access_key_id)
            .collect()
    };
    assert_eq!(ids(a), ["AK-A1", "AK-A2"]);
    assert_eq!(ids(b), ["AK-B1"]);
    let a2 = &store.list_api_keys(a).unwrap()[1];
    assert_eq!(a2.actions, ["hss:*", "crowsnest:ListKeys"]);
    assert!(a2.enabled && a2.created_ms > 0);

    assert!(matches!(
        store.revoke_api_key(a, "AK-B1"),
        Err(StoreError::NotFound(_))
    ));
    assert!(store.api_key("AK-B1").unwrap().unwrap().enabled);
    assert!(matches!(
        store.revoke_api_key(a, "AK-none"),
        Err(StoreError::NotFound(_))
    ));
    store.revoke_api_key(a, "AK-A2").unwrap();
    assert!(!store.api_key("AK-A2").unwrap().unwrap().enabled);
    assert!(!store.list_api_keys(a).unwrap()[1].enabled);
    assert!(store.list_api_keys(TenantId(i64::MAX)).unwrap().is_empty());
}

fn multiarch_children_carry_their_own_scans(db: &TestDb) {
    let (store, _a, _b) = seeded(db);
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
fn unreachable_postgres_fails_without_leaking_the_password() {
    // Port 1 on localhost refuses at once; the error names the failure, never the password.
    let err = Store::open("postgres://u:hunter2@127.0.0.1:1/x?connect_timeout=2")
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::Postgres(_)), "{err}");
    assert!(!err.to_string().contains("hunter2"));
    let err = Store::open("postgres://u:hunter2@127.0.0.1:5432/x?sslmode=bogus")
        .err()
        .unwrap();
    assert!(!err.to_string().contains("hunter2"));
}

#[test]
fn other_url_schemes_are_unsupported() {
    let err = Store::open("mysql://u:hunter2@db/x").err().unwrap();
    assert!(matches!(err, StoreError::Unsupported(_)), "{err}");
    assert!(!err.to_string().contains("hunter2"));
}

fn placement_rows_carry_every_joined_field(db: &TestDb) {
    let (store, a, _b) = seeded(db);
    let page = store.placements(a, &all(10)).unwrap();
    let row = &page.rows[0];
    assert_eq!(row.tag, "1.0");
    assert_eq!(
        (row.namespace.as_str(), row.repo_name.as_str()),
        ("shop", "web_app")
    );
    assert_eq!(row.repo_type, "private");
    assert_eq!(row.image_type, "private_image");
    assert_eq!(row.registry_name, "registry-a");
    assert_eq!(row.region_id, "cn-hangzhou");
    assert_eq!(row.endpoints, "[]");
    assert_eq!(row.enterprise_project_id, "0");
    assert_eq!(row.digest, digest(1).to_string());
    assert_eq!(row.config_digest, digest(2).to_string());
    assert_eq!((row.size_bytes, row.created_ms), (1000, 10));
    // `NewTag::default()` leaves `scannable` false; the seed relies on that default.
    assert!(!row.latest_version && !row.deployed && !row.scannable && !row.is_multiarch);
    assert_eq!(row.uuid.len(), 36);
    let scan = row.scan.as_ref().unwrap();
    assert_eq!(
        (
            scan.state.as_str(),
            scan.severity.as_str(),
            scan.finished_ms
        ),
        ("succeeded", "High", Some(600))
    );
    assert!(page.rows[1].latest_version);
}

fn filters_on_numbers_sets_and_negation(db: &TestDb) {
    let (store, a, _b) = seeded(db);
    let total = |filter| {
        store
            .placements(a, &PlacementQuery { filter, ..all(10) })
            .unwrap()
            .total
    };
    assert_eq!(total(Filter::Eq(Field::LatestVersion, true.into())), 1);
    assert_eq!(total(Filter::Eq(Field::SizeBytes, 5000.into())), 1);
    assert_eq!(
        total(Filter::In(
            Field::ScanState,
            vec!["unscanned".into(), "failed".into()]
        )),
        1
    );
    assert_eq!(total(Filter::In(Field::Tag, vec![])), 0);
    assert_eq!(
        total(Filter::Between(Field::SizeBytes, Some(1000), Some(4999))),
        1
    );
    assert_eq!(total(Filter::Between(Field::LastScanMs, None, Some(0))), 1);
    assert_eq!(total(Filter::Between(Field::UpdatedMs, None, None)), 2);
    assert_eq!(total(Filter::Not(Box::new(Filter::Risky))), 1);
    assert_eq!(total(Filter::Positive(Field::VulCount)), 1);
    assert_eq!(
        total(Filter::Eq(Field::Digest, digest(3).to_string().into())),
        1
    );
    assert_eq!(total(Filter::All(vec![])), 2);
    assert_eq!(total(Filter::Any(vec![])), 0);
    // A value with a quote or placeholder-like text is data, never SQL.
    assert_eq!(total(Filter::Eq(Field::Tag, "1.0' OR '1'='1".into())), 0);
    assert_eq!(total(Filter::Contains(Field::Tag, "$1".into())), 0);
}

fn duplicates_are_unique_violations_and_roll_back(db: &TestDb) {
    let (store, a, _b) = seeded(db);
    let err = store
        .create_tenant(&NewTenant {
            name: "a".into(),
            account_id: "acct-other".into(),
        })
        .err()
        .unwrap();
    assert!(err.is_unique_violation(), "{err}");
    let err = store
        .create_api_key(a, "AK-dup", "s", &["*"])
        .and_then(|()| store.create_api_key(a, "AK-dup", "s", &["*"]))
        .err()
        .unwrap();
    assert!(err.is_unique_violation(), "{err}");
    // A missing parent is a typed error, not a half-written row.
    assert!(matches!(
        store.put_tag(999_999, 1, &NewTag::default()),
        Err(StoreError::NotFound(_))
    ));
    assert!(!StoreError::NotFound("x").is_unique_violation());
}

fn concurrent_writers_all_land_and_nonces_stay_single_use(db: &TestDb) {
    let (store, a, _b) = seeded(db);
    store.create_api_key(a, "AK-race", "s", &["*"]).unwrap();
    let repo = {
        let reg = store
            .upsert_registry(
                a,
                &NewRegistry {
                    uid: "reg-busy".into(),
                    name: "busy".into(),
                    registry_type: "harbor".into(),
                    region_id: "cn-shanghai".into(),
                    ..Default::default()
                },
            )
            .unwrap();
        store
            .upsert_repository(
                reg,
                &NewRepository {
                    uid: "repo-busy".into(),
                    namespace: "ns".into(),
                    name: "busy".into(),
                    ..Default::default()
                },
            )
            .unwrap()
    };
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut claimed = 0;
                for n in 0..20u8 {
                    // Every thread also stores the same digest: it must stay one image row.
                    let image = store
                        .upsert_image(&NewImage {
                            digest: digest(100 + n),
                            config_digest: None,
                            size_bytes: i64::from(n),
                            created_ms: 0,
                            is_multiarch: false,
                        })
                        .unwrap();
                    store
                        .put_tag(
                            repo,
                            image,
                            &NewTag {
                                tag: format!("t{t}-{n}"),
                                ..Default::default()
                            },
                        )
                        .unwrap();
                    if fresh(&store, "AK-race", &format!("n{n}"), 0, 1_000) {
                        claimed += 1;
                    }
                }
                claimed
            })
        })
        .collect();
    let claimed: i32 = threads.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(claimed, 20, "each nonce is claimed by exactly one request");
    let busy = store
        .placements(
            a,
            &PlacementQuery {
                filter: Filter::Eq(Field::RepoId, "repo-busy".into()),
                ..all(500)
            },
        )
        .unwrap();
    assert_eq!(busy.total, 160);
    let mut image_rows: Vec<i64> = busy.rows.iter().map(|r| r.image_row).collect();
    image_rows.sort_unstable();
    image_rows.dedup();
    assert_eq!(image_rows.len(), 20);
}

/// Concurrent nonce claims share transactions (nonce_claims.rs). Through two handles on one
/// database (two servers), 16 threads race for the same 50 nonces, many of them inside one
/// batch, and each also claims one of its own: every shared nonce is won exactly once, and
/// every thread's own nonce is new.
fn batched_nonce_claims_stay_single_use(db: &TestDb) {
    let handles = [db.open(), db.open()];
    let owner = tenant(&handles[0], "a");
    handles[0]
        .create_api_key(owner, "AK-batch", "s", &["*"])
        .unwrap();
    let threads: Vec<_> = (0..16usize)
        .map(|t| {
            let store = handles[t % 2].clone();
            std::thread::spawn(move || {
                let own = fresh(&store, "AK-batch", &format!("own-{t}"), 0, 1_000);
                let won = (0..50)
                    .filter(|n| fresh(&store, "AK-batch", &format!("shared-{n}"), 0, 1_000))
                    .count();
                (own, won)
            })
        })
        .collect();
    let results: Vec<(bool, usize)> = threads.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(results.iter().all(|(own, _)| *own), "{results:?}");
    assert_eq!(results.iter().map(|(_, won)| won).sum::<usize>(), 50);
    // A replay after the race is still refused, through either handle.
    assert!(!fresh(&handles[1], "AK-batch", "shared-7", 0, 1_000));
    assert!(!fresh(&handles[0], "AK-batch", "own-3", 0, 1_000));
}

fn seed_deals_images_to_tenants_and_filters_agree(db: &TestDb) {
    let store = db.open();
    let report = store
        .seed(&crowsnest_store::SeedPlan {
            tenants: 2,
            images: 300,
            registries_per_tenant: 2,
            repos_per_registry: 5,
            scanned_percent: 50,
        })
        .unwrap();
    let [a, b] = report.tenants[..] else {
        panic!("two tenants")
    };
    let total = |t, filter| {
        store
            .placements(t, &PlacementQuery { filter, ..all(5) })
            .unwrap()
            .total
    };
    assert_eq!((total(a, Filter::True), total(b, Filter::True)), (150, 150));
    // Image 7 went to tenant B (odd numbers); A cannot find it by digest.
    let seven = Filter::Eq(Field::Digest, crowsnest_store::seed::seed_digest(7).into());
    assert_eq!((total(a, seven.clone()), total(b, seven)), (0, 1));
    // Both tenants have repositories named alike; a repository filter stays in the tenant.
    let repo = Filter::Contains(Field::RepoName, "app-".into());
    assert_eq!(total(a, repo), 150);
    let scanned = total(
        a,
        Filter::Not(Box::new(Filter::Eq(Field::ScanState, "unscanned".into()))),
    );
    assert!((40..=110).contains(&scanned), "{scanned} of 150 scanned");
}

/// Counts answered from the per-repository summary agree with counting the placements, after
/// rescans that change scan state and risk.
fn summary_counts_follow_rescans(db: &TestDb) {
    let (store, a, _) = seeded(db);
    let q = |filter| PlacementQuery { filter, ..all(10) };
    let filters = [
        Filter::True,
        Filter::Risky,
        Filter::Not(Box::new(Filter::Risky)),
        Filter::Eq(Field::ScanState, "succeeded".into()),
        Filter::Eq(Field::ScanState, "failed".into()),
        Filter::Eq(Field::ScanState, "unscanned".into()),
        Filter::Eq(Field::RepoName, "web_app".into()),
    ];
    let check = |when: &str| {
        for f in &filters {
            let summed = store.placements(a, &q(f.clone())).unwrap().total;
            // A condition on a placement column the summary lacks forces the exact count.
            let exact = Filter::All(vec![
                f.clone(),
                Filter::Between(Field::UpdatedMs, Some(0), None),
            ]);
            let counted = store.placements(a, &q(exact)).unwrap().total;
            assert_eq!(summed, counted, "{when}: {f:?}");
        }
    };
    check("initial");
    let image = store.placements(a, &q(Filter::True)).unwrap().rows[0].image_row;
    let failed = ScanRecord {
        state: ScanState::Failed,
        stage: "DOWNLOAD".into(),
        progress: 100,
        failure_code: "download_failed".into(),
        vul_count: 0,
        baseline_count: 0,
        malicious_count: 0,
        alarm_count: 0,
        severity: String::new(),
        started_ms: Some(700),
        finished_ms: Some(800),
    };
    let before = store
        .placements(a, &q(Filter::Eq(Field::ScanState, "failed".into())))
        .unwrap()
        .total;
    store.record_scan(image, &failed).unwrap();
    check("after a failed rescan");
    let after = store
        .placements(a, &q(Filter::Eq(Field::ScanState, "failed".into())))
        .unwrap()
        .total;
    assert!(after >= before.max(1));
    let risky = ScanRecord {
        state: ScanState::Succeeded,
        alarm_count: 2,
        ..failed
    };
    store.record_scan(image, &risky).unwrap();
    check("after a risky rescan");
}

/// Pages are served from remembered totals and page positions (list_cache.rs) while the
/// inventory is unchanged: every page, in every order, at offsets reached in any sequence, must
/// equal the slice of one uncached listing; and a write through another handle on the same
/// database (another process, as `crowsnest registry sync` beside `serve` is) must be seen.
fn cached_pages_equal_uncached_slices_and_writes_are_seen(db: &TestDb) {
    let store = db.open();
    let report = store
        .seed(&crowsnest_store::SeedPlan {
            tenants: 1,
            images: 400,
            registries_per_tenant: 2,
            repos_per_registry: 6,
            scanned_percent: 60,
        })
        .unwrap();
    let t = report.tenants[0];
    let filters = [
        Filter::True,
        Filter::Eq(Field::ScanState, "succeeded".into()),
        Filter::Eq(Field::RepoName, "app-1-3".into()),
        Filter::Contains(Field::Tag, "7".into()),
    ];
    let orders = [
        PlacementOrder::Id,
        PlacementOrder::LastScanAsc,
        PlacementOrder::LastScanDesc,
    ];
    for filter in &filters {
        for order in orders {
            // The truth: a fresh handle (empty cache) listing everything at once.
            let truth: Vec<i64> = db
                .open()
                .placements(
                    t,
                    &PlacementQuery {
                        filter: filter.clone(),
                        order,
                        offset: 0,
                        limit: 1000,
                    },
                )
                .unwrap()
                .rows
                .iter()
                .map(|r| r.id)
                .collect();
            for offset in [0, 20, 40, 7, 150, 60, 149, 390, 23, 400, 1000, 41] {
                for round in 0..2 {
                    let page = store
                        .placements(
                            t,
                            &PlacementQuery {
                                filter: filter.clone(),
                                order,
                                offset,
                                limit: 20,
                            },
                        )
                        .unwrap();
                    let ids: Vec<i64> = page.rows.iter().map(|r| r.id).collect();
                    let from = (offset as usize).min(truth.len());
                    let to = (from + 20).min(truth.len());
                    assert_eq!(page.total, truth.len() as i64, "{filter:?} {order:?}");
                    assert_eq!(
                        ids,
                        truth[from..to],
                        "{filter:?} {order:?} offset {offset} round {round}"
                    );
                }
            }
        }
    }
    // Another handle adds a placement at the end of id order; this handle's remembered total
    // and last position must not hide it.
    let q = PlacementQuery {
        filter: Filter::True,
        order: PlacementOrder::Id,
        offset: 380,
        limit: 50,
    };
    let before = store.placements(t, &q).unwrap();
    assert_eq!((before.total, before.rows.len()), (400, 20));
    let other = db.open();
    let repo = other
        .upsert_repository(
            other
                .upsert_registry(
                    t,
                    &NewRegistry {
                        uid: "late-registry".into(),
                        name: "late".into(),
                        registry_type: "harbor".into(),
                        ..NewRegistry::default()
                    },
                )
                .unwrap(),
            &NewRepository {
                uid: "late-repo".into(),
                namespace: "late".into(),
                name: "late".into(),
                ..NewRepository::default()
            },
        )
        .unwrap();
    let image = other
        .upsert_image(&NewImage {
            digest: digest(9),
            config_digest: None,
            size_bytes: 1,
            created_ms: 1,
            is_multiarch: false,
        })
        .unwrap();
    let added = other
        .put_tag(
            repo,
            image,
            &NewTag {
                tag: "late".into(),
                ..NewTag::default()
            },
        )
        .unwrap();
    let after = store.placements(t, &q).unwrap();
    assert_eq!((after.total, after.rows.len()), (401, 21));
    assert_eq!(after.rows.last().unwrap().id, added);
    // The page itself is remembered too (a second call is answered from the cache): a scan
    // recorded through the other handle must still show in its rows.
    assert_eq!(store.placements(t, &q).unwrap().rows, after.rows);
    other
        .record_scan(
            image,
            &ScanRecord {
                vul_count: 7,
                severity: "High".into(),
                ..ScanRecord::succeeded(5, 6)
            },
        )
        .unwrap();
    let scanned = store.placements(t, &q).unwrap();
    let scan = scanned.rows.last().unwrap().scan.as_ref().unwrap();
    assert_eq!((scan.vul_count, scan.severity.as_str()), (7, "High"));
}

/// Seeded hosts' local images page from the cache exactly as without it (ListLocalImages).
fn seeded_local_images_page_like_uncached_slices(db: &TestDb) {
    let store = db.open();
    let t = store
        .seed(&crowsnest_store::SeedPlan {
            images: 200,
            ..crowsnest_store::SeedPlan::default()
        })
        .unwrap()
        .tenants[0];
    // 10 hosts x 30 images over 200 digests: the last 100 repeat earlier ones and are skipped.
    assert_eq!(store.seed_hosts(t, 10, 30).unwrap(), 200);
    for query in [
        crowsnest_store::LocalImageQuery::default(),
        crowsnest_store::LocalImageQuery {
            image_name_contains: Some("app-1".into()),
            ..Default::default()
        },
        crowsnest_store::LocalImageQuery {
            host_name_contains: Some("node-3".into()),
            ..Default::default()
        },
    ] {
        let truth: Vec<i64> = db
            .open()
            .local_images(
                t,
                &crowsnest_store::LocalImageQuery {
                    limit: 1000,
                    ..query.clone()
                },
            )
            .unwrap()
            .rows
            .iter()
            .map(|r| r.id)
            .collect();
        assert!(!truth.is_empty());
        for offset in [0, 10, 20, 5, 150, 30, 199, 200, 11] {
            for _ in 0..2 {
                let page = store
                    .local_images(
                        t,
                        &crowsnest_store::LocalImageQuery {
                            limit: 10,
                            offset,
                            ..query.clone()
                        },
                    )
                    .unwrap();
                let from = (offset as usize).min(truth.len());
                let to = (from + 10).min(truth.len());
                assert_eq!(page.total, truth.len() as i64);
                let ids: Vec<i64> = page.rows.iter().map(|r| r.id).collect();
                assert_eq!(ids, truth[from..to], "{query:?} offset {offset}");
            }
        }
    }
}

on_both_engines!(
    seed_deals_images_to_tenants_and_filters_agree,
    migrations_apply_once_and_reopen,
    summary_counts_follow_rescans,
    engine_is_the_one_asked_for,
    tenants_never_see_each_others_placements,
    registry_uid_of_another_tenant_is_not_taken_over,
    filters_count_and_page,
    keys_tokens_and_nonces,
    keys_are_listed_and_revoked_per_tenant,
    multiarch_children_carry_their_own_scans,
    placement_rows_carry_every_joined_field,
    filters_on_numbers_sets_and_negation,
    duplicates_are_unique_violations_and_roll_back,
    concurrent_writers_all_land_and_nonces_stay_single_use,
    batched_nonce_claims_stay_single_use,
    nonce_claims_check_keys_and_report_the_generation,
    cached_pages_equal_uncached_slices_and_writes_are_seen,
    seeded_local_images_page_like_uncached_slices,
);
