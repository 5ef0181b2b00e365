//! RubyGems `Gem::Version` ordering.
//!
//! A version is digits, then dot-separated alphanumeric parts, optionally followed by `-` and
//! more parts (`1.2.0`, `1.0.a.2`, `2.0.0.rc1`, `1.0-beta.3`), surrounded by optional whitespace.
//! As RubyGems does, a `-` is read as `.pre.`, the string is cut into runs of digits and runs of
//! letters, and the runs are compared pairwise after dropping trailing zeros from the leading
//! numeric part and from the rest: numbers by value, letters byte-wise, and a letter run (a
//! pre-release) sorts below any number, including the `0` a shorter version is padded with.
//! So `1.0 = 1`, `1.0.a2 = 1.0.a.2` and `1.0.b1 < 1.0`.

use std::cmp::Ordering;

use crate::number::Number;

/// One run of a version: digits or letters.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Number(Number),
    Text(Box<str>),
}

/// A parsed `Gem::Version`, as its canonical segments.
#[derive(Clone, Debug)]
pub(crate) struct GemVersion {
    segments: Vec<Segment>,
    /// False when RubyGems' pattern refuses the string but it was ordered by the same rules
    /// (letters glued to the first number, as in `1beta`).
    valid: bool,
}

impl GemVersion {
    /// True when `Gem::Version.correct?` accepts the string.
    pub(crate) fn is_valid(&self) -> bool {
        self.valid
    }
}

impl PartialEq for GemVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for GemVersion {}

fn is_part_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// Checks RubyGems' version pattern:
/// `[0-9]+(\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?`.
fn validate(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == 0 {
        return Err("a RubyGems version starts with a digit");
    }
    // Release parts.
    while i < b.len() && b[i] == b'.' {
        let start = i + 1;
        let mut j = start;
        while j < b.len() && is_part_char(b[j]) {
            j += 1;
        }
        if j == start {
            return Err("empty version part");
        }
        i = j;
    }
    if i == b.len() {
        return Ok(());
    }
    if b[i] != b'-' {
        return Err("unexpected character");
    }
    // Pre-release parts: alphanumerics and `-`, separated by dots.
    i += 1;
    loop {
        let start = i;
        while i < b.len() && (is_part_char(b[i]) || b[i] == b'-') {
            i += 1;
        }
        if i == start {
            return Err("empty pre-release part");
        }
        if i == b.len() {
            return Ok(());
        }
        if b[i] != b'.' {
            return Err("unexpected character");
        }
        i += 1;
    }
}

/// The looser shape ordered anyway: a digit first, then letters, digits, dots and dashes with no
/// empty part.
fn validate_lenient(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    if !b.first().is_some_and(u8::is_ascii_digit) {
        return Err("a RubyGems version starts with a digit");
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'-')
    {
        return Err("unexpected character");
    }
    if s.split(['.', '-']).any(str::is_empty) {
        return Err("empty version part");
    }
    Ok(())
}

/// Parses a RubyGems version: RubyGems' own pattern, or (marked invalid) letters glued to
/// numbers such as `1beta`, which older gems and advisories write.
pub(crate) fn parse(input: &str) -> Result<GemVersion, &'static str> {
    let s = input.trim_matches(|c: char| c.is_ascii_whitespace());
    let valid = match validate(s) {
        Ok(()) => true,
        Err(strict) => {
            validate_lenient(s).map_err(|_| strict)?;
            false
        }
    };
    // `-` means `.pre.`; the letters `pre` then sort like any pre-release word.
    let expanded = s.replace('-', ".pre.");
    let mut runs: Vec<Segment> = Vec::new();
    let bytes = expanded.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        if bytes[i].is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            runs.push(Segment::Number(Number::from_digits(&expanded[start..i])));
        } else if bytes[i].is_ascii_alphabetic() {
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            runs.push(Segment::Text(expanded[start..i].into()));
        } else {
            i += 1;
        }
    }
    // Canonical segments: trailing zeros go from the numeric head and from the rest.
    let split = runs
        .iter()
        .position(|s| matches!(s, Segment::Text(_)))
        .unwrap_or(runs.len());
    let rest = runs.split_off(split);
    let mut segments = drop_trailing_zeros(runs);
    segments.extend(drop_trailing_zeros(rest));
    Ok(GemVersion { segments, valid })
}

fn drop_trailing_zeros(mut v: Vec<Segment>) -> Vec<Segment> {
    while matches!(v.last(), Some(Segment::Number(n)) if n.is_zero()) {
        v.pop();
    }
    v
}

impl Ord for GemVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let zero = Segment::Number(Number::ZERO);
        let len = self.segments.len().max(other.segments.len());
        for i in 0..len {
            let a = self.segments.get(i).unwrap_or(&zero);
            let b = other.segments.get(i).unwrap_or(&zero);
            let ord = match (a, b) {
                (Segment::Number(x), Segment::Number(y)) => x.cmp(y),
                (Segment::Text(x), Segment::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
                (Segment::Text(_), Segment::Number(_)) => Ordering::Less,
                (Segment::Number(_), Segment::Text(_)) => Ordering::Greater,
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for GemVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        parse(a).unwrap().cmp(&parse(b).unwrap())
    }

    #[test]
    fn rubygems_rules() {
        assert_eq!(cmp("1.0", "1"), Ordering::Equal);
        assert_eq!(cmp("1.0.0.0", "1"), Ordering::Equal);
        assert_eq!(cmp("1.0.b1", "1.0"), Ordering::Less);
        assert_eq!(cmp("1.0.a.2", "1.0.a2"), Ordering::Equal);
        assert_eq!(cmp("1.0-beta.3", "1.0.pre.beta.3"), Ordering::Equal);
        assert_eq!(cmp("1.0-beta", "1.0"), Ordering::Less);
        assert_eq!(cmp("2.0.0.rc1", "2.0.0"), Ordering::Less);
        assert_eq!(cmp("1.10", "1.9"), Ordering::Greater);
        assert_eq!(cmp(" 1.2 ", "1.2"), Ordering::Equal);
        // Letter runs compare byte-wise: upper case sorts first.
        assert_eq!(cmp("1.0.B", "1.0.a"), Ordering::Less);
    }

    #[test]
    fn malformed_versions_are_refused() {
        for bad in [
            "", "junk", "1..2", "1.2.", ".1", "1.2 3", "1-", "1_2", "v1.0",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        // Outside RubyGems' pattern but ordered by its rules, and marked so.
        let glued = parse("1beta").unwrap();
        assert!(!glued.is_valid());
        assert_eq!(glued.cmp(&parse("1").unwrap()), Ordering::Less);
        assert!(parse("1.0.b1").unwrap().is_valid());
    }
}
