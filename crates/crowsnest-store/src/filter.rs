//! A closed filter language over image placements (a tag of an image in a repository of a
//! registry, with the image's latest scan). Each cloud's query parameters are translated into a
//! [`Filter`] by the API; only the columns named by [`Field`] can ever reach SQL, and every value
//! is bound as a parameter.

use crate::sql::Value;

/// A column of the placement view that filters may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// Registry type (acr, harbor, SwrPrivate, ...).
    RegistryType,
    /// Registry name.
    RegistryName,
    /// The registry's external id (what `crowsnest registry add --uid` set).
    RegistryUid,
    /// Region of the registry.
    RegionId,
    /// Managed-registry instance id.
    InstanceId,
    /// Managed-registry instance name.
    InstanceName,
    /// Enterprise project of the registry.
    EnterpriseProject,
    /// External repository id.
    RepoId,
    /// Repository name (the image name without namespace).
    RepoName,
    /// Repository namespace (organisation).
    RepoNamespace,
    /// private or public.
    RepoType,
    /// Huawei image type (private_image, shared_image, ...).
    ImageType,
    /// Tag.
    Tag,
    /// Manifest digest, `sha256:…`.
    Digest,
    /// Config digest, `sha256:…` (the image id).
    ConfigDigest,
    /// The placement's UUID.
    Uuid,
    /// Image size in bytes.
    SizeBytes,
    /// When the tag last changed, ms.
    UpdatedMs,
    /// When the tag was last synchronised, ms.
    SyncedMs,
    /// When the latest scan finished, ms (0 when never).
    LastScanMs,
    /// Vulnerability count of the latest scan.
    VulCount,
    /// Failed baseline checks of the latest scan.
    BaselineCount,
    /// Malicious files of the latest scan.
    MaliciousCount,
    /// Alarms of the latest scan.
    AlarmCount,
    /// `unscanned`, `waiting`, `running`, `succeeded`, `failed`.
    ScanState,
    /// The failure code of a failed scan.
    FailureCode,
    /// Security, Low, Medium, High.
    Severity,
    /// 0/1: the newest tag of its repository.
    LatestVersion,
    /// 0/1: a multi-arch index.
    IsMultiarch,
    /// 0/1: deployed somewhere.
    Deployed,
    /// The placement status (NORMAL).
    Status,
}

impl Field {
    /// The SQL expression of the field in the placement query (aliases t, r, g, i, s).
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Field::RegistryType => "g.registry_type",
            Field::RegistryName => "g.name",
            Field::RegistryUid => "g.uid",
            Field::RegionId => "g.region_id",
            Field::InstanceId => "g.instance_id",
            Field::InstanceName => "g.instance_name",
            Field::EnterpriseProject => "g.enterprise_project_id",
            Field::RepoId => "r.uid",
            Field::RepoName => "r.name",
            Field::RepoNamespace => "r.namespace",
            Field::RepoType => "r.repo_type",
            Field::ImageType => "r.image_type",
            Field::Tag => "t.tag",
            Field::Digest => "i.digest",
            Field::ConfigDigest => "i.config_digest",
            Field::Uuid => "t.uuid",
            Field::SizeBytes => "i.size_bytes",
            Field::UpdatedMs => "t.updated_ms",
            Field::SyncedMs => "t.synced_ms",
            Field::LastScanMs => "t.scan_finished_ms",
            Field::VulCount => "COALESCE(s.vul_count, 0)",
            Field::BaselineCount => "COALESCE(s.baseline_count, 0)",
            Field::MaliciousCount => "COALESCE(s.malicious_count, 0)",
            Field::AlarmCount => "COALESCE(s.alarm_count, 0)",
            Field::ScanState => "t.scan_state",
            Field::FailureCode => "COALESCE(s.failure_code, '')",
            Field::Severity => "COALESCE(s.severity, '')",
            Field::LatestVersion => "t.latest_version",
            Field::IsMultiarch => "i.is_multiarch",
            Field::Deployed => "t.deployed",
            Field::Status => "t.status",
        }
    }
}

/// The tables of the placement query a filter reads, so that counts and page-id queries join
/// only those (every inner join of the placement query matches exactly one row, so leaving an
/// unread one out changes no result).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tables {
    pub(crate) repository: bool,
    pub(crate) registry: bool,
    pub(crate) image: bool,
    pub(crate) scan: bool,
}

impl Field {
    fn mark(self, tables: &mut Tables) {
        match self.sql().split_once('.').map(|(alias, _)| alias) {
            Some("r") => tables.repository = true,
            Some("g") => tables.registry = true,
            Some("i") => tables.image = true,
            Some(alias) if alias == "s" || alias.ends_with("(s") => tables.scan = true,
            _ => {}
        }
    }
}

/// A condition on placements.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// Always true.
    True,
    /// The field equals the value.
    Eq(Field, Value),
    /// The field is one of the values.
    In(Field, Vec<Value>),
    /// The text field contains the needle, ignoring ASCII case.
    Contains(Field, String),
    /// The integer field lies in the inclusive range; a missing bound is open.
    Between(Field, Option<i64>, Option<i64>),
    /// The integer field is greater than zero.
    Positive(Field),
    /// Any count of the latest scan (vulnerabilities, baseline, malicious files, alarms) is
    /// positive.
    Risky,
    /// Negation.
    Not(Box<Filter>),
    /// Every filter holds (true when empty).
    All(Vec<Filter>),
    /// At least one filter holds (false when empty).
    Any(Vec<Filter>),
}

impl Filter {
    /// Whether the filter reads only repository and registry columns, scan state and risk:
    /// the columns `placement_counts` (aliased `t`) is grouped by, so that it can count.
    pub(crate) fn countable_from_summary(&self) -> bool {
        let field_ok = |field: &Field| {
            matches!(field, Field::ScanState)
                || field.sql().starts_with("r.")
                || field.sql().starts_with("g.")
        };
        match self {
            Filter::True | Filter::Risky => true,
            Filter::Eq(field, _)
            | Filter::In(field, _)
            | Filter::Contains(field, _)
            | Filter::Between(field, _, _)
            | Filter::Positive(field) => field_ok(field),
            Filter::Not(inner) => inner.countable_from_summary(),
            Filter::All(list) | Filter::Any(list) => {
                list.iter().all(Filter::countable_from_summary)
            }
        }
    }

    /// Marks the tables this filter reads.
    pub(crate) fn tables(&self, tables: &mut Tables) {
        match self {
            Filter::True => {}
            Filter::Eq(field, _)
            | Filter::In(field, _)
            | Filter::Contains(field, _)
            | Filter::Between(field, _, _)
            | Filter::Positive(field) => field.mark(tables),
            Filter::Risky => {}
            Filter::Not(inner) => inner.tables(tables),
            Filter::All(list) | Filter::Any(list) => {
                for f in list {
                    f.tables(tables);
                }
            }
        }
    }

    /// Appends the SQL of this filter to `sql`, pushing bound values to `params`; placeholders
    /// are numbered after the values already in `params`.
    pub(crate) fn to_sql(&self, sql: &mut String, params: &mut Vec<Value>) {
        let bind = |params: &mut Vec<Value>, v: Value| {
            params.push(v);
            format!("${}", params.len())
        };
        match self {
            Filter::True => sql.push_str("1 = 1"),
            Filter::Eq(field, value) => {
                let p = bind(params, value.clone());
                sql.push_str(&format!("{} = {p}", field.sql()));
            }
            Filter::In(field, values) => {
                if values.is_empty() {
                    sql.push_str("1 = 0");
                    return;
                }
                let ps: Vec<String> = values.iter().map(|v| bind(params, v.clone())).collect();
                sql.push_str(&format!("{} IN ({})", field.sql(), ps.join(", ")));
            }
            Filter::Contains(field, needle) => {
                let pattern = format!("%{}%", escape_like(&needle.to_ascii_lowercase()));
                let p = bind(params, pattern.into());
                sql.push_str(&format!("LOWER({}) LIKE {p} ESCAPE '\\'", field.sql()));
            }
            Filter::Between(field, lo, hi) => {
                let mut parts = Vec::new();
                if let Some(lo) = lo {
                    let p = bind(params, (*lo).into());
                    parts.push(format!("{} >= {p}", field.sql()));
                }
                if let Some(hi) = hi {
                    let p = bind(params, (*hi).into());
                    parts.push(format!("{} <= {p}", field.sql()));
                }
                if parts.is_empty() {
                    sql.push_str("1 = 1");
                } else {
                    sql.push_str(&parts.join(" AND "));
                }
            }
            Filter::Positive(field) => sql.push_str(&format!("{} > 0", field.sql())),
            // The placement's copy of "any count of the latest scan is positive".
            Filter::Risky => sql.push_str("t.scan_risky > 0"),
            Filter::Not(inner) => {
                sql.push_str("NOT (");
                inner.to_sql(sql, params);
                sql.push(')');
            }
            Filter::All(list) | Filter::Any(list) => {
                let (joiner, empty) = if matches!(self, Filter::All(_)) {
                    (" AND ", "1 = 1")
                } else {
                    (" OR ", "1 = 0")
                };
                if list.is_empty() {
                    sql.push_str(empty);
                    return;
                }
                for (n, f) in list.iter().enumerate() {
                    if n > 0 {
                        sql.push_str(joiner);
                    }
                    sql.push('(');
                    f.to_sql(sql, params);
                    sql.push(')');
                }
            }
        }
    }
}

/// Escapes LIKE wildcards so a needle matches literally.
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_placeholders_after_existing_params() {
        let f = Filter::All(vec![
            Filter::Eq(Field::Tag, "latest".into()),
            Filter::Any(vec![
                Filter::Contains(Field::RepoName, "50%_off".into()),
                Filter::Between(Field::SizeBytes, Some(1), None),
            ]),
        ]);
        let mut sql = String::new();
        let mut params = vec![Value::Int(7)];
        f.to_sql(&mut sql, &mut params);
        assert_eq!(
            sql,
            "(t.tag = $2) AND ((LOWER(r.name) LIKE $3 ESCAPE '\\') OR (i.size_bytes >= $4))"
        );
        assert_eq!(params[2], Value::Text("%50\\%\\_off%".into()));
    }
}
