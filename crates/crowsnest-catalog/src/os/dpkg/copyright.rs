//! Licences from `usr/share/doc/<package>/copyright` in the machine-readable (DEP-5) format.
//!
//! Only files that declare the format on their first line (`Format: https://www.debian.org/
//! doc/packaging-manuals/copyright-format/1.0/`) are read: free-form copyright files contain
//! prose in which a `License:` line means nothing reliable.

/// The distinct short licence names of a DEP-5 file's `License:` fields, in order of first
/// appearance. Only the first line of each field counts: the rest is the licence text.
pub(crate) fn licenses(text: &str) -> Vec<String> {
    let mut lines = text.lines();
    let is_dep5 = lines
        .next()
        .and_then(|l| l.split_once(':'))
        .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("format"));
    if !is_dep5 {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if line.starts_with([' ', '\t']) || !name.eq_ignore_ascii_case("license") {
            continue;
        }
        let value = value.trim();
        if !value.is_empty() && !out.iter().any(|l| l == value) {
            out.push(value.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_names_of_dep5_only() {
        let dep5 = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
                    \nFiles: *\nLicense: GPL-2+\n This program is free software\n\
                    \nFiles: x\nLicense: BSD-3-clause\n\nLicense: GPL-2+\n full text\n";
        assert_eq!(licenses(dep5), ["GPL-2+", "BSD-3-clause"]);
        assert!(licenses("This is free software.\nLicense: whatever\n").is_empty());
    }
}
