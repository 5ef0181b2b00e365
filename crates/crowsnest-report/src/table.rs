//! The terminal table: what was scanned, the packages, the vulnerabilities by severity with a
//! count per severity, the risks (baseline, secrets, malware) with the image's counts and
//! severity level, then the diagnostics as warnings.
//!
//! Every string from the image goes through [`printable`] first: a package name holding an
//! escape sequence must not be able to repaint the user's terminal.

use std::io::Write;

use comfy_table::{presets, Cell, Color, ColumnConstraint, ContentArrangement, Table};
use crowsnest_model::{Finding, Inventory, RiskFinding, ScanReport, Severity};

use crate::{RenderOptions, ReportError};

/// Titles longer than this are cut; the full text is in the JSON and SBOM outputs.
const MAX_TITLE_CHARS: usize = 100;

/// Severities from most to least severe, the order of the table and of the summary line.
const SEVERITIES_DESC: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Unknown,
];

pub(crate) fn render(
    report: &ScanReport,
    options: &RenderOptions,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    let inv = &report.inventory;
    write_header(inv, out)?;

    writeln!(out)?;
    if inv.packages.is_empty() {
        writeln!(out, "No packages found.")?;
    } else {
        let mut packages = new_table(options);
        packages.set_header(["Name", "Version", "Type", "Found in"]);
        for p in &inv.packages {
            packages.add_row([
                printable(&p.name),
                printable(&p.version),
                p.ecosystem.purl_type().to_owned(),
                printable(&p.location),
            ]);
        }
        writeln!(out, "{packages}")?;
    }

    // A report without a database is an SBOM run: saying "0 vulnerabilities" would be a lie.
    if report.db.is_some() || !report.findings.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", summary_line(&report.findings, options.colour))?;
        if !report.findings.is_empty() {
            writeln!(out, "{}", vulnerability_table(&report.findings, options))?;
        }
    }

    // Like vulnerabilities: no risk section unless a risk analyzer ran (or found something).
    let risk_scanners = report.scanners.iter().any(|s| s.risk_kind().is_some());
    if risk_scanners || !report.risks.is_empty() {
        writeln!(out)?;
        let s = &report.summary;
        writeln!(
            out,
            "Risks: {} (unsafe settings: {}, secrets: {}, malicious files: {}), severity level: {}",
            report.risks.len(),
            s.unsafe_settings,
            s.secrets,
            s.malicious_files,
            s.severity_level.as_str()
        )?;
        if !report.risks.is_empty() {
            writeln!(out, "{}", risk_table(&report.risks, options))?;
        }
    }

    if !inv.diagnostics.is_empty() {
        writeln!(out)?;
        for d in &inv.diagnostics {
            let label = paint("WARN", "\x1b[33m", options.colour);
            match &d.path {
                Some(path) => writeln!(
                    out,
                    "{label} {}: {} ({})",
                    d.code,
                    printable(&d.message),
                    printable(path)
                )?,
                None => writeln!(out, "{label} {}: {}", d.code, printable(&d.message))?,
            }
        }
    }
    Ok(())
}

fn write_header(inv: &Inventory, out: &mut dyn Write) -> Result<(), ReportError> {
    let src = &inv.source;
    writeln!(out, "Image:    {}", printable(&src.reference))?;
    if let Some(id) = &src.image_id {
        writeln!(out, "ID:       {id}")?;
    }
    if let Some(d) = &src.manifest_digest {
        writeln!(out, "Digest:   {d}")?;
    }
    let os = match &inv.distro {
        Some(d) => match (&d.pretty_name, &d.version_id) {
            (Some(pretty), _) => printable(pretty),
            (None, Some(v)) => printable(&format!("{} {v}", d.id)),
            (None, None) => printable(&d.id),
        },
        None => "unknown".to_owned(),
    };
    writeln!(out, "OS:       {os}")?;
    if let (Some(os), Some(arch)) = (&src.os, &src.architecture) {
        writeln!(out, "Platform: {}/{}", printable(os), printable(arch))?;
    }
    writeln!(out, "Layers:   {}", inv.layers.len())?;
    writeln!(out, "Packages: {}", inv.packages.len())?;
    Ok(())
}

fn vulnerability_table(findings: &[Finding], options: &RenderOptions) -> Table {
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.package_name.cmp(&b.package_name))
            .then_with(|| a.installed_version.cmp(&b.installed_version))
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut table = new_table(options);
    table.set_header([
        "Package",
        "Installed",
        "Fixed",
        "Vulnerability",
        "Severity",
        "Title",
    ]);
    // Ids and severities split mid-word are unreadable; the title and versions give way instead.
    for column in [3, 4] {
        if let Some(c) = table.column_mut(column) {
            c.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    for f in sorted {
        let mut severity = Cell::new(f.severity.as_str());
        if options.colour {
            severity = severity.fg(severity_colour(f.severity));
        }
        let title = f.summary.as_deref().map(shorten).unwrap_or_default();
        table.add_row(vec![
            Cell::new(printable(&f.package_name)),
            Cell::new(printable(&f.installed_version)),
            Cell::new(printable(&f.fixed_versions.join(", "))),
            Cell::new(printable(&f.id)),
            severity,
            Cell::new(title),
        ]);
    }
    table
}

/// One row per risk, in the report's order (kind, severity, id, path, line).
fn risk_table(risks: &[RiskFinding], options: &RenderOptions) -> Table {
    let mut table = new_table(options);
    table.set_header(["Type", "Check", "Severity", "Title", "Where", "Detail"]);
    for column in [1, 2] {
        if let Some(c) = table.column_mut(column) {
            c.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    for r in risks {
        let mut severity = Cell::new(r.severity.as_str());
        if options.colour {
            severity = severity.fg(severity_colour(r.severity));
        }
        let place = match (&r.path, r.line) {
            (Some(p), Some(l)) => format!("{p}:{l}"),
            (Some(p), None) => p.clone(),
            (None, _) => "image config".to_owned(),
        };
        // The excerpt is already redacted; it says more than the detail when there is one.
        let detail = r.excerpt.as_deref().or(r.detail.as_deref()).unwrap_or("");
        table.add_row(vec![
            Cell::new(r.kind.as_str()),
            Cell::new(printable(&r.id)),
            severity,
            Cell::new(shorten(&r.title)),
            Cell::new(printable(&place)),
            Cell::new(shorten(detail)),
        ]);
    }
    table
}

/// `Total: 12 (CRITICAL: 1, HIGH: 4, MEDIUM: 5, LOW: 2, UNKNOWN: 0)`.
fn summary_line(findings: &[Finding], colour: bool) -> String {
    let counts: Vec<String> = SEVERITIES_DESC
        .iter()
        .map(|&s| {
            let n = findings.iter().filter(|f| f.severity == s).count();
            format!("{}: {n}", paint(s.as_str(), severity_ansi(s), colour))
        })
        .collect();
    format!("Total: {} ({})", findings.len(), counts.join(", "))
}

fn new_table(options: &RenderOptions) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    // The renderer writes to any stream, so comfy-table must not look at stdout to decide on
    // styling or width: the caller's options decide both.
    table.force_no_tty();
    if options.colour {
        table.enforce_styling();
    }
    match options.width {
        Some(w) => {
            table.set_content_arrangement(ContentArrangement::Dynamic);
            table.set_width(w);
        }
        None => {
            table.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    table
}

fn severity_colour(s: Severity) -> Color {
    match s {
        Severity::Critical => Color::Red,
        Severity::High => Color::DarkRed,
        Severity::Medium => Color::Yellow,
        Severity::Low => Color::Blue,
        Severity::Unknown => Color::Grey,
    }
}

/// The same colours as [`severity_colour`], as raw SGR sequences for text outside tables.
fn severity_ansi(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "\x1b[91m",
        Severity::High => "\x1b[31m",
        Severity::Medium => "\x1b[93m",
        Severity::Low => "\x1b[94m",
        Severity::Unknown => "\x1b[37m",
    }
}

fn paint(text: &str, sgr: &str, colour: bool) -> String {
    if colour {
        format!("{sgr}{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// `s` with control characters (escape sequences, newlines, carriage returns) replaced by
/// U+FFFD, so image data cannot move the cursor or recolour the terminal.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

fn shorten(s: &str) -> String {
    let clean = printable(s);
    if clean.chars().count() <= MAX_TITLE_CHARS {
        clean
    } else {
        let mut cut: String = clean.chars().take(MAX_TITLE_CHARS - 1).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        assert_eq!(printable("a\x1b[2Jb\r\n"), "a\u{fffd}[2Jb\u{fffd}\u{fffd}");
    }

    #[test]
    fn long_titles_are_cut_on_char_boundaries() {
        let t = shorten(&"é".repeat(300));
        assert_eq!(t.chars().count(), MAX_TITLE_CHARS);
        assert!(t.ends_with('…'));
    }
}
