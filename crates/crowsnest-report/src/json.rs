//! Crowsnest's own JSON: the [`ScanReport`] exactly as serde writes it, with a
//! `schemaVersion` in front so consumers can tell which `schema/scan-report.schema.json`
//! describes it.

use std::io::Write;

use crowsnest_model::ScanReport;
use serde::Serialize;

use crate::{write_json, ReportError};

/// The version of the JSON report's shape. Bump the major part when a field is removed or
/// changes meaning, the minor part when one is added; the schema's `schemaVersion` const follows.
pub const SCHEMA_VERSION: &str = "1.1";

#[derive(Serialize)]
struct JsonReport<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: &'static str,
    #[serde(flatten)]
    report: &'a ScanReport,
}

pub(crate) fn render(report: &ScanReport, out: &mut dyn Write) -> Result<(), ReportError> {
    write_json(
        &JsonReport {
            schema_version: SCHEMA_VERSION,
            report,
        },
        out,
    )
}
