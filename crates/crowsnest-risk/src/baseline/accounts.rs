//! Accounts: empty passwords (`/etc/shadow`, or `/etc/passwd` when it holds the hash itself)
//! and accounts other than `root` with uid 0.

use crowsnest_model::{ImagePath, RiskFinding};

use super::{read_text, BaselineInput, DUPLICATE_UID_ZERO, EMPTY_PASSWORD};

const PASSWD: &str = "etc/passwd";
const SHADOW: &str = "etc/shadow";

pub(super) fn wants(path: &ImagePath) -> bool {
    matches!(path.as_str(), PASSWD | SHADOW)
}

pub(super) fn run(input: &BaselineInput<'_>, out: &mut Vec<RiskFinding>) {
    if let Some((path, text)) = read_text(input.fs, PASSWD) {
        for (line_no, fields) in records(&text) {
            let name = fields[0];
            // `x` (or `*`, `!`) means the hash is in shadow or the account is locked; an empty
            // field is no password at all.
            if fields.get(1).is_some_and(|p| p.is_empty()) {
                out.push(EMPTY_PASSWORD.file_finding(
                    input,
                    &path,
                    Some(line_no),
                    format!("account {name:?} has an empty password field in /etc/passwd"),
                ));
            }
            if fields.get(2).is_some_and(|uid| uid.trim() == "0") && name != "root" {
                out.push(DUPLICATE_UID_ZERO.file_finding(
                    input,
                    &path,
                    Some(line_no),
                    format!("account {name:?} has uid 0"),
                ));
            }
        }
    }
    if let Some((path, text)) = read_text(input.fs, SHADOW) {
        for (line_no, fields) in records(&text) {
            if fields.get(1).is_some_and(|p| p.is_empty()) {
                out.push(EMPTY_PASSWORD.file_finding(
                    input,
                    &path,
                    Some(line_no),
                    format!("account {:?} has an empty password", fields[0]),
                ));
            }
        }
    }
}

/// The non-empty, non-comment lines split on `:`, with 1-based line numbers.
fn records(text: &str) -> impl Iterator<Item = (u32, Vec<&str>)> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            return None;
        }
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 2 && !fields[0].is_empty())
            .then(|| (u32::try_from(i + 1).unwrap_or(u32::MAX), fields))
    })
}
