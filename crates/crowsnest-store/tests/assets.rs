//! Hosts, local images, containers, pods, apps (Huawei ListLocalImages) and VM images (ECS
//! DescribeImages) on both engines: every filter, the counts, and tenant isolation.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up helpers outside #[test] fns

#[macro_use]
mod engines;

use crowsnest_store::{
    ImageApp, LocalImageQuery, NewContainer, NewHost, NewImage, NewLocalImage, NewPod, NewTenant,
    NewVmImage, OwnerAlias, ScanRecord, ScanState, Store, StoreError, TenantId, VmImageCheck,
    VmImageDisk, VmImageQuery, VmImageSource,
};
use engines::TestDb;

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

fn image(store: &Store, n: u8, size: i64) -> i64 {
    store
        .upsert_image(&NewImage {
            digest: digest(n),
            config_digest: Some(digest(n + 100)),
            size_bytes: size,
            created_ms: 0,
            is_multiarch: false,
        })
        .unwrap()
}

fn scan(state: ScanState, failure: &str, vul: i64, finished: Option<i64>) -> ScanRecord {
    ScanRecord {
        state,
        stage: String::new(),
        progress: 100,
        failure_code: failure.into(),
        vul_count: vul,
        baseline_count: 0,
        malicious_count: 0,
        alarm_count: 0,
        severity: if vul > 0 {
            "High".into()
        } else {
            String::new()
        },
        started_ms: finished,
        finished_ms: finished,
    }
}

struct Hosts {
    store: Store,
    a: TenantId,
    b: TenantId,
    /// Tenant A's local images: nginx:1.25, mysql:8, Nginx-custom:v1.
    l: [i64; 3],
    /// Tenant B's nginx:1.25 (same digest as A's).
    lb: i64,
    h1: i64,
    hb: i64,
}

const SCANNED_AT: i64 = 1_709_973_506_292;

fn hosts(db: &TestDb) -> Hosts {
    let store = db.open();
    let (a, b) = (tenant(&store, "a"), tenant(&store, "b"));
    let host = |t, uid: &str, name: &str, private_ip: &str, public_ip: &str| {
        store
            .upsert_host(
                t,
                &NewHost {
                    uid: uid.into(),
                    name: name.into(),
                    agent_id: format!("agent-{uid}"),
                    private_ip: private_ip.into(),
                    public_ip: public_ip.into(),
                    region_id: "cn-north-4".into(),
                    ..Default::default()
                },
            )
            .unwrap()
    };
    let h1 = host(a, "h1", "web-01", "10.0.0.1", "47.1.1.1");
    let h2 = host(a, "h2", "db-01", "10.0.0.2", "");
    let hb = host(b, "h1", "web-01", "10.0.0.1", "");
    let (d1, d2, d3) = (
        image(&store, 1, 215_304_488),
        image(&store, 2, 1000),
        image(&store, 3, 2000),
    );
    store
        .record_scan(d1, &scan(ScanState::Succeeded, "", 77, Some(SCANNED_AT)))
        .unwrap();
    store.set_component_count(d1, 146).unwrap();
    store
        .record_scan(d3, &scan(ScanState::Failed, "download_failed", 0, Some(5)))
        .unwrap();
    let local = |t, image_row, name: &str, version: &str, kind: &str, updated_ms| {
        store
            .upsert_local_image(
                t,
                &NewLocalImage {
                    image_row,
                    image_name: name.into(),
                    image_version: version.into(),
                    local_image_type: kind.into(),
                    enterprise_project_id: String::new(),
                    updated_ms,
                },
            )
            .unwrap()
    };
    let l = [
        local(a, d1, "nginx", "1.25", "swr_image", 1_697_509_433_000),
        local(a, d2, "mysql", "8", "", 100),
        local(a, d3, "Nginx-custom", "v1", "", 200),
    ];
    let lb = local(b, d1, "nginx", "1.25", "swr_image", 300);
    for (li, h) in [(l[0], h1), (l[0], h2), (l[1], h1), (l[2], h2)] {
        store.add_local_image_host(a, li, h).unwrap();
    }
    store.add_local_image_host(b, lb, hb).unwrap();
    let pod = store
        .upsert_pod(
            a,
            &NewPod {
                uid: "pod-1".into(),
                name: "web-7f9".into(),
                namespace: "default".into(),
                cluster_name: "prod".into(),
                host_row: Some(h1),
            },
        )
        .unwrap();
    let container = |id: &str, name: &str, li, pod_row| {
        store
            .upsert_container(
                a,
                &NewContainer {
                    container_id: id.into(),
                    name: name.into(),
                    host_row: h1,
                    local_image_row: Some(li),
                    pod_row,
                    status: "running".into(),
                    created_ms: 1,
                },
            )
            .unwrap()
    };
    container("c0ffee", "web.1", l[0], Some(pod));
    container("c0ffee2", "web.2", l[0], None);
    container("dbdbdb", "db", l[1], None);
    store
        .set_image_apps(
            d1,
            &[ImageApp {
                name: "nginx".into(),
                version: "1.25".into(),
            }],
        )
        .unwrap();
    store
        .set_image_apps(
            d2,
            &[ImageApp {
                name: "mysql".into(),
                version: "8.0".into(),
            }],
        )
        .unwrap();
    Hosts {
        store,
        a,
        b,
        l,
        lb,
        h1,
        hb,
    }
}

fn page(limit: i64) -> LocalImageQuery {
    LocalImageQuery {
        limit,
        ..Default::default()
    }
}

fn local_images_report_counts_scans_and_first_host(db: &TestDb) {
    let h = hosts(db);
    let all = h.store.local_images(h.a, &page(10)).unwrap();
    assert_eq!(all.total, 3);
    let ids: Vec<i64> = all.rows.iter().map(|r| r.id).collect();
    assert_eq!(ids, h.l);
    let nginx = &all.rows[0];
    assert_eq!(
        (nginx.image_name.as_str(), nginx.image_version.as_str()),
        ("nginx", "1.25")
    );
    assert_eq!(nginx.digest, digest(1).to_string());
    assert_eq!(nginx.local_image_type, "swr_image");
    assert_eq!(nginx.scan_status, "success");
    assert_eq!(nginx.size_bytes, 215_304_488);
    assert_eq!(nginx.latest_scan_ms, Some(SCANNED_AT));
    assert_eq!(
        (
            nginx.host_num,
            nginx.container_num,
            nginx.component_num,
            nginx.vul_num
        ),
        (2, 2, 146, 77)
    );
    assert_eq!(nginx.severity_level, "High");
    assert_eq!(
        nginx.host,
        Some(("web-01".into(), "h1".into(), "agent-h1".into()))
    );
    assert_eq!(nginx.uuid.len(), 36);
    assert_eq!(nginx.enterprise_project_id, "0");
    assert_eq!(all.rows[1].scan_status, "unscan");
    assert_eq!(all.rows[1].latest_scan_ms, None);
    assert_eq!(all.rows[2].scan_status, "download_failed");
    assert_eq!(all.rows[2].container_num, 0);
    // Paging keeps the total.
    let second = h
        .store
        .local_images(
            h.a,
            &LocalImageQuery {
                offset: 1,
                limit: 1,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!((second.total, second.rows[0].id), (3, h.l[1]));
}

fn local_images_never_cross_tenants(db: &TestDb) {
    let h = hosts(db);
    let b = h.store.local_images(h.b, &page(10)).unwrap();
    assert_eq!(b.total, 1);
    // Same digest and scan as A's nginx, but only B's host and none of A's containers.
    assert_eq!(b.rows[0].id, h.lb);
    assert_eq!((b.rows[0].host_num, b.rows[0].container_num), (1, 0));
    assert_eq!(b.rows[0].vul_num, 77);
    // B's filters never reach A's hosts, containers or pods.
    let q = LocalImageQuery {
        pod_id: Some("pod-1".into()),
        ..page(10)
    };
    assert_eq!(h.store.local_images(h.b, &q).unwrap().total, 0);
    // Writes naming another tenant's rows are refused.
    assert!(matches!(
        h.store.add_local_image_host(h.b, h.l[0], h.hb),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        h.store.upsert_container(
            h.b,
            &NewContainer {
                container_id: "x".into(),
                name: "x".into(),
                host_row: h.h1,
                ..Default::default()
            }
        ),
        Err(StoreError::NotFound(_))
    ));
    assert!(h.store.local_image_apps(h.b, h.l[0]).unwrap().is_empty());
    assert_eq!(
        h.store.local_image_apps(h.a, h.l[0]).unwrap(),
        vec![ImageApp {
            name: "nginx".into(),
            version: "1.25".into()
        }]
    );
}

fn local_image_filters_follow_list_local_images(db: &TestDb) {
    let h = hosts(db);
    let found = |q: LocalImageQuery| -> Vec<i64> {
        let page = h
            .store
            .local_images(h.a, &LocalImageQuery { limit: 50, ..q })
            .unwrap();
        assert_eq!(page.total as usize, page.rows.len());
        page.rows.iter().map(|r| r.id).collect()
    };
    let [l1, l2, l3] = h.l;
    let s = |v: &str| Some(v.to_owned());
    // Partial matching is case-sensitive.
    assert_eq!(
        found(LocalImageQuery {
            image_name_contains: s("nginx"),
            ..page(0)
        }),
        [l1]
    );
    assert_eq!(
        found(LocalImageQuery {
            image_name_contains: s("Nginx"),
            ..page(0)
        }),
        [l3]
    );
    assert_eq!(
        found(LocalImageQuery {
            image_name_contains: s("gin"),
            ..page(0)
        }),
        [l1, l3]
    );
    assert_eq!(
        found(LocalImageQuery {
            image_version: s("8"),
            ..page(0)
        }),
        [l2]
    );
    assert_eq!(
        found(LocalImageQuery {
            scan_status: s("unscan"),
            ..page(0)
        }),
        [l2]
    );
    assert_eq!(
        found(LocalImageQuery {
            scan_status: s("success"),
            ..page(0)
        }),
        [l1]
    );
    assert_eq!(
        found(LocalImageQuery {
            scan_status: s("download_failed"),
            ..page(0)
        }),
        [l3]
    );
    assert!(found(LocalImageQuery {
        scan_status: s("Success"),
        ..page(0)
    })
    .is_empty());
    assert_eq!(
        found(LocalImageQuery {
            local_image_type: s("swr_image"),
            ..page(0)
        }),
        [l1]
    );
    assert_eq!(
        found(LocalImageQuery {
            image_size: Some(1000),
            ..page(0)
        }),
        [l2]
    );
    assert_eq!(
        found(LocalImageQuery {
            updated_between: Some((100, 200)),
            ..page(0)
        }),
        [l2, l3]
    );
    assert_eq!(
        found(LocalImageQuery {
            scanned_between: Some((SCANNED_AT, SCANNED_AT)),
            ..page(0)
        }),
        [l1]
    );
    // The failed scan finished at 5 but is not a successful scan.
    assert!(found(LocalImageQuery {
        scanned_between: Some((0, 10)),
        ..page(0)
    })
    .is_empty());
    assert_eq!(
        found(LocalImageQuery {
            has_vul: Some(true),
            ..page(0)
        }),
        [l1]
    );
    assert!(found(LocalImageQuery {
        has_vul: Some(false),
        ..page(0)
    })
    .is_empty());
    assert_eq!(
        found(LocalImageQuery {
            host_name_contains: s("db"),
            ..page(0)
        }),
        [l1, l3]
    );
    assert!(found(LocalImageQuery {
        host_name_contains: s("DB"),
        ..page(0)
    })
    .is_empty());
    assert_eq!(
        found(LocalImageQuery {
            host_id: s("h2"),
            ..page(0)
        }),
        [l1, l3]
    );
    assert_eq!(
        found(LocalImageQuery {
            host_ip: s("47.1.1.1"),
            ..page(0)
        }),
        [l1, l2]
    );
    assert_eq!(
        found(LocalImageQuery {
            host_ip: s("10.0.0.2"),
            ..page(0)
        }),
        [l1, l3]
    );
    assert_eq!(
        found(LocalImageQuery {
            container_id: s("c0ffee"),
            ..page(0)
        }),
        [l1]
    );
    assert_eq!(
        found(LocalImageQuery {
            container_name_contains: s("db"),
            ..page(0)
        }),
        [l2]
    );
    assert_eq!(
        found(LocalImageQuery {
            pod_id: s("pod-1"),
            ..page(0)
        }),
        [l1]
    );
    assert_eq!(
        found(LocalImageQuery {
            pod_name_contains: s("7f9"),
            ..page(0)
        }),
        [l1]
    );
    assert!(found(LocalImageQuery {
        pod_name_contains: s("db"),
        ..page(0)
    })
    .is_empty());
    assert_eq!(
        found(LocalImageQuery {
            app_name_contains: s("sql"),
            ..page(0)
        }),
        [l2]
    );
    assert_eq!(
        found(LocalImageQuery {
            has_container: Some(true),
            ..page(0)
        }),
        [l1, l2]
    );
    assert_eq!(
        found(LocalImageQuery {
            has_container: Some(false),
            ..page(0)
        }),
        [l3]
    );
    assert_eq!(
        found(LocalImageQuery {
            enterprise_project_id: s("0"),
            ..page(0)
        })
        .len(),
        3
    );
    assert!(found(LocalImageQuery {
        enterprise_project_id: s("ep-1"),
        ..page(0)
    })
    .is_empty());
    // Conditions combine: a host condition and a container condition together.
    assert_eq!(
        found(LocalImageQuery {
            host_id: s("h1"),
            container_name_contains: s("web"),
            ..page(0)
        }),
        [l1]
    );
    // Needles are data: wildcards and quotes match literally.
    assert!(found(LocalImageQuery {
        image_name_contains: s("%"),
        ..page(0)
    })
    .is_empty());
    assert!(found(LocalImageQuery {
        host_name_contains: s("' OR 1=1 --"),
        ..page(0)
    })
    .is_empty());
    // A component count needs a scan to attach to.
    let unscanned = h.store.local_images(h.a, &page(10)).unwrap().rows[1].image_row;
    assert!(matches!(
        h.store.set_component_count(unscanned, 1),
        Err(StoreError::NotFound(_))
    ));
}

fn vm(image_id: &str, source: VmImageSource, status: &str, created_ms: i64) -> NewVmImage {
    NewVmImage {
        image_id: image_id.into(),
        region_id: "cn-hangzhou".into(),
        source,
        owner_account_id: 0,
        image_name: format!("name-{image_id}"),
        image_family: String::new(),
        image_version: "1".into(),
        description: String::new(),
        status: status.into(),
        progress: "100%".into(),
        is_public: false,
        is_copied: false,
        is_self_shared: false,
        is_subscribed: false,
        is_support_io_optimized: true,
        is_support_cloudinit: true,
        login_as_non_root: false,
        usage: "none".into(),
        os_type: "linux".into(),
        os_name: String::new(),
        os_name_en: String::new(),
        platform: "Ubuntu".into(),
        architecture: "x86_64".into(),
        boot_mode: "BIOS".into(),
        size_gib: 40,
        product_code: String::new(),
        supplier_name: String::new(),
        resource_group_id: String::new(),
        nvme_support: String::new(),
        detection_status: String::new(),
        created_ms,
        disks: Vec::new(),
        tags: Vec::new(),
        checks: Vec::new(),
    }
}

fn vm_seeded(db: &TestDb) -> (Store, TenantId, TenantId) {
    let store = db.open();
    let (a, b) = (tenant(&store, "a"), tenant(&store, "b"));
    let put = |owner, img: NewVmImage| store.upsert_vm_image(owner, &img).unwrap();
    put(None, vm("m-sys", VmImageSource::System, "Available", 1));
    put(
        None,
        vm("m-market", VmImageSource::Marketplace, "Available", 2),
    );
    put(None, vm("m-old", VmImageSource::System, "Deprecated", 3));
    put(
        None,
        NewVmImage {
            region_id: "cn-beijing".into(),
            ..vm("m-bj", VmImageSource::System, "Available", 4)
        },
    );
    put(
        Some(a),
        NewVmImage {
            owner_account_id: 1234567890,
            image_family: "hangzhou-daily-update".into(),
            description: "Archive log for Oracle".into(),
            os_type: "windows".into(),
            platform: "Windows Server 2016".into(),
            usage: "instance".into(),
            is_self_shared: true,
            nvme_support: "supported".into(),
            detection_status: "Processing".into(),
            disks: vec![VmImageDisk {
                disk_type: "system".into(),
                device: "/dev/xvda".into(),
                size_gib: 60,
                snapshot_id: "s-bp17ot2q7x72ggtw".into(),
                format: "qcow2".into(),
                import_oss_bucket: "testEcsImport".into(),
                import_oss_object: "imageImport".into(),
                progress: "32%".into(),
                remain_time_s: 233,
            }],
            tags: vec![
                ("env".into(), "prod".into()),
                ("DTS".into(), "Oracle".into()),
            ],
            checks: vec![VmImageCheck {
                name: "Nvme".into(),
                value: "Supported".into(),
                risk_level: "High".into(),
                risk_code: "NVMe.NotInstallded".into(),
            }],
            ..vm("m-a1", VmImageSource::Custom, "Available", 10)
        },
    );
    put(
        Some(a),
        NewVmImage {
            architecture: "arm64".into(),
            ..vm("m-a2", VmImageSource::Custom, "CreateFailed", 11)
        },
    );
    let shared = put(Some(b), vm("m-b1", VmImageSource::Custom, "Available", 20));
    store.share_vm_image(b, shared, a).unwrap();
    put(
        Some(b),
        NewVmImage {
            is_public: true,
            supplier_name: "TestName".into(),
            ..vm("m-b2", VmImageSource::Custom, "Available", 21)
        },
    );
    put(Some(b), vm("m-b3", VmImageSource::Custom, "Available", 22));
    (store, a, b)
}

fn available() -> VmImageQuery {
    VmImageQuery {
        region_id: "cn-hangzhou".into(),
        statuses: vec!["Available".into()],
        limit: 100,
        ..Default::default()
    }
}

fn vm_images_follow_describe_images_visibility(db: &TestDb) {
    let (store, a, b) = vm_seeded(db);
    let ids = |t, q: VmImageQuery| -> Vec<String> {
        let page = store.vm_images(t, &q).unwrap();
        assert_eq!(page.total as usize, page.rows.len());
        page.rows.into_iter().map(|r| r.image_id).collect()
    };
    // Newest first; B's private image, other regions and other statuses stay out.
    assert_eq!(
        ids(a, available()),
        ["m-b2", "m-b1", "m-a1", "m-market", "m-sys"]
    );
    assert_eq!(
        ids(b, available()),
        ["m-b3", "m-b2", "m-b1", "m-market", "m-sys"]
    );
    let alias = |t, alias| {
        ids(
            t,
            VmImageQuery {
                owner_alias: Some(alias),
                ..available()
            },
        )
    };
    assert_eq!(alias(a, OwnerAlias::SelfOwned), ["m-a1"]);
    assert_eq!(alias(a, OwnerAlias::Others), ["m-b2", "m-b1"]);
    assert_eq!(alias(a, OwnerAlias::System), ["m-sys"]);
    assert_eq!(alias(a, OwnerAlias::Marketplace), ["m-market"]);
    assert_eq!(alias(b, OwnerAlias::Others), Vec::<String>::new());
    let community = |is_public| VmImageQuery {
        owner_alias: Some(OwnerAlias::Others),
        is_public: Some(is_public),
        ..available()
    };
    assert_eq!(ids(a, community(true)), ["m-b2"]);
    assert_eq!(ids(a, community(false)), ["m-b1"]);
    // The alias is the caller's point of view.
    let seen_by = |t| {
        store
            .vm_images(t, &available())
            .unwrap()
            .rows
            .into_iter()
            .find(|r| r.image_id == "m-b1")
            .unwrap()
            .owner_alias
    };
    assert_eq!(seen_by(a), "others");
    assert_eq!(seen_by(b), "self");
    // Asking by id does not reveal an image the tenant cannot see.
    let by_id = VmImageQuery {
        image_ids: vec!["m-a1".into(), "m-b3".into()],
        ..available()
    };
    assert_eq!(ids(a, by_id), ["m-a1"]);
    let statuses = VmImageQuery {
        statuses: vec!["CreateFailed".into(), "Deprecated".into()],
        ..available()
    };
    assert_eq!(ids(a, statuses), ["m-a2", "m-old"]);
    let beijing = VmImageQuery {
        region_id: "cn-beijing".into(),
        ..available()
    };
    assert_eq!(ids(a, beijing), ["m-bj"]);
}

fn vm_image_filters_and_children(db: &TestDb) {
    let (store, a, b) = vm_seeded(db);
    let ids = |q: VmImageQuery| -> Vec<String> {
        store
            .vm_images(a, &q)
            .unwrap()
            .rows
            .into_iter()
            .map(|r| r.image_id)
            .collect()
    };
    let s = |v: &str| Some(v.to_owned());
    let tag = |k: &str, v: Option<&str>| (k.to_owned(), v.map(str::to_owned));
    assert_eq!(
        ids(VmImageQuery {
            tags: vec![tag("DTS", Some("Oracle"))],
            ..available()
        }),
        ["m-a1"]
    );
    assert_eq!(
        ids(VmImageQuery {
            tags: vec![tag("DTS", None)],
            ..available()
        }),
        ["m-a1"]
    );
    assert!(ids(VmImageQuery {
        tags: vec![tag("DTS", Some("oracle"))],
        ..available()
    })
    .is_empty());
    assert!(ids(VmImageQuery {
        tags: vec![tag("DTS", None), tag("env", Some("dev"))],
        ..available()
    })
    .is_empty());
    assert_eq!(
        ids(VmImageQuery {
            snapshot_id: s("s-bp17ot2q7x72ggtw"),
            ..available()
        }),
        ["m-a1"]
    );
    assert_eq!(
        ids(VmImageQuery {
            image_name: s("name-m-sys"),
            ..available()
        }),
        ["m-sys"]
    );
    assert_eq!(
        ids(VmImageQuery {
            image_family: s("hangzhou-daily-update"),
            ..available()
        }),
        ["m-a1"]
    );
    assert_eq!(
        ids(VmImageQuery {
            os_type: s("windows"),
            ..available()
        }),
        ["m-a1"]
    );
    assert_eq!(
        ids(VmImageQuery {
            usage: s("instance"),
            ..available()
        }),
        ["m-a1"]
    );
    assert_eq!(
        ids(VmImageQuery {
            owner_account_id: Some(1234567890),
            ..available()
        }),
        ["m-a1"]
    );
    assert_eq!(
        ids(VmImageQuery {
            architecture: s("arm64"),
            statuses: vec![],
            ..available()
        }),
        ["m-a2"]
    );
    assert_eq!(
        ids(VmImageQuery {
            created_from_ms: Some(2),
            created_to_ms: Some(20),
            ..available()
        }),
        ["m-b1", "m-a1", "m-market"]
    );
    assert_eq!(
        ids(VmImageQuery {
            is_support_io_optimized: Some(false),
            ..available()
        })
        .len(),
        0
    );
    let paged = store
        .vm_images(
            a,
            &VmImageQuery {
                offset: 1,
                limit: 2,
                ..available()
            },
        )
        .unwrap();
    assert_eq!(paged.total, 5);
    assert_eq!(
        paged
            .rows
            .iter()
            .map(|r| r.image_id.as_str())
            .collect::<Vec<_>>(),
        ["m-b1", "m-a1"]
    );
    let a1 = &paged.rows[1];
    assert_eq!(a1.owner_alias, "self");
    assert_eq!((a1.owner_account_id, a1.size_gib), (1234567890, 40));
    assert_eq!(a1.description, "Archive log for Oracle");
    assert!(a1.is_self_shared && a1.is_support_io_optimized && !a1.is_public);
    assert_eq!(
        a1.tags,
        [
            ("DTS".to_owned(), "Oracle".to_owned()),
            ("env".into(), "prod".into())
        ]
    );
    assert_eq!(a1.disks.len(), 1);
    assert_eq!(
        (a1.disks[0].remain_time_s, a1.disks[0].format.as_str()),
        (233, "qcow2")
    );
    assert_eq!(a1.checks[0].risk_code, "NVMe.NotInstallded");
    assert!(paged.rows[0].disks.is_empty() && paged.rows[0].tags.is_empty());

    // Updating replaces the children.
    let mut again = vm("m-a1", VmImageSource::Custom, "Available", 10);
    again.tags = vec![("team".into(), "x".into())];
    store.upsert_vm_image(Some(a), &again).unwrap();
    let a1 = store
        .vm_images(
            a,
            &VmImageQuery {
                image_ids: vec!["m-a1".into()],
                ..available()
            },
        )
        .unwrap()
        .rows
        .remove(0);
    assert_eq!(a1.tags, [("team".to_owned(), "x".to_owned())]);
    assert!(a1.disks.is_empty() && a1.checks.is_empty());

    // Nobody takes over another tenant's image id or shares what they do not own.
    assert!(store.upsert_vm_image(Some(b), &again).is_err());
    assert!(store
        .upsert_vm_image(Some(a), &vm("m-sys", VmImageSource::System, "Available", 1))
        .is_err());
    assert!(store
        .upsert_vm_image(None, &vm("m-sys", VmImageSource::Custom, "Available", 1))
        .is_err());
    assert!(matches!(
        store.share_vm_image(b, a1.id, b),
        Err(StoreError::NotFound(_))
    ));
}

/// Sharing by account, community publishing and recorded instances, as each tenant sees them:
/// the alias, IsPublic, IsSelfShared and Usage DescribeImages answers.
fn vm_sharing_publishing_and_usage(db: &TestDb) {
    let (store, a, b) = vm_seeded(db);
    let c = tenant(&store, "c");
    let row = |t, id: &str| store.vm_image(t, id).unwrap();
    let ids = |t, q: VmImageQuery| -> Vec<String> {
        store
            .vm_images(t, &q)
            .unwrap()
            .rows
            .into_iter()
            .map(|r| r.image_id)
            .collect()
    };
    assert_eq!(store.tenant_by_account("acct-c").unwrap(), Some(c));
    assert_eq!(store.tenant_by_account("nobody").unwrap(), None);
    assert_eq!(store.tenant_name(c).unwrap().as_deref(), Some("c"));
    // m-b3 is B's private image: C cannot see it until B shares it.
    assert!(row(c, "m-b3").is_none());
    assert!(store.share_vm_image_with(b, "m-b3", c).unwrap());
    assert!(
        !store.share_vm_image_with(b, "m-b3", c).unwrap(),
        "already shared"
    );
    let seen = row(c, "m-b3").unwrap();
    assert_eq!(
        (seen.owner_alias.as_str(), seen.is_self_shared),
        ("others", true)
    );
    assert!(row(a, "m-b3").is_none(), "shared with C only");
    let audience = store.vm_image_audience(b, seen.id).unwrap();
    assert_eq!(audience.shared_with, ["acct-c"]);
    assert!(store
        .vm_image_audience(c, seen.id)
        .unwrap()
        .shared_with
        .is_empty());
    // Only the owner shares, publishes or unshares.
    assert!(matches!(
        store.share_vm_image_with(c, "m-b3", a),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_vm_image_public(a, "m-b3", true, "a"),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.share_vm_image_with(a, "m-sys", b),
        Err(StoreError::NotFound(_))
    ));
    assert!(store.unshare_vm_image(b, "m-b3", c).unwrap());
    assert!(!store.unshare_vm_image(b, "m-b3", c).unwrap());
    assert!(row(c, "m-b3").is_none());
    assert!(!row(b, "m-b3").unwrap().is_self_shared);

    // Publishing: every tenant sees it, as a community image.
    store.set_vm_image_public(b, "m-b3", true, "beta").unwrap();
    let seen = row(c, "m-b3").unwrap();
    assert_eq!(
        (seen.is_public, seen.supplier_name.as_str()),
        (true, "beta")
    );
    let community = VmImageQuery {
        owner_alias: Some(OwnerAlias::Others),
        is_public: Some(true),
        ..available()
    };
    assert_eq!(ids(c, community.clone()), ["m-b3", "m-b2"]);
    store.set_vm_image_public(b, "m-b3", false, "beta").unwrap();
    assert_eq!(ids(c, community), ["m-b2"]);
    assert_eq!(row(b, "m-b3").unwrap().supplier_name, "");

    // Usage: C's instance of the community image m-b2 shows to C and to B (the owner), not
    // to A; a platform image C runs is in use for C only.
    let usage = |t, id: &str| row(t, id).unwrap().usage;
    assert_eq!(usage(c, "m-b2"), "none");
    assert!(store.add_vm_image_instance(c, "m-b2", "i-c1").unwrap());
    assert!(!store.add_vm_image_instance(c, "m-b2", "i-c1").unwrap());
    assert_eq!(
        (usage(c, "m-b2"), usage(b, "m-b2"), usage(a, "m-b2")),
        ("instance".into(), "instance".into(), "none".into())
    );
    assert!(store.add_vm_image_instance(c, "m-sys", "i-c2").unwrap());
    assert_eq!(
        (usage(c, "m-sys"), usage(a, "m-sys")),
        ("instance".into(), "none".into())
    );
    let in_use = VmImageQuery {
        usage: Some("instance".into()),
        ..available()
    };
    assert_eq!(ids(c, in_use.clone()), ["m-b2", "m-sys"]);
    assert_eq!(
        ids(a, in_use.clone()),
        ["m-a1"],
        "m-a1 is recorded as in use"
    );
    let idle = VmImageQuery {
        usage: Some("none".into()),
        ..available()
    };
    assert!(!ids(c, idle).contains(&"m-b2".to_owned()));
    let seen = row(c, "m-b2").unwrap();
    assert_eq!(
        store.vm_image_audience(c, seen.id).unwrap().instances,
        ["i-c1"]
    );
    assert!(store
        .vm_image_audience(b, seen.id)
        .unwrap()
        .instances
        .is_empty());
    // A tenant cannot record an instance of an image it cannot see, nor forget another's.
    assert!(matches!(
        store.add_vm_image_instance(a, "m-b3", "i-a1"),
        Err(StoreError::NotFound(_))
    ));
    assert!(!store.remove_vm_image_instance(a, "m-b2", "i-c1").unwrap());
    assert!(store.remove_vm_image_instance(c, "m-b2", "i-c1").unwrap());
    assert_eq!(usage(b, "m-b2"), "none");
    assert_eq!(ids(c, in_use), ["m-sys"]);
}

/// A batch commits all its writes or none: an agent's report is applied whole.
fn batches_commit_whole_or_not_at_all(db: &TestDb) {
    let store = db.open();
    let t = tenant(&store, "batch");
    let write = |b: &mut crowsnest_store::Batch<'_, '_>, uid: &str, n: u8| {
        let host = b.upsert_host(
            t,
            &NewHost {
                uid: uid.into(),
                name: format!("node-{uid}"),
                ..NewHost::default()
            },
        )?;
        let row = b.upsert_image(&NewImage {
            digest: digest(n),
            config_digest: None,
            size_bytes: 10,
            created_ms: 0,
            is_multiarch: false,
        })?;
        let local = b.upsert_local_image(
            t,
            &NewLocalImage {
                image_row: row,
                image_name: format!("app-{n}"),
                image_version: "1".into(),
                local_image_type: String::new(),
                enterprise_project_id: String::new(),
                updated_ms: 0,
            },
        )?;
        b.add_local_image_host(t, local, host)?;
        let pod = b.upsert_pod(
            t,
            &NewPod {
                uid: format!("pod-{uid}"),
                name: "web-0".into(),
                namespace: "default".into(),
                cluster_name: String::new(),
                host_row: Some(host),
            },
        )?;
        b.upsert_container(
            t,
            &NewContainer {
                container_id: format!("c-{uid}"),
                name: "web".into(),
                host_row: host,
                local_image_row: Some(local),
                pod_row: Some(pod),
                status: "running".into(),
                created_ms: 0,
            },
        )?;
        Ok(host)
    };
    // The last write fails (a container on a host row of no tenant): nothing stays.
    let failed = store.batch(|b| {
        write(b, "h1", 1)?;
        b.upsert_container(
            t,
            &NewContainer {
                container_id: "c-orphan".into(),
                name: "orphan".into(),
                host_row: i64::MAX,
                local_image_row: None,
                pod_row: None,
                status: String::new(),
                created_ms: 0,
            },
        )
    });
    assert!(matches!(failed, Err(StoreError::NotFound(_))), "{failed:?}");
    assert_eq!(store.local_images(t, &page(10)).unwrap().total, 0);
    // The same writes without the failure are all there, pod and container included.
    store.batch(|b| write(b, "h2", 2)).unwrap();
    let page = store.local_images(t, &page(10)).unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.rows[0].image_name, "app-2");
    assert_eq!((page.rows[0].host_num, page.rows[0].container_num), (1, 1));
    let by_pod = store
        .local_images(
            t,
            &LocalImageQuery {
                pod_id: Some("pod-h2".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(by_pod.total, 1);
}

on_both_engines!(
    batches_commit_whole_or_not_at_all,
    vm_sharing_publishing_and_usage,
    local_images_report_counts_scans_and_first_host,
    local_images_never_cross_tenants,
    local_image_filters_follow_list_local_images,
    vm_images_follow_describe_images_visibility,
    vm_image_filters_and_children,
);
