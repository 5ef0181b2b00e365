//! Packagist (Composer) versions, ordered as PHP's `version_compare` orders them after Composer
//! strips a leading `v`/`V`.
//!
//! `version_compare` first canonicalises: `-`, `_` and `+` become `.`, a `.` is inserted wherever
//! digits meet non-digits (`1.0rc1` is `1.0.rc.1`), other punctuation becomes `.`, and repeated
//! dots collapse. It then walks both strings part by part: two numbers compare by value, two
//! words by their rank (`dev` < `alpha`/`a` < `beta`/`b` < `RC`/`rc` < a number < `pl`/`p`, any
//! other word below `dev`, matched by prefix), and a number against a word ranks the number as
//! `#`, between `RC` and `pl`. When one version runs out, a following number makes the longer
//! one newer, and a following word is ranked against `#` (so `1.0 > 1.0-dev`, `1.0 < 1.0pl1`).
//!
//! Deliberate differences, each where PHP's function is not an order at all: numbers are
//! compared by value at any length (PHP reads them into a saturating C `long`); `#` is kept as a
//! word of rank `#` instead of becoming a dot, and a trailing dot is dropped, so that every
//! version equals itself (PHP has `version_compare("1.2.3.#", "1.2.3.#") == -1`). Both agree
//! with the upstream vectors (osv-scalibr's Packagist order).

use std::cmp::Ordering;

use crate::number::cmp_digit_runs;

/// A parsed Packagist version: its canonical form.
#[derive(Clone, Debug)]
pub(crate) struct ComposerVersion {
    canonical: Box<str>,
}

/// Parses a Packagist version. Anything non-empty is accepted, as `version_compare` accepts it.
pub(crate) fn parse(input: &str) -> Result<ComposerVersion, &'static str> {
    let s = input.trim().trim_start_matches(['v', 'V']);
    if s.is_empty() {
        return Err("empty version");
    }
    Ok(ComposerVersion {
        canonical: canonicalise(s).into(),
    })
}

/// Neither a digit nor a dot.
fn is_non_digit(b: u8) -> bool {
    !b.is_ascii_digit() && b != b'.'
}

fn canonicalise(s: &str) -> String {
    // A version starting with `#` is taken as it is (it names the "any number" rank).
    if s.starts_with('#') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len() + 4);
    let Some((&first, rest)) = b.split_first() else {
        return String::new();
    };
    out.push(first);
    let mut prev = first;
    for &c in rest {
        let last_is_dot = out.last() == Some(&b'.');
        if matches!(c, b'-' | b'_' | b'+') {
            if !last_is_dot {
                out.push(b'.');
            }
        } else if (is_non_digit(prev) && c.is_ascii_digit())
            || (prev.is_ascii_digit() && is_non_digit(c))
        {
            if !last_is_dot {
                out.push(b'.');
            }
            out.push(c);
        } else if !c.is_ascii_alphanumeric() && c != b'#' {
            if !last_is_dot {
                out.push(b'.');
            }
        } else {
            out.push(c);
        }
        prev = c;
    }
    // A trailing dot would leave an empty last part, which `version_compare` ranks below
    // anything, itself included (`1.0- < 1.0-`); dropped, so that every version equals itself.
    while out.len() > 1 && out.last() == Some(&b'.') {
        out.pop();
    }
    // Non-ASCII bytes are never alphanumeric, so each became a dot: `out` is ASCII.
    String::from_utf8_lossy(&out).into_owned()
}

/// The rank of a word part, by prefix, as `version_compare` ranks special forms.
fn rank(word: &str) -> i8 {
    const FORMS: [(&str, i8); 10] = [
        ("dev", 0),
        ("alpha", 1),
        ("a", 1),
        ("beta", 2),
        ("b", 2),
        ("RC", 3),
        ("rc", 3),
        ("#", 4),
        ("pl", 5),
        ("p", 5),
    ];
    FORMS
        .iter()
        .find(|(form, _)| word.starts_with(form))
        .map_or(-1, |(_, r)| *r)
}

fn starts_with_digit(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

/// The leading run of digits.
fn digits(s: &str) -> &[u8] {
    let b = s.as_bytes();
    let end = b
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(b.len());
    &b[..end]
}

fn compare_parts(a: &str, b: &str) -> Ordering {
    match (starts_with_digit(a), starts_with_digit(b)) {
        (true, true) => cmp_digit_runs(digits(a), digits(b)),
        (false, false) => rank(a).cmp(&rank(b)),
        (true, false) => rank("#").cmp(&rank(b)),
        (false, true) => rank(a).cmp(&rank("#")),
    }
}

/// `version_compare` on two canonical strings.
fn compare_canonical(v1: &str, v2: &str) -> Ordering {
    match (v1.is_empty(), v2.is_empty()) {
        (true, true) => return Ordering::Equal,
        (false, true) => return Ordering::Greater,
        (true, false) => return Ordering::Less,
        (false, false) => {}
    }
    let (mut p1, mut p2) = (v1, v2);
    // Whether a `.` followed the part just compared (C's `n1`/`n2`).
    let (mut more1, mut more2) = (true, true);
    let mut ord = Ordering::Equal;
    while !p1.is_empty() && !p2.is_empty() && more1 && more2 {
        let (part1, rest1) = match p1.split_once('.') {
            Some((x, r)) => (x, Some(r)),
            None => (p1, None),
        };
        let (part2, rest2) = match p2.split_once('.') {
            Some((x, r)) => (x, Some(r)),
            None => (p2, None),
        };
        more1 = rest1.is_some();
        more2 = rest2.is_some();
        ord = compare_parts(part1, part2);
        if ord != Ordering::Equal {
            break;
        }
        if let Some(r) = rest1 {
            p1 = r;
        }
        if let Some(r) = rest2 {
            p2 = r;
        }
    }
    if ord == Ordering::Equal {
        if more1 {
            ord = if starts_with_digit(p1) {
                Ordering::Greater
            } else {
                compare_canonical(&canonicalise(p1), "#N#")
            };
        } else if more2 {
            ord = if starts_with_digit(p2) {
                Ordering::Less
            } else {
                compare_canonical("#N#", &canonicalise(p2))
            };
        }
    }
    ord
}

impl Ord for ComposerVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_canonical(&self.canonical, &other.canonical)
    }
}

impl PartialOrd for ComposerVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for ComposerVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for ComposerVersion {}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        parse(a).unwrap().cmp(&parse(b).unwrap())
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canonicalise("1.0rc1"), "1.0.rc.1");
        assert_eq!(canonicalise("1.0-dev"), "1.0.dev");
        assert_eq!(canonicalise("4.3-2RC1"), "4.3.2.RC.1");
        assert_eq!(canonicalise("1.0..0"), "1.0.0");
        assert_eq!(canonicalise("1.25.0-beta2.1"), "1.25.0.beta.2.1");
        assert_eq!(canonicalise("1.2.3#"), "1.2.3.#");
        assert_eq!(canonicalise("1.0-"), "1.0");
    }

    #[test]
    fn php_rules() {
        assert_eq!(cmp("1.0", "1.0-dev"), Ordering::Greater);
        assert_eq!(cmp("1.0", "1.0pl1"), Ordering::Less);
        assert_eq!(cmp("1.0.0", "1.0"), Ordering::Greater);
        assert_eq!(cmp("1.0rc1", "1.0RC1"), Ordering::Equal);
        assert_eq!(cmp("v1.2", "1.2"), Ordering::Equal);
        assert_eq!(cmp("1.0-foo", "1.0-dev"), Ordering::Less);
        assert!(parse("").is_err() && parse("v").is_err());
        for v in ["1.0-", "1.2.3.#", ".5", "-1", "1.0+", "é1"] {
            assert_eq!(cmp(v, v), Ordering::Equal, "{v}");
        }
    }
}
