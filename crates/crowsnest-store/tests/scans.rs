//! Stored inventories on both engines: one row per digest, batches in digest order of those
//! not matched by a build, and a recorded match reaching the digest's placements (the counts
//! the cloud APIs list).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod engines;

use engines::TestDb;

use crowsnest_model::{Ecosystem, Inventory, Package, SourceInfo, SourceKind};
use crowsnest_store::{
    Filter, NewImage, NewRegistry, NewRepository, NewTag, NewTenant, PlacementOrder,
    PlacementQuery, Store, VulnCounts,
};

fn digest(n: u8) -> String {
    format!("sha256:{}", hex::encode([n; 32]))
}

fn inventory(n: usize) -> Inventory {
    Inventory {
        source: SourceInfo {
            kind: SourceKind::OciArchive,
            reference: "image.tar".into(),
            image_id: None,
            manifest_digest: None,
            tags: vec![],
            architecture: None,
            os: None,
        },
        distro: None,
        layers: vec![],
        config: None,
        packages: (0..n)
            .map(|i| Package::new(Ecosystem::Pypi, format!("pkg{i}"), "1.0", "/x", "t"))
            .collect(),
        diagnostics: vec![],
    }
}

fn listed(store: &Store, tenant: crowsnest_store::TenantId) -> Vec<(i64, String)> {
    store
        .placements(
            tenant,
            &PlacementQuery {
                filter: Filter::True,
                order: PlacementOrder::Id,
                offset: 0,
                limit: 10,
            },
        )
        .unwrap()
        .rows
        .iter()
        .map(|r| {
            let s = r.scan.clone().unwrap();
            (s.vul_count, s.severity)
        })
        .collect()
}

fn stored_inventories_round_trip_and_rematch(db: &TestDb) {
    let store = db.open();
    // Saving twice keeps one row, with the newer inventory.
    store
        .save_inventory(&digest(2), &inventory(1), "e1")
        .unwrap();
    store
        .save_inventory(&digest(2), &inventory(3), "e2")
        .unwrap();
    store
        .save_inventory(&digest(1), &inventory(2), "e1")
        .unwrap();
    store
        .save_inventory(&digest(3), &inventory(0), "e1")
        .unwrap();
    let two = store.stored_inventory(&digest(2)).unwrap().unwrap();
    assert_eq!(two.inventory, inventory(3));
    assert_eq!(two.engine_version, "e2");
    assert_eq!(two.vulndb_build, "");
    assert!(store.stored_inventory(&digest(9)).unwrap().is_none());

    // The digest is also a registry image placed twice (two tags), so its scan is listed.
    let tenant = store
        .create_tenant(&NewTenant {
            name: "t".into(),
            account_id: "acct-t".into(),
        })
        .unwrap();
    let reg = store
        .upsert_registry(
            tenant,
            &NewRegistry {
                uid: "reg".into(),
                name: "reg".into(),
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
                uid: "repo".into(),
                namespace: "ns".into(),
                name: "app".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let image = store
        .upsert_image(&NewImage {
            digest: digest(2).parse().unwrap(),
            config_digest: None,
            size_bytes: 1,
            created_ms: 1,
            is_multiarch: false,
        })
        .unwrap();
    for tag in ["1", "2"] {
        store
            .put_tag(
                repo,
                image,
                &NewTag {
                    tag: tag.into(),
                    ..Default::default()
                },
            )
            .unwrap();
    }

    // Batches of two, in digest order, until none is left unmatched by build "b1".
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let batch = store
            .inventories_to_match("b1", after.as_deref(), 2)
            .unwrap();
        let Some(last) = batch.last() else { break };
        after = Some(last.digest.clone());
        for s in &batch {
            let counts = VulnCounts {
                high: s.inventory.packages.len() as i64,
                low: 1,
                ..Default::default()
            };
            let rec = store.record_match(&s.digest, "b1", &counts).unwrap();
            assert!(rec.changed);
            assert_eq!(rec.image_updated, s.digest == digest(2));
            seen.push(s.digest.clone());
        }
    }
    assert_eq!(seen, vec![digest(1), digest(2), digest(3)]);
    assert!(store
        .inventories_to_match("b1", None, 10)
        .unwrap()
        .is_empty());
    assert_eq!(store.stored_inventory_counts("b1").unwrap(), (3, 3));
    assert_eq!(listed(&store, tenant), vec![(4, "High".into()); 2]);

    // A new build with the same counts is not a change; fewer findings lower the level.
    let same = VulnCounts {
        high: 3,
        low: 1,
        ..Default::default()
    };
    assert!(!store.record_match(&digest(2), "b2", &same).unwrap().changed);
    let fewer = VulnCounts {
        medium: 1,
        ..Default::default()
    };
    let rec = store.record_match(&digest(2), "b3", &fewer).unwrap();
    assert!(rec.changed && rec.before == same);
    assert_eq!(listed(&store, tenant), vec![(1, "Medium".into()); 2]);
    let two = store.stored_inventory(&digest(2)).unwrap().unwrap();
    assert_eq!((two.vulndb_build.as_str(), two.counts), ("b3", fewer));
    // Re-saving (a new scan) asks for a new match.
    store
        .save_inventory(&digest(2), &inventory(3), "e2")
        .unwrap();
    let todo = store.inventories_to_match("b3", None, 10).unwrap();
    assert_eq!(todo.len(), 3);
}

on_both_engines!(stored_inventories_round_trip_and_rematch);
