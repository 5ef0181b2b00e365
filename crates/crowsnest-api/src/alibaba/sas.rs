//! Security Center (`yundun-sas`, version 2018-12-03) image listing: DescribeImageInstances and
//! the DescribeImageCriteria it refers to for the supported search conditions.

use serde_json::{json, Value};

use crowsnest_store::inventory::ScanSummary;
use std::sync::Arc;

use crowsnest_store::{Field, Filter, PlacementOrder, PlacementPage, PlacementQuery, PlacementRow};

use super::params::{invalid, Params};
use crate::auth::Caller;
use crate::error::{ApiError, Dialect};
use crate::reply::JsonObject;
use crate::AppState;
use serde::Serialize;

/// The RAM action of DescribeImageInstances.
pub const ACTION_DESCRIBE_IMAGE_INSTANCES: &str = "yundun-sas:DescribeImageInstances";
/// The RAM action of DescribeImageCriteria.
pub const ACTION_DESCRIBE_IMAGE_CRITERIA: &str = "yundun-sas:DescribeImageCriteria";

/// Default and largest `PageSize`. The document gives the default (20); the upper bound is
/// Crowsnest's, so one request cannot ask for an unbounded page.
const DEFAULT_PAGE_SIZE: i64 = 20;
const MAX_PAGE_SIZE: i64 = 100;
/// `CurrentPage` bound: keeps the offset far from overflow.
const MAX_CURRENT_PAGE: i64 = 10_000_000;
/// Limits on `Criteria`, which is untrusted JSON.
const MAX_CRITERIA_BYTES: usize = 8 * 1024;
const MAX_CRITERIA: usize = 20;
const MAX_CRITERION_VALUE: usize = 256;

/// The registry types Security Center reports.
pub const REGISTRY_TYPES: &[&str] = &["acr", "harbor", "quay", "CI/CD"];

const SCA_STATUSES: &[&str] = &[
    "INIT",
    "START",
    "MESSAGE_SEND",
    "START_RUN",
    "DOWNLOAD",
    "PRE_ANALYZER",
    "WEB_SHELL_ANALYZER",
    "CVE_ANALYZER",
    "BIN_ANALYZER",
    "OTHER_ANALYZER",
    "SUCCESS",
    "PRE_ANALYZER_SUCCESS",
    "FAIL",
    "TIMEOUT",
];

/// How a search condition matches.
#[derive(Clone, Copy)]
enum Match {
    /// Equal to the value.
    Exact(Field),
    /// Contains the value, ignoring case.
    Fuzzy(Field),
    /// A `sha256:` digest, given with or without the prefix.
    Digest(Field),
    /// One of the listed values.
    Select(Field, &'static [&'static str]),
    /// `YES` or `NO`: whether the count is positive.
    YesNo(Field),
    /// `YES` or `NO`: whether any risk count is positive.
    Risk,
    /// A scan status.
    ScaStatus,
}

/// The search conditions DescribeImageCriteria lists and DescribeImageInstances accepts.
const CRITERIA: &[(&str, Match)] = &[
    ("instanceId", Match::Exact(Field::InstanceId)),
    ("regionId", Match::Exact(Field::RegionId)),
    ("repoId", Match::Exact(Field::RepoId)),
    ("repoName", Match::Fuzzy(Field::RepoName)),
    ("repoNamespace", Match::Fuzzy(Field::RepoNamespace)),
    ("tag", Match::Fuzzy(Field::Tag)),
    ("digest", Match::Digest(Field::Digest)),
    ("imageId", Match::Digest(Field::ConfigDigest)),
    ("uuid", Match::Exact(Field::Uuid)),
    (
        "registryType",
        Match::Select(Field::RegistryType, REGISTRY_TYPES),
    ),
    (
        "repoType",
        Match::Select(Field::RepoType, &["private", "public"]),
    ),
    ("vulStatus", Match::YesNo(Field::VulCount)),
    ("hcStatus", Match::YesNo(Field::BaselineCount)),
    ("alarmStatus", Match::YesNo(Field::AlarmCount)),
    ("riskStatus", Match::Risk),
    ("scaStatus", Match::ScaStatus),
];

/// Normalises a digest given as `sha256:hex` or bare hex; `None` when it is not 64 hex digits.
pub(crate) fn normalise_digest(value: &str) -> Option<String> {
    let hex = value.strip_prefix("sha256:").unwrap_or(value);
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("sha256:{}", hex.to_ascii_lowercase()))
}

fn yes_no(name: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "YES" => Ok(true),
        "NO" => Ok(false),
        _ => Err(invalid("Criteria", &format!("{name} must be YES or NO"))),
    }
}

fn sca_status_filter(value: &str) -> Result<Filter, ApiError> {
    let state = |s: &str| Filter::Eq(Field::ScanState, s.into());
    let timeout = Filter::Eq(Field::FailureCode, "response_timed_out".into());
    Ok(match value {
        "INIT" => state("waiting"),
        "SUCCESS" | "PRE_ANALYZER_SUCCESS" => state("succeeded"),
        "FAIL" => Filter::All(vec![state("failed"), Filter::Not(Box::new(timeout))]),
        "TIMEOUT" => Filter::All(vec![state("failed"), timeout]),
        // Crowsnest records the stage of a running scan but does not filter on it: every
        // in-progress stage selects the running scans.
        v if SCA_STATUSES.contains(&v) => state("running"),
        _ => return Err(invalid("Criteria", "scaStatus is not a known scan status")),
    })
}

fn criterion_filter(name: &str, value: &str) -> Result<Filter, ApiError> {
    let Some((_, how)) = CRITERIA.iter().find(|(n, _)| *n == name) else {
        return Err(invalid(
            "Criteria",
            &format!("the search condition {name:?} is not supported (see DescribeImageCriteria)"),
        ));
    };
    Ok(match *how {
        Match::Exact(f) => Filter::Eq(f, value.into()),
        Match::Fuzzy(f) => Filter::Contains(f, value.into()),
        Match::Digest(f) => Filter::Eq(
            f,
            normalise_digest(value)
                .ok_or_else(|| invalid("Criteria", &format!("{name} is not a SHA-256 digest")))?
                .into(),
        ),
        Match::Select(f, allowed) => {
            if !allowed.contains(&value) {
                return Err(invalid(
                    "Criteria",
                    &format!("{name} must be one of {}", allowed.join(", ")),
                ));
            }
            Filter::Eq(f, value.into())
        }
        Match::YesNo(f) => {
            let positive = Filter::Positive(f);
            if yes_no(name, value)? {
                positive
            } else {
                Filter::Not(Box::new(positive))
            }
        }
        Match::Risk => {
            if yes_no(name, value)? {
                Filter::Risky
            } else {
                Filter::Not(Box::new(Filter::Risky))
            }
        }
        Match::ScaStatus => sca_status_filter(value)?,
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Logic {
    And,
    Or,
}

fn logic(name: &str, value: &str) -> Result<Logic, ApiError> {
    if value.eq_ignore_ascii_case("AND") {
        Ok(Logic::And)
    } else if value.eq_ignore_ascii_case("OR") {
        Ok(Logic::Or)
    } else {
        Err(invalid(name, "the logical relation must be AND or OR"))
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Compiles `Criteria` and `LogicalExp` into a filter.
///
/// Conditions combine left to right: each condition after the first joins what came before with
/// its own `logicalExp`, or else the request's `LogicalExp`, or else AND. This reads the usual
/// case (every condition with the same relation) as written, and gives mixed relations one
/// defined meaning.
fn criteria_filter(criteria: Option<&str>, logical_exp: Option<&str>) -> Result<Filter, ApiError> {
    let default_logic = logical_exp
        .map(|v| logic("LogicalExp", v))
        .transpose()?
        .unwrap_or(Logic::And);
    let Some(text) = criteria.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(Filter::True);
    };
    if text.len() > MAX_CRITERIA_BYTES {
        return Err(invalid("Criteria", "longer than 8 KiB"));
    }
    let parsed: Value =
        serde_json::from_str(text).map_err(|_| invalid("Criteria", "not valid JSON"))?;
    let items = match parsed {
        Value::Array(items) => items,
        obj @ Value::Object(_) => vec![obj],
        _ => return Err(invalid("Criteria", "must be a JSON array of conditions")),
    };
    if items.len() > MAX_CRITERIA {
        return Err(invalid("Criteria", "more than 20 conditions"));
    }
    let mut result: Option<Filter> = None;
    for item in &items {
        let obj = item
            .as_object()
            .ok_or_else(|| invalid("Criteria", "each condition must be an object"))?;
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("Criteria", "a condition has no name"))?;
        let value = obj
            .get("value")
            .and_then(scalar_text)
            .ok_or_else(|| invalid("Criteria", &format!("condition {name:?} has no value")))?;
        if value.is_empty() || value.chars().count() > MAX_CRITERION_VALUE {
            return Err(invalid(
                "Criteria",
                &format!("the value of {name:?} must have 1 to {MAX_CRITERION_VALUE} characters"),
            ));
        }
        let relation = match obj.get("logicalExp") {
            None | Some(Value::Null) => default_logic,
            Some(Value::String(s)) if s.is_empty() => default_logic,
            Some(Value::String(s)) => logic("Criteria", s)?,
            Some(_) => return Err(invalid("Criteria", "logicalExp must be AND or OR")),
        };
        let f = criterion_filter(name, &value)?;
        result = Some(match result {
            None => f,
            Some(prev) => match relation {
                Logic::And => Filter::All(vec![prev, f]),
                Logic::Or => Filter::Any(vec![prev, f]),
            },
        });
    }
    Ok(result.unwrap_or(Filter::True))
}

fn yes_no_text(b: bool) -> &'static str {
    if b {
        "YES"
    } else {
        "NO"
    }
}

fn strip_sha(d: &str) -> &str {
    d.strip_prefix("sha256:").unwrap_or(d)
}

/// Alibaba's scan status of a stored scan.
fn sca_status(scan: &ScanSummary) -> String {
    match scan.state.as_str() {
        "waiting" => "INIT".into(),
        "running" if !scan.stage.is_empty() => scan.stage.clone(),
        "running" => "START".into(),
        "succeeded" => "SUCCESS".into(),
        _ if scan.failure_code == "response_timed_out" => "TIMEOUT".into(),
        _ => "FAIL".into(),
    }
}

/// One element of `ImageInstanceList`, borrowed from its placement row and written straight
/// into the answer (reply.rs).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImageInstance<'a> {
    status: &'a str,
    digest: &'a str,
    registry_type: &'a str,
    tag: &'a str,
    #[serde(serialize_with = "as_text")]
    image_update: i64,
    repo_type: &'a str,
    /// The document gives the unit as MB.
    #[serde(serialize_with = "as_text")]
    image_size: i64,
    hc_status: &'static str,
    vul_count: i64,
    image_id: &'a str,
    endpoints: &'a str,
    risk_status: &'static str,
    #[serde(serialize_with = "as_text")]
    image_create: i64,
    vul_status: &'static str,
    alarm_status: &'static str,
    sca_progress: i64,
    instance_id: &'a str,
    region_id: &'a str,
    uuid: &'a str,
    repo_id: &'a str,
    hc_count: i64,
    repo_name: &'a str,
    alarm_count: i64,
    repo_namespace: &'a str,
    deployed: i64,
    source_biz_tag: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sca_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sca_result: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_scan_time: Option<i64>,
}

/// The document types these numbers as strings.
fn as_text<S: serde::Serializer>(n: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(n)
}

fn instance(row: &PlacementRow) -> ImageInstance<'_> {
    let counts = row.scan.as_ref();
    let vul = counts.map_or(0, |s| s.vul_count);
    let hc = counts.map_or(0, |s| s.baseline_count);
    let alarm = counts.map_or(0, |s| s.alarm_count);
    let malicious = counts.map_or(0, |s| s.malicious_count);
    ImageInstance {
        status: &row.status,
        digest: strip_sha(&row.digest),
        registry_type: &row.registry_type,
        tag: &row.tag,
        image_update: row.updated_ms,
        repo_type: &row.repo_type,
        image_size: row.size_bytes / (1024 * 1024),
        hc_status: yes_no_text(hc > 0),
        vul_count: vul,
        image_id: strip_sha(&row.config_digest),
        endpoints: &row.endpoints,
        risk_status: yes_no_text(vul > 0 || hc > 0 || alarm > 0 || malicious > 0),
        image_create: row.created_ms,
        vul_status: yes_no_text(vul > 0),
        alarm_status: yes_no_text(alarm > 0),
        sca_progress: counts.map_or(0, |s| s.progress),
        instance_id: &row.instance_id,
        region_id: &row.region_id,
        uuid: &row.uuid,
        repo_id: &row.repo_uid,
        hc_count: hc,
        repo_name: &row.repo_name,
        alarm_count: alarm,
        repo_namespace: &row.namespace,
        deployed: i64::from(row.deployed),
        source_biz_tag: &row.source_biz_tag,
        sca_status: counts.map(sca_status),
        sca_result: counts
            .filter(|scan| scan.state == "failed" && !scan.failure_code.is_empty())
            .map(|scan| scan.failure_code.as_str()),
        last_scan_time: counts.and_then(|scan| scan.finished_ms),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PageInfo {
    current_page: i64,
    page_size: i64,
    total_count: i64,
    count: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImageInstances<'a> {
    page_info: PageInfo,
    image_instance_list: Vec<ImageInstance<'a>>,
}

/// DescribeImageInstances: one page of the caller's image instances matching the criteria.
pub(crate) fn describe_image_instances(
    state: &AppState,
    caller: &Caller,
    p: &Params<'_>,
) -> Result<JsonObject, ApiError> {
    let request = InstancesRequest::of(p)?;
    let page = state
        .store
        .placements_seen(caller.tenant, &request.query, caller.seen_generation)
        .map_err(|e| ApiError::internal(Dialect::Alibaba, e))?;
    request.answer(state, &page)
}

/// [`describe_image_instances`] from memory: the page remembered at the generation the
/// caller's nonce claim saw, or None.
pub(crate) fn describe_image_instances_cached(
    state: &AppState,
    caller: &Caller,
    p: &Params<'_>,
) -> Option<Result<JsonObject, ApiError>> {
    let request = match InstancesRequest::of(p) {
        Ok(request) => request,
        Err(e) => return Some(Err(e)),
    };
    let page =
        state
            .store
            .cached_placements(caller.tenant, &request.query, caller.seen_generation?)?;
    Some(request.answer(state, &page))
}

/// A validated DescribeImageInstances request.
struct InstancesRequest {
    query: PlacementQuery,
    current_page: i64,
    page_size: i64,
}

impl InstancesRequest {
    fn of(p: &Params<'_>) -> Result<InstancesRequest, ApiError> {
        let page_size = p.int("PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)?;
        let current_page = p.int("CurrentPage", 1, 1, MAX_CURRENT_PAGE)?;
        let mut filter = criteria_filter(p.text("Criteria"), p.text("LogicalExp"))?;
        if let Some(scanned) = p.bool("Scanned")? {
            let done = Filter::In(Field::ScanState, vec!["succeeded".into(), "failed".into()]);
            let scanned_filter = if scanned {
                done
            } else {
                Filter::Not(Box::new(done))
            };
            filter = Filter::All(vec![filter, scanned_filter]);
        }
        Ok(InstancesRequest {
            query: PlacementQuery {
                filter,
                order: PlacementOrder::Id,
                offset: (current_page - 1) * page_size,
                limit: page_size,
            },
            current_page,
            page_size,
        })
    }

    /// The answer for `page`. The page and its paging are the whole answer, so it is rendered
    /// once per page the store shares (`reply::RenderedPages`).
    fn answer(&self, state: &AppState, page: &Arc<PlacementPage>) -> Result<JsonObject, ApiError> {
        let (current_page, page_size) = (self.current_page, self.page_size);
        state
            .rendered
            .get_or_render(page, format!("{current_page}/{page_size}"), |page| {
                let list: Vec<ImageInstance<'_>> = page.rows.iter().map(instance).collect();
                JsonObject::of(
                    Dialect::Alibaba,
                    &ImageInstances {
                        page_info: PageInfo {
                            current_page,
                            page_size,
                            total_count: page.total,
                            count: list.len(),
                        },
                        image_instance_list: list,
                    },
                )
            })
    }
}

/// DescribeImageCriteria: the search conditions DescribeImageInstances accepts, optionally only
/// those whose name contains `Value` (ignoring case).
pub(crate) fn describe_image_criteria(
    _state: &AppState,
    _caller: &Caller,
    p: &Params<'_>,
) -> Result<JsonObject, ApiError> {
    let needle = p.text_max("Value", 128)?.map(str::to_ascii_lowercase);
    let list: Vec<Value> = CRITERIA
        .iter()
        .filter(|(name, _)| {
            needle
                .as_deref()
                .is_none_or(|n| name.to_ascii_lowercase().contains(n))
        })
        .map(|(name, how)| {
            let (kind, values): (&str, String) = match how {
                Match::Select(_, allowed) => ("select", allowed.join(",")),
                Match::YesNo(_) | Match::Risk => ("select", "YES,NO".into()),
                Match::ScaStatus => ("select", SCA_STATUSES.join(",")),
                _ => ("input", String::new()),
            };
            json!({"Name": name, "Type": kind, "Values": values})
        })
        .collect();
    Ok(json!({ "CriteriaList": list }).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_compile() {
        assert_eq!(criteria_filter(None, None).unwrap(), Filter::True);
        let f = criteria_filter(
            Some(r#"[{"name":"instanceId","value":"i-1","logicalExp":"AND"},{"name":"vulStatus","value":"YES","logicalExp":"OR"}]"#),
            None,
        )
        .unwrap();
        assert_eq!(
            f,
            Filter::Any(vec![
                Filter::Eq(Field::InstanceId, "i-1".into()),
                Filter::Positive(Field::VulCount)
            ])
        );
        let f = criteria_filter(
            Some(r#"[{"name":"tag","value":"1"},{"name":"regionId","value":"cn-hangzhou"}]"#),
            Some("OR"),
        )
        .unwrap();
        assert!(matches!(f, Filter::Any(_)));
        for bad in [
            "not json",
            "42",
            r#"[{"name":"bogus","value":"x"}]"#,
            r#"[{"name":"tag"}]"#,
            r#"[{"name":"tag","value":""}]"#,
            r#"[{"name":"tag","value":"x","logicalExp":"XOR"}]"#,
            r#"[{"name":"vulStatus","value":"maybe"}]"#,
            r#"[{"name":"digest","value":"abc"}]"#,
        ] {
            assert_eq!(
                criteria_filter(Some(bad), None).unwrap_err().code(),
                "InvalidParameter",
                "{bad}"
            );
        }
        assert!(criteria_filter(None, Some("NOT")).is_err());
    }

    #[test]
    fn digests_normalise() {
        let hex = "A".repeat(64);
        assert_eq!(
            normalise_digest(&hex),
            Some(format!("sha256:{}", "a".repeat(64)))
        );
        assert_eq!(
            normalise_digest(&format!("sha256:{}", "b".repeat(64))),
            Some(format!("sha256:{}", "b".repeat(64)))
        );
        assert_eq!(normalise_digest("sha256:xyz"), None);
    }
}
