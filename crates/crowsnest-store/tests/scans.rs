//! Stored inventories on both engines: one row per digest, batches in digest order of those
//! not matched by a build, and a recorded match reaching the digest's placements (the counts
//! the cloud APIs list).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod engines;

use engines::TestDb;

use crowsnest_model::{
    Ecosystem, Inventory, Package, RiskFinding, RiskKind, Severity, SourceInfo, SourceKind,
};
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

fn listed_risks(store: &Store, tenant: crowsnest_store::TenantId) -> Vec<(i64, i64, i64, String)> {
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
            (
                s.baseline_count,
                s.malicious_count,
                s.alarm_count,
                s.severity,
            )
        })
        .collect()
}

fn risk(kind: RiskKind, id: &str, severity: Severity, path: Option<&str>) -> RiskFinding {
    RiskFinding {
        kind,
        id: id.into(),
        title: id.into(),
        severity,
        remediation: String::new(),
        detail: None,
        path: path.map(Into::into),
        line: None,
        layer: None,
        excerpt: None,
    }
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

    // Risks: two baseline findings, two malware rules on one file, a secret. A low
    // vulnerability alone says Low; a malicious file makes the image High, and a re-match that
    // finds fewer vulnerabilities keeps it High because the stored risks say so.
    let low = VulnCounts {
        low: 1,
        ..Default::default()
    };
    store.record_match(&digest(2), "b4", &low).unwrap();
    assert_eq!(
        listed_risks(&store, tenant),
        vec![(0, 0, 0, "Low".into()); 2]
    );
    let findings = vec![
        risk(RiskKind::Baseline, "CN-BL-001", Severity::Medium, None),
        risk(RiskKind::Baseline, "CN-BL-002", Severity::Low, None),
        risk(RiskKind::Malware, "eicar", Severity::High, Some("/a")),
        risk(RiskKind::Malware, "webshell", Severity::High, Some("/a")),
        risk(RiskKind::Secret, "aws", Severity::High, Some("/b")),
    ];
    let summary = store
        .save_risks(&digest(2), &RiskKind::ALL, &findings)
        .unwrap();
    assert_eq!(
        (
            summary.unsafe_settings,
            summary.malicious_files,
            summary.alarms
        ),
        (2, 1, 2)
    );
    assert_eq!(
        listed_risks(&store, tenant),
        vec![(2, 1, 2, "High".into()); 2]
    );
    store
        .record_match(&digest(2), "b5", &VulnCounts::default())
        .unwrap();
    assert_eq!(
        listed_risks(&store, tenant),
        vec![(2, 1, 2, "High".into()); 2]
    );
    assert_eq!(listed(&store, tenant), vec![(0, "High".into()); 2]);
    let stored = store.stored_risks(&digest(2)).unwrap().unwrap();
    assert_eq!(stored.scanners, RiskKind::ALL.to_vec());
    assert_eq!(stored.findings, findings);
    assert_eq!(stored.summary, summary);
    // A new scan clears the old risks: with none found and no vulnerabilities, Security.
    store
        .save_inventory(&digest(2), &inventory(3), "e3")
        .unwrap();
    store
        .save_risks(&digest(2), &[RiskKind::Baseline], &[])
        .unwrap();
    store
        .record_match(&digest(2), "b6", &VulnCounts::default())
        .unwrap();
    assert_eq!(
        listed_risks(&store, tenant),
        vec![(0, 0, 0, "Security".into()); 2]
    );
    let stored = store.stored_risks(&digest(2)).unwrap().unwrap();
    assert_eq!(
        (stored.scanners, stored.findings.len()),
        (vec![RiskKind::Baseline], 0)
    );
    // Risks for an inventory never stored are refused, not silently dropped.
    assert!(store.save_risks(&digest(9), &[], &[]).is_err());
    assert!(store.stored_risks(&digest(9)).unwrap().is_none());
}

on_both_engines!(stored_inventories_round_trip_and_rematch);

/// A digest's critical findings: the first record reports all as new, a repeat reports
/// nothing, a new id alone is new, a vanished id is forgotten (and new again if it returns),
/// and matchers racing on one digest see each new id exactly once between them. Names come
/// from the digest's placements.
fn critical_findings_are_new_once(db: &TestDb) {
    let store = db.open();
    let d = digest(7);
    let ids = |v: &[&str]| -> Vec<String> { v.iter().map(|s| (*s).to_owned()).collect() };
    assert_eq!(
        store
            .record_critical_findings(&d, &ids(&["CVE-2", "CVE-1", "CVE-2"]))
            .unwrap(),
        ids(&["CVE-1", "CVE-2"])
    );
    assert!(store
        .record_critical_findings(&d, &ids(&["CVE-1", "CVE-2"]))
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .record_critical_findings(&d, &ids(&["CVE-1", "CVE-2", "CVE-3"]))
            .unwrap(),
        ids(&["CVE-3"])
    );
    assert!(store
        .record_critical_findings(&d, &ids(&["CVE-3"]))
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .record_critical_findings(&d, &ids(&["CVE-1", "CVE-3"]))
            .unwrap(),
        ids(&["CVE-1"]),
        "a finding that went away and came back is new again"
    );
    // Another digest keeps its own set.
    assert_eq!(
        store
            .record_critical_findings(&digest(8), &ids(&["CVE-1"]))
            .unwrap(),
        ids(&["CVE-1"])
    );

    let racing: Vec<String> = (0..20).map(|n| format!("GHSA-{n}")).collect();
    let seen: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let store = store.clone();
                let racing = racing.clone();
                scope.spawn(move || store.record_critical_findings(&digest(9), &racing).unwrap())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut sorted = seen.clone();
    sorted.sort();
    let mut expected = racing.clone();
    expected.sort();
    assert_eq!(sorted, expected, "every id once across racing matchers");

    assert!(store.image_names(&d).unwrap().is_empty());
    let tenant = store
        .create_tenant(&NewTenant {
            name: "t".into(),
            account_id: "acct-t".into(),
        })
        .unwrap();
    let registry = store
        .upsert_registry(
            tenant,
            &NewRegistry {
                uid: "reg-uid".into(),
                name: "registry".into(),
                registry_type: "harbor".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let image = store
        .upsert_image(&NewImage {
            digest: d.parse().unwrap(),
            config_digest: None,
            size_bytes: 1,
            created_ms: 1,
            is_multiarch: false,
        })
        .unwrap();
    for (namespace, name, tag) in [
        ("shop", "acme", "1.0"),
        ("", "solo", "latest"),
        ("shop", "acme", "1.1"),
    ] {
        let repository = store
            .upsert_repository(
                registry,
                &NewRepository {
                    uid: format!("{namespace}-{name}"),
                    namespace: namespace.into(),
                    name: name.into(),
                    ..Default::default()
                },
            )
            .unwrap();
        store
            .put_tag(
                repository,
                image,
                &NewTag {
                    tag: tag.into(),
                    ..Default::default()
                },
            )
            .unwrap();
    }
    assert_eq!(
        store.image_names(&d).unwrap(),
        vec![
            "reg-uid/shop/acme:1.0",
            "reg-uid/shop/acme:1.1",
            "reg-uid/solo:latest"
        ]
    );
}

on_both_engines!(critical_findings_are_new_once);

/// An imported VM image points at its stored inventory: the catalogue shows the counts of the
/// import's match and risks, and a later re-match of that inventory (a database update)
/// reaches the image without touching it.
fn vm_image_shows_its_stored_inventory_and_rematches(db: &TestDb) {
    use crowsnest_store::vm_images::VmImageQuery;
    use crowsnest_store::{vm_inventory_digest, NewVmImport, VmImportResult};
    let store = db.open();
    let tenant = store
        .create_tenant(&NewTenant {
            name: "t".into(),
            account_id: "1001".into(),
        })
        .unwrap();
    let begin = |id: &str| {
        store
            .begin_vm_import(
                tenant,
                &NewVmImport {
                    image_id: id.into(),
                    region_id: "cn-hangzhou".into(),
                    image_name: id.into(),
                    image_family: String::new(),
                    description: String::new(),
                    tags: vec![],
                    format: "qcow2".into(),
                    source_name: "d.qcow2".into(),
                    size_gib: 1,
                    created_ms: 1,
                },
            )
            .unwrap();
    };
    begin("m-scanned");
    begin("m-plain");
    let key = vm_inventory_digest("m-scanned");
    assert_ne!(key, vm_inventory_digest("m-plain"));
    assert!(key.starts_with("sha256:") && key.len() == 71, "{key}");
    store.save_inventory(&key, &inventory(4), "e1").unwrap();
    store
        .save_risks(
            &key,
            &RiskKind::ALL,
            &[risk(RiskKind::Baseline, "CN-BL-001", Severity::Low, None)],
        )
        .unwrap();
    let first = VulnCounts {
        medium: 2,
        low: 1,
        ..Default::default()
    };
    store.record_match(&key, "b1", &first).unwrap();
    store
        .finish_vm_import(
            tenant,
            "m-scanned",
            &VmImportResult {
                package_count: 4,
                inventory_digest: key.clone(),
                ..VmImportResult::default()
            },
        )
        .unwrap();
    store
        .finish_vm_import(tenant, "m-plain", &VmImportResult::default())
        .unwrap();
    let shown = |id: &str| store.vm_image(tenant, id).unwrap().unwrap().scan;
    let scan = shown("m-scanned").unwrap();
    assert_eq!(scan.inventory_digest, key);
    assert_eq!((scan.vulndb_build.as_str(), scan.vulns), ("b1", first));
    assert_eq!(
        (scan.baseline_count, scan.malicious_count, scan.alarm_count),
        (1, 0, 0)
    );
    assert_eq!(scan.severity_level, "Medium");
    assert!(shown("m-plain").is_none());
    // The re-match walks stored inventories, the VM image's among them.
    let todo = store.inventories_to_match("b2", None, 10).unwrap();
    assert_eq!(todo.len(), 1);
    assert_eq!(todo[0].digest, key);
    let second = VulnCounts {
        critical: 1,
        ..Default::default()
    };
    let recorded = store.record_match(&key, "b2", &second).unwrap();
    assert!(recorded.changed && !recorded.image_updated);
    let scan = shown("m-scanned").unwrap();
    assert_eq!((scan.vulndb_build.as_str(), scan.vulns), ("b2", second));
    assert_eq!(scan.severity_level, "High");
    // The list answers the same as the single image.
    let page = store
        .vm_images(
            tenant,
            &VmImageQuery {
                region_id: "cn-hangzhou".into(),
                statuses: vec!["Available".into()],
                limit: 10,
                ..VmImageQuery::default()
            },
        )
        .unwrap();
    assert_eq!(page.total, 2);
    let listed: Vec<_> = page.rows.iter().map(|r| r.scan.is_some()).collect();
    assert_eq!(listed.iter().filter(|s| **s).count(), 1);
}

on_both_engines!(vm_image_shows_its_stored_inventory_and_rematches);

/// What the console's local images page asks: which digests of a page have a stored
/// inventory, and under which names a tenant's hosts hold a digest (none for another tenant).
fn stored_digests_and_local_image_names(db: &TestDb) {
    use crowsnest_store::NewLocalImage;
    let store = db.open();
    let tenant = |name: &str| {
        store
            .create_tenant(&NewTenant {
                name: name.into(),
                account_id: format!("acct-{name}"),
            })
            .unwrap()
    };
    let (a, b) = (tenant("a"), tenant("b"));
    let image = store
        .upsert_image(&NewImage {
            digest: digest(1).parse().unwrap(),
            config_digest: Some(digest(101).parse().unwrap()),
            size_bytes: 10,
            created_ms: 0,
            is_multiarch: false,
        })
        .unwrap();
    for (name, version) in [("web", "2"), ("api", "1"), ("web", "1")] {
        store
            .upsert_local_image(
                a,
                &NewLocalImage {
                    image_row: image,
                    image_name: name.into(),
                    image_version: version.into(),
                    ..Default::default()
                },
            )
            .unwrap();
    }
    let names = |t, d: &str, limit| store.local_image_names(t, d, limit).unwrap();
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert_eq!(
        names(a, &digest(1), 10),
        pairs(&[("api", "1"), ("web", "1"), ("web", "2")])
    );
    assert_eq!(names(a, &digest(1), 1), pairs(&[("api", "1")]));
    assert!(names(b, &digest(1), 10).is_empty());
    assert!(names(a, &digest(2), 10).is_empty());

    assert!(store.stored_inventory_digests(&[]).unwrap().is_empty());
    store
        .save_inventory(&digest(1), &inventory(2), "e1")
        .unwrap();
    store
        .save_inventory(&digest(3), &inventory(1), "e1")
        .unwrap();
    let (d1, d2, d3) = (digest(1), digest(2), digest(3));
    let stored = store
        .stored_inventory_digests(&[d1.as_str(), d2.as_str(), d3.as_str()])
        .unwrap();
    assert_eq!(stored, [d1, d3].into_iter().collect());
}

on_both_engines!(stored_digests_and_local_image_names);
