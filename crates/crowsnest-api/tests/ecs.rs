//! ECS DescribeImages against the real router over TCP: every filter, rule and error code of
//! its document, and what each tenant may see.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::*;

fn ids(v: &Value) -> Vec<String> {
    v["Images"]["Image"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["ImageId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_images_rules() {
    let server = start().await;
    let key = &server.seed.a_all;
    let ok: Vec<OkCase> = vec![
        (
            "defaults: Available, newest first, 10 per page",
            vec![("RegionId", "cn-hangzhou")],
            |v| {
                assert_eq!(
                    ids(v),
                    [
                        "m-bcommunity",
                        "m-bshared",
                        "m-acustom1",
                        "m-mkt1",
                        "m-sys1"
                    ]
                );
                assert_eq!(v["TotalCount"], 5);
                assert_eq!(v["PageSize"], 10);
                assert_eq!(v["PageNumber"], 1);
                assert_eq!(v["RegionId"], "cn-hangzhou");
            },
        ),
        ("other region", vec![("RegionId", "cn-shanghai")], |v| {
            assert_eq!(ids(v), ["m-syssh"])
        }),
        (
            "status list",
            vec![
                ("RegionId", "cn-hangzhou"),
                ("Status", "Creating,Available"),
            ],
            |v| assert_eq!(v["TotalCount"], 6),
        ),
        (
            "status creating",
            vec![("RegionId", "cn-hangzhou"), ("Status", "Creating")],
            |v| assert_eq!(ids(v), ["m-acustom2"]),
        ),
        (
            "paging",
            vec![
                ("RegionId", "cn-hangzhou"),
                ("PageSize", "2"),
                ("PageNumber", "3"),
            ],
            |v| {
                assert_eq!(ids(v), ["m-sys1"]);
                assert_eq!(v["TotalCount"], 5);
            },
        ),
        (
            "owner self",
            vec![("RegionId", "cn-hangzhou"), ("ImageOwnerAlias", "self")],
            |v| assert_eq!(ids(v), ["m-acustom1"]),
        ),
        (
            "owner system",
            vec![("RegionId", "cn-hangzhou"), ("ImageOwnerAlias", "system")],
            |v| assert_eq!(ids(v), ["m-sys1"]),
        ),
        (
            "owner marketplace",
            vec![
                ("RegionId", "cn-hangzhou"),
                ("ImageOwnerAlias", "marketplace"),
            ],
            |v| assert_eq!(ids(v), ["m-mkt1"]),
        ),
        (
            "owner others: shared",
            vec![
                ("RegionId", "cn-hangzhou"),
                ("ImageOwnerAlias", "others"),
                ("IsPublic", "false"),
            ],
            |v| assert_eq!(ids(v), ["m-bshared"]),
        ),
        (
            "owner others: community",
            vec![
                ("RegionId", "cn-hangzhou"),
                ("ImageOwnerAlias", "others"),
                ("IsPublic", "true"),
            ],
            |v| assert_eq!(ids(v), ["m-bcommunity"]),
        ),
        (
            "owner id applies to others",
            vec![
                ("RegionId", "cn-hangzhou"),
                ("ImageOwnerAlias", "others"),
                ("ImageOwnerId", "999"),
            ],
            |v| assert_eq!(v["TotalCount"], 0),
        ),
        (
            "owner id ignored for self",
            vec![
                ("RegionId", "cn-hangzhou"),
                ("ImageOwnerAlias", "self"),
                ("ImageOwnerId", "999"),
            ],
            |v| assert_eq!(v["TotalCount"], 1),
        ),
        (
            "image ids",
            vec![
                ("RegionId", "cn-hangzhou"),
                ("ImageId", "m-sys1,m-mkt1,m-bprivate"),
            ],
            |v| assert_eq!(ids(v), ["m-mkt1", "m-sys1"]),
        ),
        (
            "snapshot",
            vec![("RegionId", "cn-hangzhou"), ("SnapshotId", "s-sys1")],
            |v| assert_eq!(ids(v), ["m-sys1"]),
        ),
        (
            "name",
            vec![("RegionId", "cn-hangzhou"), ("ImageName", "m-mkt1-name")],
            |v| assert_eq!(ids(v), ["m-mkt1"]),
        ),
        (
            "family",
            vec![("RegionId", "cn-hangzhou"), ("ImageFamily", "ubuntu-lts")],
            |v| assert_eq!(ids(v), ["m-sys1"]),
        ),
        (
            "os type",
            vec![("RegionId", "cn-hangzhou"), ("OSType", "windows")],
            |v| assert_eq!(ids(v), ["m-mkt1"]),
        ),
        (
            "architecture",
            vec![("RegionId", "cn-hangzhou"), ("Architecture", "arm64")],
            |v| assert_eq!(ids(v), ["m-acustom1"]),
        ),
        (
            "usage",
            vec![("RegionId", "cn-hangzhou"), ("Usage", "instance")],
            |v| assert_eq!(ids(v), ["m-acustom1"]),
        ),
        // The document: images in the default resource group are listed whatever group is
        // asked for; only images in another group drop out.
        (
            "resource group keeps the default group",
            vec![("RegionId", "cn-hangzhou"), ("ResourceGroupId", "rg-a")],
            |v| assert_eq!(ids(v), ["m-bcommunity", "m-acustom1", "m-mkt1", "m-sys1"]),
        ),
        (
            "another resource group",
            vec![("RegionId", "cn-hangzhou"), ("ResourceGroupId", "rg-b")],
            |v| assert_eq!(ids(v), ["m-bcommunity", "m-bshared", "m-mkt1", "m-sys1"]),
        ),
        (
            "unknown resource group: the default group only",
            vec![("RegionId", "cn-hangzhou"), ("ResourceGroupId", "rg-none")],
            |v| assert_eq!(ids(v), ["m-bcommunity", "m-mkt1", "m-sys1"]),
        ),
        // InstanceType filters: an x86 type cannot run the arm64 image, an ARM type only it.
        (
            "x86 instance type",
            vec![
                ("RegionId", "cn-hangzhou"),
                ("InstanceType", "ecs.g5.large"),
                ("ActionType", "CreateEcs"),
            ],
            |v| assert_eq!(ids(v), ["m-bcommunity", "m-bshared", "m-mkt1", "m-sys1"]),
        ),
        (
            "ARM instance type",
            vec![
                ("RegionId", "cn-hangzhou"),
                ("InstanceType", "ecs.g6r.large"),
            ],
            |v| assert_eq!(ids(v), ["m-acustom1"]),
        ),
        (
            "I/O optimised instance type needs an I/O optimised image",
            vec![
                ("RegionId", "cn-shanghai"),
                ("InstanceType", "ecs.g5.large"),
            ],
            |v| assert_eq!(v["TotalCount"], 0),
        ),
        (
            "first-generation instance type takes images without I/O optimisation",
            vec![
                ("RegionId", "cn-shanghai"),
                ("InstanceType", "ecs.t1.small"),
            ],
            |v| assert_eq!(ids(v), ["m-syssh"]),
        ),
        (
            "IsSupportIoOptimized",
            vec![
                ("RegionId", "cn-shanghai"),
                ("IsSupportIoOptimized", "false"),
            ],
            |v| assert_eq!(ids(v), ["m-syssh"]),
        ),
        (
            "instance type and architecture together",
            vec![
                ("RegionId", "cn-hangzhou"),
                ("InstanceType", "ecs.c8y.xlarge"),
                ("Architecture", "x86_64"),
            ],
            |v| assert_eq!(v["TotalCount"], 0),
        ),
        (
            "tag key and value",
            vec![
                ("RegionId", "cn-hangzhou"),
                ("Tag.1.Key", "env"),
                ("Tag.1.Value", "prod"),
            ],
            |v| assert_eq!(ids(v), ["m-acustom1"]),
        ),
        (
            "tag key only",
            vec![("RegionId", "cn-hangzhou"), ("Tag.1.Key", "team")],
            |v| assert_eq!(ids(v), ["m-acustom1"]),
        ),
        (
            "tag value mismatch",
            vec![
                ("RegionId", "cn-hangzhou"),
                ("Tag.1.Key", "env"),
                ("Tag.1.Value", "dev"),
            ],
            |v| assert_eq!(v["TotalCount"], 0),
        ),
        (
            "two tags",
            vec![
                ("RegionId", "cn-hangzhou"),
                ("Tag.1.Key", "env"),
                ("Tag.2.Key", "team"),
                ("Tag.2.Value", "shop"),
            ],
            |v| assert_eq!(v["TotalCount"], 1),
        ),
        (
            "creation window",
            vec![
                ("RegionId", "cn-hangzhou"),
                ("Filter.1.Key", "CreationStartTime"),
                ("Filter.1.Value", "2024-05-01T00:00Z"),
                ("Filter.2.Key", "CreationEndTime"),
                ("Filter.2.Value", "2024-08-15T00:00Z"),
            ],
            |v| {
                assert_eq!(ids(v), ["m-bshared", "m-acustom1"]);
            },
        ),
        (
            "response fields",
            vec![("RegionId", "cn-hangzhou"), ("ImageId", "m-acustom1")],
            |v| {
                let i = &v["Images"]["Image"][0];
                assert_eq!(i["ImageOwnerAlias"], "self");
                assert_eq!(i["CreationTime"], "2024-06-01T00:00:00Z");
                assert_eq!(i["ImageOwnerId"], 1001);
                assert_eq!(i["IsSelfShared"], "false");
                assert_eq!(i["Size"], 40);
                assert_eq!(i["Tags"]["Tag"][0]["TagKey"], "env");
                assert_eq!(i["Tags"]["Tag"][0]["TagValue"], "prod");
                assert_eq!(i["DetectionOptions"]["Status"], "Finished");
                assert_eq!(
                    i["DetectionOptions"]["Items"]["Item"][0]["RiskLevel"],
                    "High"
                );
                assert_eq!(i["Features"]["NvmeSupport"], "supported");
                assert!(i["DiskDeviceMappings"]["DiskDeviceMapping"]
                    .as_array()
                    .unwrap()
                    .is_empty());
            },
        ),
        (
            "disk mapping",
            vec![("RegionId", "cn-hangzhou"), ("ImageId", "m-sys1")],
            |v| {
                let d = &v["Images"]["Image"][0]["DiskDeviceMappings"]["DiskDeviceMapping"][0];
                assert_eq!(d["SnapshotId"], "s-sys1");
                assert_eq!(d["Size"], "40");
                assert_eq!(d["Device"], "/dev/xvda");
                assert_eq!(v["Images"]["Image"][0]["ImageOwnerAlias"], "system");
            },
        ),
    ];
    for (name, params, check) in ok {
        let (status, body) = server.ecs(key, &params).await;
        assert_eq!(status, 200, "{name}: {body}");
        check(&body);
    }

    let errors: Vec<ErrCase> = vec![
        ("no region", vec![], 400, "MissingParameter"),
        (
            "bad owner alias",
            vec![("ImageOwnerAlias", "mine")],
            400,
            "InvalidImageOwnerAlias.ValueNotSupported",
        ),
        (
            "community needs others",
            vec![("ImageOwnerAlias", "self"), ("IsPublic", "true")],
            400,
            "InvalidParamter",
        ),
        (
            "bad status",
            vec![("Status", "Gone")],
            400,
            "InvalidParamter",
        ),
        (
            "page size 0",
            vec![("PageSize", "0")],
            400,
            "InvalidParamter",
        ),
        (
            "page size 101",
            vec![("PageSize", "101")],
            400,
            "InvalidParamter",
        ),
        (
            "page number 0",
            vec![("PageNumber", "0")],
            400,
            "InvalidParamter",
        ),
        (
            "bad bool",
            vec![("IsSupportCloudinit", "maybe")],
            400,
            "InvalidParamter",
        ),
        (
            "bad owner id",
            vec![("ImageOwnerId", "abc")],
            400,
            "InvalidParamter",
        ),
        (
            "bad action type",
            vec![("ActionType", "Destroy")],
            400,
            "InvalidParamter",
        ),
        (
            "tag value without key",
            vec![("Tag.1.Value", "prod")],
            400,
            "InvalidTag.Mismatch",
        ),
        ("tag 21", vec![("Tag.21.Key", "a")], 400, "InvalidTagCount"),
        (
            "bad instance type",
            vec![("InstanceType", "huge")],
            400,
            "InvalidInstanceType.ValueNotSupported",
        ),
        (
            "bad filter key",
            vec![
                ("Filter.1.Key", "CreatedBy"),
                ("Filter.1.Value", "2017-12-05T22:40Z"),
            ],
            404,
            "InvalidFilterKey.NotFound",
        ),
        (
            "filter value without key",
            vec![("Filter.1.Value", "2017-12-05T22:40Z")],
            404,
            "InvalidFilterKey.NotFound",
        ),
        (
            "bad filter value",
            vec![
                ("Filter.1.Key", "CreationStartTime"),
                ("Filter.1.Value", "2017-12-05"),
            ],
            404,
            "InvalidFilterValue",
        ),
        (
            "bad usage",
            vec![("Usage", "sometimes")],
            404,
            "InvalidUsage",
        ),
        ("bad os", vec![("OSType", "bsd")], 404, "InvalidOSType"),
        (
            "bad architecture",
            vec![("Architecture", "mips")],
            404,
            "InvalidArchitecture",
        ),
        (
            "dry run passes",
            vec![("DryRun", "true")],
            400,
            "DryRunOperation",
        ),
    ];
    for (name, mut params, status, code) in errors {
        if name != "no region" {
            params.push(("RegionId", "cn-hangzhou"));
        }
        let (got, body) = server.ecs(key, &params).await;
        assert_eq!(
            (got.as_u16(), body["Code"].as_str()),
            (status, Some(code)),
            "{name}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_images_permissions_and_tenants() {
    let server = start().await;
    // Without ecs:DescribeImages: refused, except for system and others images, which the
    // document says ignore RAM policies.
    let (status, body) = server
        .ecs(&server.seed.a_none, &[("RegionId", "cn-hangzhou")])
        .await;
    assert_eq!(
        (status.as_u16(), body["Code"].as_str()),
        (403, Some("Forbidden.RAM"))
    );
    let (status, body) = server
        .ecs(
            &server.seed.a_none,
            &[("RegionId", "cn-hangzhou"), ("DryRun", "true")],
        )
        .await;
    assert_eq!(status, 403, "a dry run checks permissions too: {body}");
    let (status, body) = server
        .ecs(
            &server.seed.a_none,
            &[("RegionId", "cn-hangzhou"), ("ImageOwnerAlias", "system")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), ["m-sys1"]);

    // B sees its own three custom images and the platform's, never A's.
    let (_, body) = server
        .ecs(
            &server.seed.b_all,
            &[
                ("RegionId", "cn-hangzhou"),
                ("Status", "Available,Creating"),
            ],
        )
        .await;
    assert_eq!(
        ids(&body),
        [
            "m-bcommunity",
            "m-bshared",
            "m-bprivate",
            "m-mkt1",
            "m-sys1"
        ]
    );
    let (_, body) = server
        .ecs(
            &server.seed.b_all,
            &[
                ("RegionId", "cn-hangzhou"),
                ("ImageId", "m-acustom1,m-acustom2"),
            ],
        )
        .await;
    assert_eq!(body["TotalCount"], 0);
    // A never sees B's unshared image, even by id.
    let (_, body) = server
        .ecs(
            &server.seed.a_all,
            &[("RegionId", "cn-hangzhou"), ("ImageId", "m-bprivate")],
        )
        .await;
    assert_eq!(body["TotalCount"], 0);
}
