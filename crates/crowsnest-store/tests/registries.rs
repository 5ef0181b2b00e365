//! Connected registries on both engines: records round-trip, other tenants see nothing, the
//! end of a sync removes vanished tags and repositories (keeping the placement counts right)
//! and moves `latest_version`, and removing a registry removes its placements; a scheduled
//! run is claimed by exactly one of several racing callers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod engines;

use crowsnest_model::Digest;
use crowsnest_store::{
    Filter, NewImage, NewRegistry, NewRegistryConnection, NewRepository, NewTag, NewTenant,
    PlacementOrder, PlacementQuery, Store, SyncEnd, TenantId,
};
use engines::TestDb;

fn tenant(store: &Store, name: &str) -> TenantId {
    store
        .create_tenant(&NewTenant {
            name: name.into(),
            account_id: format!("acct-{name}"),
        })
        .unwrap()
}

fn image(store: &Store, n: u8) -> i64 {
    store
        .upsert_image(&NewImage {
            digest: Digest::sha256_from_bytes(&[n; 32]),
            config_digest: Some(Digest::sha256_from_bytes(&[n + 100; 32])),
            size_bytes: 1000 + i64::from(n),
            created_ms: i64::from(n),
            is_multiarch: false,
        })
        .unwrap()
}

fn total(store: &Store, t: TenantId) -> i64 {
    store
        .placements(
            t,
            &PlacementQuery {
                filter: Filter::True,
                order: PlacementOrder::Id,
                offset: 0,
                limit: 100,
            },
        )
        .unwrap()
        .total
}

fn registry_connections_sync_edits_and_removal(db: &TestDb) {
    let store = db.open();
    let t = tenant(&store, "a");
    let other = tenant(&store, "b");
    let id = store
        .add_registry_connection(
            t,
            &NewRegistryConnection {
                registry: NewRegistry {
                    uid: "reg".into(),
                    name: "Registry".into(),
                    registry_type: "harbor".into(),
                    region_id: "cn-north-4".into(),
                    instance_id: "inst-1".into(),
                    ..NewRegistry::default()
                },
                url: "https://reg.example".into(),
                username: "u".into(),
                secret_sealed: "v1:sealed".into(),
                namespace_filters: vec!["acme".into()],
                repositories: vec!["acme/shop".into()],
                insecure_tls: true,
                ca_cert_pem: String::new(),
                ..NewRegistryConnection::default()
            },
        )
        .unwrap();
    let conn = store.registry_connection(t, "reg").unwrap().unwrap();
    assert_eq!(conn.id, id);
    assert_eq!(conn.registry_type, "harbor");
    assert_eq!(conn.namespace_filters, vec!["acme"]);
    assert_eq!(conn.repositories, vec!["acme/shop"]);
    assert!(conn.insecure_tls);
    assert_eq!(conn.latest_sync_ms, 0);
    assert_eq!(store.registry_connections(t).unwrap().len(), 1);
    assert!(store.registry_connections(other).unwrap().is_empty());
    assert!(store.registry_connection(other, "reg").unwrap().is_none());

    let shop = store
        .upsert_repository(
            id,
            &NewRepository {
                uid: "reg/acme/shop".into(),
                namespace: "acme".into(),
                name: "shop".into(),
                ..NewRepository::default()
            },
        )
        .unwrap();
    let old = store
        .upsert_repository(
            id,
            &NewRepository {
                uid: "reg/acme/old".into(),
                namespace: "acme".into(),
                name: "old".into(),
                ..NewRepository::default()
            },
        )
        .unwrap();
    let (i1, i2) = (image(&store, 1), image(&store, 2));
    for (repo, img, tag) in [
        (shop, i1, "1.0"),
        (shop, i2, "2.0"),
        (shop, i2, "latest"),
        (old, i1, "x"),
    ] {
        store
            .put_tag(
                repo,
                img,
                &NewTag {
                    tag: tag.into(),
                    updated_ms: 5,
                    synced_ms: 5,
                    ..NewTag::default()
                },
            )
            .unwrap();
    }
    assert_eq!(store.synced_tags(t, id).unwrap().len(), 4);
    assert!(store.synced_tags(other, id).unwrap().is_empty());
    assert_eq!(total(&store, t), 4);

    // The other tenant cannot finish this registry's sync.
    let end = SyncEnd {
        gone_tags: vec![(shop, "1.0".into())],
        gone_repositories: vec![old],
        latest: vec![(shop, "latest".into())],
        synced_ms: 9,
        error: String::new(),
    };
    assert!(store.finish_registry_sync(other, id, &end).is_err());
    store.finish_registry_sync(t, id, &end).unwrap();
    let tags = store.synced_tags(t, id).unwrap();
    let names: Vec<&str> = tags.iter().map(|t| t.tag.as_str()).collect();
    assert_eq!(names, vec!["2.0", "latest"]);
    // The placement counts followed the deletions (the unfiltered total reads them).
    assert_eq!(total(&store, t), 2);
    let page = store
        .placements(
            t,
            &PlacementQuery {
                filter: Filter::True,
                order: PlacementOrder::Id,
                offset: 0,
                limit: 100,
            },
        )
        .unwrap();
    let latest: Vec<&str> = page
        .rows
        .iter()
        .filter(|r| r.latest_version)
        .map(|r| r.tag.as_str())
        .collect();
    assert_eq!(latest, vec!["latest"]);
    assert!(page.rows.iter().all(|r| r.synced_ms == 9));
    assert_eq!(
        store
            .registry_connection(t, "reg")
            .unwrap()
            .unwrap()
            .latest_sync_ms,
        9
    );
    assert_eq!(store.registry_repositories(t, id).unwrap().len(), 1);
    assert_eq!(store.registry_images_unscanned(t, id).unwrap().len(), 1);

    assert!(!store.remove_registry(other, "reg").unwrap());
    assert!(store.remove_registry(t, "reg").unwrap());
    assert_eq!(total(&store, t), 0);
    assert!(store.registry_connections(t).unwrap().is_empty());
}

on_both_engines!(registry_connections_sync_edits_and_removal);

/// Servers sharing a store race to claim a due run: exactly one claim wins, whatever the
/// interleaving, and the run moves to the next time the winner computed.
fn scheduled_run_is_claimed_once(db: &TestDb) {
    let store = db.open();
    let t = tenant(&store, "a");
    let id = store
        .add_registry_connection(
            t,
            &NewRegistryConnection {
                registry: NewRegistry {
                    uid: "sched".into(),
                    name: "Scheduled".into(),
                    registry_type: "generic".into(),
                    ..NewRegistry::default()
                },
                url: "http://127.0.0.1:1".into(),
                schedule: "* * * * * *".into(),
                next_run_ms: 5_000,
                ..NewRegistryConnection::default()
            },
        )
        .unwrap();
    // Another registry without a schedule is never due.
    store
        .add_registry_connection(
            t,
            &NewRegistryConnection {
                registry: NewRegistry {
                    uid: "plain".into(),
                    name: "Plain".into(),
                    registry_type: "generic".into(),
                    ..NewRegistry::default()
                },
                url: "http://127.0.0.1:2".into(),
                ..NewRegistryConnection::default()
            },
        )
        .unwrap();
    assert!(store.due_registry_runs(4_999).unwrap().is_empty());
    let due = store.due_registry_runs(5_000).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].id, due[0].tenant), (id, t));
    assert_eq!(due[0].schedule, "* * * * * *");

    // Eight threads, each with its own connection where the engine allows, claim the same run.
    let wins: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                scope.spawn(move || {
                    usize::from(store.claim_registry_run(id, 5_000, 6_000, 5_100).unwrap())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(wins, 1, "exactly one claim of a due run wins");
    let after = store.registry_connection(t, "sched").unwrap().unwrap();
    assert_eq!((after.next_run_ms, after.last_run_ms), (6_000, 5_100));
    assert!(store.due_registry_runs(5_999).unwrap().is_empty());
    // A stale reader's claim of the old run changes nothing.
    assert!(!store.claim_registry_run(id, 5_000, 7_000, 5_200).unwrap());
    assert!(store.claim_registry_run(id, 6_000, 7_000, 6_000).unwrap());
}

on_both_engines!(scheduled_run_is_claimed_once);
