//! ECS (version 2014-05-26) DescribeImages: the VM images a tenant can see, with every filter,
//! `Tag.N` and `Filter.N`, the ImageOwnerAlias / IsPublic rules, DryRun, Usage, paging and the
//! document's error codes.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crowsnest_store::{OwnerAlias, VmImageQuery, VmImageRow};

use super::params::Params;
use crate::auth::Caller;
use crate::error::{ApiError, Dialect};
use crate::form::Pairs;
use crate::reply::JsonObject;
use crate::AppState;

/// The RAM action of DescribeImages.
pub const ACTION_DESCRIBE_IMAGES: &str = "ecs:DescribeImages";

const STATUSES: &[&str] = &[
    "Creating",
    "Waiting",
    "Available",
    "UnAvailable",
    "CreateFailed",
    "Deprecated",
];
const MAX_TAGS: usize = 20;
const MAX_FILTERS: usize = 20;
const MAX_IMAGE_IDS: usize = 100;

fn err(status: StatusCode, code: &str, message: &str) -> ApiError {
    ApiError::new(Dialect::Alibaba, status, code, message)
}

/// ECS spells its generic validation code `InvalidParamter`, as its document lists it.
fn invalid(detail: &str) -> ApiError {
    err(
        StatusCode::BAD_REQUEST,
        "InvalidParamter",
        &format!("Invalid Parameter. {detail}"),
    )
}

/// Re-labels a shared parameter error with ECS's code, keeping its detail.
fn relabel(e: ApiError) -> ApiError {
    if e.code() == "InvalidParameter" {
        invalid(e.message())
    } else {
        e
    }
}

/// ImageOwnerAlias `system` and `others` ignore RAM policies, as the document says.
pub(crate) fn ram_exempt(pairs: &Pairs) -> bool {
    matches!(pairs.get("ImageOwnerAlias"), Some("system" | "others"))
}

/// The indexed parameters `Prefix.N.Field` (N from 1), as (N, field, value).
fn indexed<'a>(pairs: &'a Pairs, prefix: &str) -> Result<Vec<(usize, String, &'a str)>, ApiError> {
    let mut out = Vec::new();
    for (name, value) in &pairs.0 {
        let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        let (n, field) = rest.split_once('.').ok_or_else(|| {
            invalid(&format!(
                "{name} must be {prefix}.N.Key or {prefix}.N.Value"
            ))
        })?;
        let n: usize = n
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| invalid(&format!("{name}: N must be a positive integer")))?;
        out.push((n, field.to_owned(), value.as_str()));
    }
    Ok(out)
}

/// `Tag.N.Key` / `Tag.N.Value` (and the deprecated lower-case `key` / `value`).
fn tags(pairs: &Pairs) -> Result<Vec<(String, Option<String>)>, ApiError> {
    let mut by_n: std::collections::BTreeMap<usize, (Option<String>, Option<String>)> =
        Default::default();
    for (n, field, value) in indexed(pairs, "Tag")? {
        if n > MAX_TAGS {
            return Err(err(
                StatusCode::BAD_REQUEST,
                "InvalidTagCount",
                "The specified tags are beyond the permitted range.",
            ));
        }
        let slot = by_n.entry(n).or_default();
        match field.as_str() {
            "Key" | "key" => slot.0 = Some(value.to_owned()),
            "Value" | "value" => slot.1 = Some(value.to_owned()),
            other => return Err(invalid(&format!("Tag.{n}.{other} is not a tag field"))),
        }
    }
    by_n.into_values()
        .map(|(key, value)| match key.filter(|k| !k.is_empty()) {
            Some(k) if k.chars().count() <= 128 => Ok((k, value.filter(|v| !v.is_empty()))),
            Some(_) => Err(invalid("a tag key is longer than 128 characters")),
            None => Err(err(
                StatusCode::BAD_REQUEST,
                "InvalidTag.Mismatch",
                "The specified Tag.n.Key and Tag.n.Value are not match.",
            )),
        })
        .collect()
}

/// Parses `yyyy-MM-ddTHH:mmZ` (UTC) to ms.
fn filter_time_ms(value: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]Z");
    let t = time::PrimitiveDateTime::parse(value, &format)
        .ok()?
        .assume_utc();
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// `Filter.N.Key` / `Filter.N.Value`: the creation time range.
fn creation_range(pairs: &Pairs) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let not_found = || {
        err(
            StatusCode::NOT_FOUND,
            "InvalidFilterKey.NotFound",
            "The specified Filter Key is not found.",
        )
    };
    let mut by_n: std::collections::BTreeMap<usize, (Option<&str>, Option<&str>)> =
        Default::default();
    for (n, field, value) in indexed(pairs, "Filter")? {
        if n > MAX_FILTERS {
            return Err(invalid("at most 20 filters"));
        }
        let slot = by_n.entry(n).or_default();
        match field.as_str() {
            "Key" => slot.0 = Some(value),
            "Value" => slot.1 = Some(value),
            other => {
                return Err(invalid(&format!(
                    "Filter.{n}.{other} is not a filter field"
                )))
            }
        }
    }
    let (mut from, mut to) = (None, None);
    for (key, value) in by_n.into_values() {
        let key = key.filter(|k| !k.is_empty()).ok_or_else(not_found)?;
        let slot = match key {
            "CreationStartTime" => &mut from,
            "CreationEndTime" => &mut to,
            _ => return Err(not_found()),
        };
        let ms = value.and_then(filter_time_ms).ok_or_else(|| {
            err(
                StatusCode::NOT_FOUND,
                "InvalidFilterValue",
                "The specified Filter Value is not valid.",
            )
        })?;
        *slot = Some(ms);
    }
    Ok((from, to))
}

/// An instance type looks like `ecs.g5.large` or `ecs.gn6i-c4g1.xlarge`.
fn valid_instance_type(s: &str) -> bool {
    let mut parts = s.split('.');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
    };
    parts.next() == Some("ecs") && ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// What an instance type needs of an image: the architectures it runs (ARM families for
/// arm64 images, every other family x86_64 and 32-bit i386 ones) and whether it is I/O
/// optimised (every family since the first generation is). Crowsnest does not hold
/// Alibaba's instance-type catalogue, so the family name decides: a generation number followed
/// by `r` (Kunpeng: g6r, c6r), `y` or `m` (Yitian: g8y, c8y, g8m) is ARM.
fn instance_needs(instance_type: &str) -> (&'static [&'static str], bool) {
    const FIRST_GENERATION: &[&str] = &["t1", "s1", "s2", "s3", "m1", "m2", "c1", "c2", "n1", "n2"];
    let family = instance_type.split('.').nth(1).unwrap_or_default();
    let family = family.strip_prefix("ebm").unwrap_or(family);
    let suffix = family.trim_start_matches(|c: char| c.is_ascii_lowercase());
    let suffix = suffix.trim_start_matches(|c: char| c.is_ascii_digit());
    let arm = matches!(suffix, "r" | "y" | "m") && suffix.len() < family.len() - 1;
    let architectures: &[&str] = if arm { &["arm64"] } else { &["x86_64", "i386"] };
    (architectures, !FIRST_GENERATION.contains(&family))
}

fn iso8601(ms: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// DescribeImages' Image object for one row (the native API's `GET /api/v1/vm-images/…`
/// shows the same object).
pub(crate) fn image_json(v: &VmImageRow) -> Value {
    let disks: Vec<Value> = v
        .disks
        .iter()
        .map(|d| {
            json!({
                "Type": d.disk_type,
                "ImportOSSBucket": d.import_oss_bucket,
                "Progress": d.progress,
                "SnapshotId": d.snapshot_id,
                "ImportOSSObject": d.import_oss_object,
                "Device": d.device,
                "Size": d.size_gib.to_string(),
                "RemainTime": d.remain_time_s,
                "Format": d.format,
            })
        })
        .collect();
    let tags: Vec<Value> = v
        .tags
        .iter()
        .map(|(k, val)| json!({"TagKey": k, "TagValue": val}))
        .collect();
    let checks: Vec<Value> = v
        .checks
        .iter()
        .map(|c| {
            let mut item = json!({"Name": c.name, "Value": c.value});
            if let (false, Some(m)) = (c.risk_level.is_empty(), item.as_object_mut()) {
                m.insert("RiskLevel".into(), json!(c.risk_level));
                m.insert("RiskCode".into(), json!(c.risk_code));
            }
            item
        })
        .collect();
    json!({
        "CreationTime": iso8601(v.created_ms),
        "Status": v.status,
        "ImageFamily": v.image_family,
        "Progress": v.progress,
        "IsCopied": v.is_copied,
        "IsSupportIoOptimized": v.is_support_io_optimized,
        "ImageOwnerAlias": v.owner_alias,
        "IsSupportCloudinit": v.is_support_cloudinit,
        "ImageVersion": v.image_version,
        "Usage": v.usage,
        "IsSelfShared": v.is_self_shared.to_string(),
        "Description": v.description,
        "Size": v.size_gib,
        "ResourceGroupId": v.resource_group_id,
        "Platform": v.platform,
        "OSNameEn": v.os_name_en,
        "ImageName": v.image_name,
        "OSName": v.os_name,
        "ImageId": v.image_id,
        "OSType": v.os_type,
        "IsSubscribed": v.is_subscribed,
        "ProductCode": v.product_code,
        "Architecture": v.architecture,
        "BootMode": v.boot_mode,
        "DiskDeviceMappings": {"DiskDeviceMapping": disks},
        "Tags": {"Tag": tags},
        "IsPublic": v.is_public,
        "ImageOwnerId": v.owner_account_id,
        "LoginAsNonRootSupported": v.login_as_non_root,
        "SupplierName": v.supplier_name,
        "DetectionOptions": {"Status": v.detection_status, "Items": {"Item": checks}},
        "Features": {"NvmeSupport": v.nvme_support},
    })
}

/// DescribeImages.
pub(crate) fn describe_images(
    state: &AppState,
    caller: &Caller,
    p: &Params<'_>,
) -> Result<JsonObject, ApiError> {
    let pairs = p.pairs();
    let region_id = p
        .text_max("RegionId", 64)
        .map_err(relabel)?
        .ok_or_else(|| super::params::missing("RegionId"))?;
    let statuses = p.list("Status", STATUSES.len(), 32).map_err(relabel)?;
    if let Some(bad) = statuses.iter().find(|s| !STATUSES.contains(&s.as_str())) {
        return Err(invalid(&format!(
            "Status {bad:?} is not one of {}",
            STATUSES.join(", ")
        )));
    }
    let statuses = if statuses.is_empty() {
        vec!["Available".to_owned()]
    } else {
        statuses
    };
    let owner_alias = match p.text("ImageOwnerAlias") {
        None => None,
        Some(a) => Some(OwnerAlias::parse(a).ok_or_else(|| {
            err(
                StatusCode::BAD_REQUEST,
                "InvalidImageOwnerAlias.ValueNotSupported",
                "The specified ImageOwnerAlias value is not supported.",
            )
        })?),
    };
    let is_public = p.bool("IsPublic").map_err(relabel)?;
    if is_public == Some(true) && owner_alias.is_some_and(|a| a != OwnerAlias::Others) {
        return Err(invalid(
            "IsPublic=true queries community images and needs ImageOwnerAlias=others",
        ));
    }
    // Community images are others' published images, so IsPublic=true alone asks for
    // ImageOwnerAlias=others; and `others` with IsPublic left empty means shared images only
    // ("to query shared images, set IsPublic to false or leave it empty"). Without either,
    // every kind is listed, community images included, as the document's default says.
    let (owner_alias, is_public) = match (owner_alias, is_public) {
        (None, Some(true)) => (Some(OwnerAlias::Others), Some(true)),
        (Some(OwnerAlias::Others), None) => (Some(OwnerAlias::Others), Some(false)),
        other => other,
    };
    let owner_id = match p.text("ImageOwnerId") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| invalid("ImageOwnerId must be an account id"))?,
        ),
    };
    // The owner filter only applies to shared and community images.
    let owner_id =
        owner_id.filter(|_| owner_alias == Some(OwnerAlias::Others) || is_public == Some(true));
    let instance_type = p.text("InstanceType");
    if instance_type.is_some_and(|t| !valid_instance_type(t)) {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "InvalidInstanceType.ValueNotSupported",
            "The specified InstanceType does not exist or beyond the permitted range.",
        ));
    }
    let (instance_architectures, instance_io_optimized) = match instance_type {
        Some(t) => {
            let (archs, io) = instance_needs(t);
            (archs.iter().map(|a| (*a).to_owned()).collect(), io)
        }
        None => (Vec::new(), false),
    };
    let os_type = p.text("OSType");
    if os_type.is_some_and(|o| !matches!(o, "windows" | "linux")) {
        return Err(err(
            StatusCode::NOT_FOUND,
            "InvalidOSType",
            "The specified OSType is not valid.",
        ));
    }
    let architecture = p.text("Architecture");
    if architecture.is_some_and(|a| !matches!(a, "i386" | "x86_64" | "arm64")) {
        return Err(err(
            StatusCode::NOT_FOUND,
            "InvalidArchitecture",
            "The specified Architecture is not valid.",
        ));
    }
    let usage = p.text("Usage");
    if usage.is_some_and(|u| !matches!(u, "instance" | "none")) {
        return Err(err(
            StatusCode::NOT_FOUND,
            "InvalidUsage",
            "The specified Usage is not valid.",
        ));
    }
    if p.text("ActionType")
        .is_some_and(|a| !matches!(a, "CreateEcs" | "ChangeOS"))
    {
        return Err(invalid("ActionType must be CreateEcs or ChangeOS"));
    }
    // Deprecated: accepted and validated, but subscription expiry is not modelled.
    p.bool("ShowExpired").map_err(relabel)?;
    let is_support_io_optimized = p.bool("IsSupportIoOptimized").map_err(relabel)?;
    let is_support_cloudinit = p.bool("IsSupportCloudinit").map_err(relabel)?;
    let image_ids = p.list("ImageId", MAX_IMAGE_IDS, 64).map_err(relabel)?;
    let page_number = p.int("PageNumber", 1, 1, 10_000_000).map_err(relabel)?;
    let page_size = p.int("PageSize", 10, 1, 100).map_err(relabel)?;
    let tags = tags(pairs)?;
    let (created_from_ms, created_to_ms) = creation_range(pairs)?;
    let text = |name: &str| -> Result<Option<String>, ApiError> {
        Ok(p.text_max(name, 128).map_err(relabel)?.map(str::to_owned))
    };
    let query = VmImageQuery {
        region_id: region_id.to_owned(),
        statuses,
        image_ids,
        snapshot_id: text("SnapshotId")?,
        image_name: text("ImageName")?,
        image_family: text("ImageFamily")?,
        owner_alias,
        is_public,
        owner_account_id: owner_id,
        os_type: os_type.map(str::to_owned),
        architecture: architecture.map(str::to_owned),
        usage: usage.map(str::to_owned),
        is_support_io_optimized,
        is_support_cloudinit,
        resource_group_id: text("ResourceGroupId")?,
        instance_architectures,
        instance_io_optimized,
        tags,
        created_from_ms,
        created_to_ms,
        offset: (page_number - 1) * page_size,
        limit: page_size,
    };
    if p.bool("DryRun").map_err(relabel)? == Some(true) {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "DryRunOperation",
            "Request validation has been passed with DryRun flag set.",
        ));
    }
    let page = state
        .store
        .vm_images(caller.tenant, &query)
        .map_err(|e| ApiError::internal(Dialect::Alibaba, e))?;
    let images: Vec<Value> = page.rows.iter().map(image_json).collect();
    Ok(json!({
        "PageSize": page_size,
        "PageNumber": page_number,
        "TotalCount": page.total,
        "RegionId": region_id,
        "Images": {"Image": images},
    })
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_type_needs() {
        assert_eq!(
            instance_needs("ecs.g5.large"),
            (&["x86_64", "i386"][..], true)
        );
        assert_eq!(instance_needs("ecs.g6r.large"), (&["arm64"][..], true));
        assert_eq!(instance_needs("ecs.c8y.xlarge"), (&["arm64"][..], true));
        assert_eq!(
            instance_needs("ecs.ebmg6r.26xlarge"),
            (&["arm64"][..], true)
        );
        assert_eq!(
            instance_needs("ecs.r6e.large"),
            (&["x86_64", "i386"][..], true)
        );
        assert_eq!(
            instance_needs("ecs.gn6i-c4g1.xlarge"),
            (&["x86_64", "i386"][..], true)
        );
        assert_eq!(
            instance_needs("ecs.t1.small"),
            (&["x86_64", "i386"][..], false)
        );
        // A family that is only a letter and a suffix letter is not mistaken for ARM.
        assert_eq!(instance_needs("ecs.r.large").0, &["x86_64", "i386"][..]);
    }

    #[test]
    fn instance_types() {
        assert!(valid_instance_type("ecs.g5.large"));
        assert!(valid_instance_type("ecs.gn6i-c4g1.xlarge"));
        assert!(!valid_instance_type("ecs.g5"));
        assert!(!valid_instance_type("g5.large"));
        assert!(!valid_instance_type("ecs.G5.large"));
        assert!(!valid_instance_type("ecs.g5.large.x"));
    }

    #[test]
    fn filter_times() {
        assert_eq!(filter_time_ms("1970-01-01T00:01Z"), Some(60_000));
        assert_eq!(filter_time_ms("2017-12-05T22:40:00Z"), None);
        assert_eq!(iso8601(1000), "1970-01-01T00:00:01Z");
    }
}
