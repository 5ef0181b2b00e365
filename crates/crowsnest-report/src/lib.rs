//! Renders a [`ScanReport`] in the formats users of Trivy, Grype and Syft expect: a terminal
//! table, Crowsnest's own JSON, CycloneDX 1.5, SPDX 2.3 and SARIF 2.1.0.
//!
//! Every renderer reads the report and writes to a `dyn Write`; none of them changes the report
//! or knows how it was produced. Output that carries a time or a random serial (CycloneDX, SPDX)
//! takes both from [`RenderOptions`], so tests and reproducible pipelines can pin them.

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use crowsnest_model::ScanReport;
use time::OffsetDateTime;
use uuid::Uuid;

mod cyclonedx;
mod json;
mod license;
mod package_ref;
mod sarif;
mod spdx_doc;
mod table;
mod vulnerability;

pub use json::SCHEMA_VERSION;

/// The output formats, named as the `--format` flag spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// A human-readable table for a terminal.
    Table,
    /// The scan report as Crowsnest's stable JSON (see `schema/scan-report.schema.json`).
    Json,
    /// A CycloneDX 1.5 JSON BOM, with vulnerabilities when the report has findings.
    CycloneDx,
    /// An SPDX 2.3 JSON document.
    Spdx,
    /// A SARIF 2.1.0 log of the findings, for GitHub code scanning.
    Sarif,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 5] = [
        Format::Table,
        Format::Json,
        Format::CycloneDx,
        Format::Spdx,
        Format::Sarif,
    ];

    /// The flag spelling, e.g. `cyclonedx`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::CycloneDx => "cyclonedx",
            Format::Spdx => "spdx",
            Format::Sarif => "sarif",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `--format` value that names no format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown report format {0:?} (expected one of table, json, cyclonedx, spdx, sarif)")]
pub struct UnknownFormat(String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownFormat(s.chars().take(64).collect()))
    }
}

/// How to render. [`RenderOptions::default`] gives plain text, the current time, a random
/// serial and this crate's version as the tool version.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// Colour severities in the table with ANSI escapes. The caller decides (a terminal, no
    /// `NO_COLOR`); the renderer never looks at the output stream itself.
    pub colour: bool,
    /// Wrap the table to this many columns; `None` never wraps (pipes, files).
    pub width: Option<u16>,
    /// The creation time written into CycloneDX and SPDX documents; `None` means now.
    pub timestamp: Option<OffsetDateTime>,
    /// The CycloneDX serial number, also the unique part of the SPDX document namespace;
    /// `None` means a fresh random (v4) UUID.
    pub serial: Option<Uuid>,
    /// The Crowsnest version named as the producing tool.
    pub tool_version: String,
    /// The project's home page, written as SARIF `informationUri` when set.
    pub information_uri: Option<String>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            colour: false,
            width: None,
            timestamp: None,
            serial: None,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            information_uri: None,
        }
    }
}

impl RenderOptions {
    /// The timestamp to write, truncated to whole seconds in UTC (SPDX allows no fraction).
    pub(crate) fn created(&self) -> OffsetDateTime {
        let t = self
            .timestamp
            .unwrap_or_else(OffsetDateTime::now_utc)
            .to_offset(time::UtcOffset::UTC);
        t.replace_nanosecond(0).unwrap_or(t)
    }

    /// The serial to write.
    pub(crate) fn serial(&self) -> Uuid {
        self.serial.unwrap_or_else(Uuid::new_v4)
    }
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Writing to the output failed (closed pipe, full disk).
    #[error("writing the report: {0}")]
    Io(#[from] std::io::Error),
    /// Serialising JSON failed; with the types here this means the writer failed mid-way.
    #[error("serialising the report: {0}")]
    Json(#[from] serde_json::Error),
    /// The timestamp cannot be written in RFC 3339 (a year outside 0..=9999).
    #[error("formatting the timestamp: {0}")]
    Time(#[from] time::error::Format),
}

/// Writes `report` to `out` in `format`.
pub fn render(
    report: &ScanReport,
    format: Format,
    options: &RenderOptions,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    match format {
        Format::Table => table::render(report, options, out),
        Format::Json => json::render(report, out),
        Format::CycloneDx => cyclonedx::render(report, options, out),
        Format::Spdx => spdx_doc::render(report, options, out),
        Format::Sarif => sarif::render(report, options, out),
    }
}

/// Serialises `value` pretty-printed with a final newline, as every JSON format here is written.
pub(crate) fn write_json<T: serde::Serialize + ?Sized>(
    value: &T,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// RFC 3339 in UTC without fraction, `2024-05-01T12:00:00Z`, the form both SBOM formats accept.
pub(crate) fn rfc3339(t: OffsetDateTime) -> Result<String, ReportError> {
    const FORMAT: &[time::format_description::FormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    Ok(t.to_offset(time::UtcOffset::UTC).format(FORMAT)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>().unwrap(), f);
        }
        assert_eq!("CycloneDX".parse::<Format>().unwrap(), Format::CycloneDx);
        assert!("xml".parse::<Format>().is_err());
    }

    #[test]
    fn timestamps_are_whole_seconds_in_utc() {
        let t = time::macros::datetime!(2024-05-01 14:00:00.75 +02:00);
        let o = RenderOptions {
            timestamp: Some(t),
            ..RenderOptions::default()
        };
        assert_eq!(rfc3339(o.created()).unwrap(), "2024-05-01T12:00:00Z");
    }
}
