//! The OSV schema (<https://ossf.github.io/osv-schema/>) as serde types.
//!
//! Records are validated while they are deserialised: an event must carry exactly one of
//! `introduced`, `fixed`, `last_affected` or `limit`, so later stages never meet an ambiguous
//! event. Range types this crate does not evaluate are kept as [`RangeKind::Other`] and ignored by
//! the matcher, as the schema asks of consumers.

use serde::{Deserialize, Deserializer, Serialize};

/// One OSV vulnerability record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OsvRecord {
    /// Schema version the record claims, e.g. `1.4.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
    /// The record id (`GHSA-…`, `PYSEC-…`, `GO-…`, `ALSA-…`).
    pub id: String,
    /// Last modification time, RFC 3339.
    #[serde(default)]
    pub modified: String,
    /// First publication time, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// Set when the record was withdrawn; such records are dropped at import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    /// Other ids of the same vulnerability.
    #[serde(default, deserialize_with = "null_as_default")]
    pub aliases: Vec<String>,
    /// Ids of the records this one was derived from (schema 1.6).
    #[serde(default, deserialize_with = "null_as_default")]
    pub upstream: Vec<String>,
    /// Ids of related but distinct vulnerabilities.
    #[serde(default, deserialize_with = "null_as_default")]
    pub related: Vec<String>,
    /// One-line summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Long description (Markdown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// Severity scores of the whole record.
    #[serde(default, deserialize_with = "null_as_default")]
    pub severity: Vec<OsvSeverity>,
    /// The affected packages.
    #[serde(default, deserialize_with = "null_as_default")]
    pub affected: Vec<Affected>,
    /// Links.
    #[serde(default, deserialize_with = "null_as_default")]
    pub references: Vec<Reference>,
    /// Who found or fixed it.
    #[serde(default, deserialize_with = "null_as_default")]
    pub credits: Vec<Credit>,
    /// Database-specific data; GHSA puts its severity word in `severity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<serde_json::Value>,
}

impl OsvRecord {
    /// The database's own severity word (`database_specific.severity`, GHSA style), if any.
    pub fn database_severity(&self) -> Option<&str> {
        self.database_specific
            .as_ref()
            .and_then(|v| v.get("severity"))
            .and_then(|v| v.as_str())
    }
}

/// A `severity` entry: a scoring system and its vector or score.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsvSeverity {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4`, `Ubuntu`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The vector string or the score.
    pub score: String,
}

/// The package an `affected` entry names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsvPackage {
    /// OSV ecosystem, possibly with a release suffix (`Debian:12`, `Alpine:v3.19`).
    pub ecosystem: String,
    /// Package name as the ecosystem spells it.
    pub name: String,
    /// The package URL, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
}

/// One `affected` entry: a package and the versions of it that are vulnerable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    /// The package.
    pub package: OsvPackage,
    /// Per-package severity, overriding the record's.
    #[serde(default, deserialize_with = "null_as_default")]
    pub severity: Vec<OsvSeverity>,
    /// Version ranges.
    #[serde(default, deserialize_with = "null_as_default")]
    pub ranges: Vec<Range>,
    /// Explicitly listed affected versions.
    #[serde(default, deserialize_with = "null_as_default")]
    pub versions: Vec<String>,
    /// Ecosystem-specific data (some OS databases put a severity word here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem_specific: Option<serde_json::Value>,
    /// Database-specific data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<serde_json::Value>,
}

impl Affected {
    /// A severity word from `ecosystem_specific.severity` or `database_specific.severity`.
    pub fn ecosystem_severity(&self) -> Option<&str> {
        [&self.ecosystem_specific, &self.database_specific]
            .into_iter()
            .flatten()
            .find_map(|v| v.get("severity").and_then(|s| s.as_str()))
    }
}

/// How a range's event versions are ordered.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RangeKind {
    /// The ecosystem's own version order.
    #[serde(rename = "ECOSYSTEM")]
    Ecosystem,
    /// Semantic Versioning 2.0.
    #[serde(rename = "SEMVER")]
    Semver,
    /// Git commits; only meaningful for sources identified by commit.
    #[serde(rename = "GIT")]
    Git,
    /// A type this crate does not know; kept, never evaluated.
    #[serde(untagged)]
    Other(String),
}

/// One range: a type and its events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// How versions are ordered.
    #[serde(rename = "type")]
    pub kind: RangeKind,
    /// The repository, for `GIT` ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// The events, in any order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub events: Vec<Event>,
    /// Database-specific data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<serde_json::Value>,
}

/// One range event. Exactly one key per event, checked while deserialising.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The version where the vulnerability starts; `0` means "from the beginning".
    Introduced(String),
    /// The first version that is no longer affected.
    Fixed(String),
    /// The last version known to be affected (inclusive).
    LastAffected(String),
    /// An upper bound beyond which the range says nothing (exclusive).
    Limit(String),
}

impl Event {
    /// The version the event names.
    pub fn version(&self) -> &str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
        }
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A map with exactly one known key; extra keys (even unknown ones) make the event
        // ambiguous, and the schema forbids them.
        let map = std::collections::BTreeMap::<String, serde_json::Value>::deserialize(d)?;
        if map.len() != 1 {
            return Err(serde::de::Error::custom(format!(
                "a range event must have exactly one key, found {}",
                map.len()
            )));
        }
        let Some((key, value)) = map.into_iter().next() else {
            return Err(serde::de::Error::custom("empty range event"));
        };
        let version = match value {
            serde_json::Value::String(s) => s,
            // YAML sources sometimes write `introduced: 0` as a number.
            serde_json::Value::Number(n) => n.to_string(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "event {key} must be a string, found {other}"
                )))
            }
        };
        match key.as_str() {
            "introduced" => Ok(Event::Introduced(version)),
            "fixed" => Ok(Event::Fixed(version)),
            "last_affected" => Ok(Event::LastAffected(version)),
            "limit" => Ok(Event::Limit(version)),
            other => Err(serde::de::Error::custom(format!(
                "unknown range event {other:?}"
            ))),
        }
    }
}

/// A reference link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// `ADVISORY`, `FIX`, `WEB`, ...
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The URL.
    pub url: String,
}

/// A credit entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credit {
    /// Who.
    pub name: String,
    /// How to reach them.
    #[serde(default, deserialize_with = "null_as_default")]
    pub contact: Vec<String>,
    /// `FINDER`, `REMEDIATION_DEVELOPER`, ...
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// Some exporters write `null` where the schema has an empty list.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The format of a record file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordFormat {
    /// `*.json`.
    Json,
    /// `*.yaml` / `*.yml`.
    Yaml,
}

impl RecordFormat {
    /// The format a file name's extension implies, if it is a record file at all.
    pub fn from_file_name(name: &str) -> Option<RecordFormat> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".json") {
            Some(RecordFormat::Json)
        } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Some(RecordFormat::Yaml)
        } else {
            None
        }
    }
}

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Invalid JSON or schema violation.
    #[error("invalid OSV JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Invalid YAML or schema violation.
    #[error("invalid OSV YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    /// The record has no id.
    #[error("record has an empty id")]
    EmptyId,
}

/// Parses one record file.
pub fn parse_record(bytes: &[u8], format: RecordFormat) -> Result<OsvRecord, RecordError> {
    let record: OsvRecord = match format {
        RecordFormat::Json => serde_json::from_slice(bytes)?,
        RecordFormat::Yaml => serde_yaml::from_slice(bytes)?,
    };
    if record.id.trim().is_empty() {
        return Err(RecordError::EmptyId);
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_with_two_keys_is_rejected() {
        let json = r#"{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"a"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0","fixed":"1.0"}]}]}]}"#;
        let err = parse_record(json.as_bytes(), RecordFormat::Json).unwrap_err();
        assert!(err.to_string().contains("exactly one key"), "{err}");
    }

    #[test]
    fn unknown_range_type_is_kept() {
        let json = r#"{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"a"},"ranges":[{"type":"FUTURE","events":[{"introduced":"0"}]}]}]}"#;
        let r = parse_record(json.as_bytes(), RecordFormat::Json).unwrap();
        assert_eq!(
            r.affected[0].ranges[0].kind,
            RangeKind::Other("FUTURE".into())
        );
    }

    #[test]
    fn yaml_record_with_numeric_introduced() {
        let yaml = "id: PYSEC-0000-1\nmodified: '2024-01-01T00:00:00Z'\naffected:\n- package: {ecosystem: PyPI, name: Foo}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: 0\n    - fixed: '1.2'\n";
        let r = parse_record(yaml.as_bytes(), RecordFormat::Yaml).unwrap();
        assert_eq!(
            r.affected[0].ranges[0].events,
            vec![Event::Introduced("0".into()), Event::Fixed("1.2".into())]
        );
    }

    #[test]
    fn unknown_event_key_is_rejected() {
        let json = r#"{"id":"X-1","affected":[{"package":{"ecosystem":"PyPI","name":"a"},"ranges":[{"type":"SEMVER","events":[{"patched":"1.0"}]}]}]}"#;
        assert!(parse_record(json.as_bytes(), RecordFormat::Json).is_err());
    }
}
