//! Python package versions under PEP 440, ordered as `packaging.version.Version` orders them.
//!
//! The accepted spellings are PEP 440's normalisation rules: case-insensitive, an optional `v`
//! prefix, surrounding whitespace, `alpha`/`a`, `beta`/`b`, `c`/`rc`/`pre`/`preview`, `post`/
//! `rev`/`r` and the implicit post-release `-N`, optional `.`/`-`/`_` separators around
//! pre, post and dev markers, implicit zero numbers, and local versions (`+ubuntu.1`) whose
//! separators all mean `.`.
//!
//! Legacy versions (anything else, like `2004d` or `0.9-doduo`) are ordered the way
//! `packaging` before release 22 ordered its `LegacyVersion` (and pip with it, for years): below
//! every valid version, and among themselves by setuptools' old key (digit runs padded to eight
//! places, `pre`/`preview`/`rc` read as `c`, `dev` as `@`, `-` as `final-`). Newer `packaging`
//! refuses them instead; ordering them keeps old packages found in images matchable, and an
//! OSV range never holds one, so they cannot widen a range bound.

use crate::number::Number;
use std::cmp::Ordering;

/// A parsed PEP 440 version.
#[derive(Clone, Debug)]
pub(crate) struct Pep440Version {
    epoch: Number,
    release: Vec<Number>,
    pre: Option<(PreKind, Number)>,
    post: Option<Number>,
    dev: Option<Number>,
    local: Vec<LocalSegment>,
}

/// Pre-release kinds, in their order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum PreKind {
    Alpha,
    Beta,
    Rc,
}

/// A local version segment: numbers sort after strings.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum LocalSegment {
    Text(Box<str>),
    Numeric(Number),
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn at(&self, offset: usize) -> Option<u8> {
        self.s.get(self.pos + offset).copied()
    }

    fn digits(&mut self) -> Option<Number> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let run = self.s.get(start..self.pos)?;
        if run.is_empty() {
            return None;
        }
        std::str::from_utf8(run).ok().map(Number::from_digits)
    }

    /// Consumes the first label of `labels` found at the cursor (case already folded).
    fn label(&mut self, labels: &[&str]) -> Option<usize> {
        let rest = self.s.get(self.pos..)?;
        let (index, label) = labels
            .iter()
            .enumerate()
            .find(|(_, l)| rest.starts_with(l.as_bytes()))?;
        self.pos += label.len();
        Some(index)
    }

    fn is_separator(c: Option<u8>) -> bool {
        matches!(c, Some(b'.' | b'-' | b'_'))
    }

    /// Reads `[sep]label[sep][number]`, leaving the cursor untouched when the label is absent.
    fn marker(&mut self, labels: &[&str]) -> Option<(usize, Number)> {
        let start = self.pos;
        if Self::is_separator(self.peek()) {
            self.pos += 1;
        }
        let Some(kind) = self.label(labels) else {
            self.pos = start;
            return None;
        };
        let number_start = self.pos;
        if Self::is_separator(self.peek()) && self.at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let number = self.digits().unwrap_or_else(|| {
            self.pos = number_start;
            Number::ZERO
        });
        Some((kind, number))
    }
}

const PRE_LABELS: [&str; 8] = ["alpha", "a", "beta", "b", "preview", "pre", "c", "rc"];
const POST_LABELS: [&str; 3] = ["post", "rev", "r"];

/// A Python version: PEP 440, or a legacy version that sorts before all of them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PythonVersion {
    /// Not PEP 440: setuptools' legacy comparison key.
    Legacy(Vec<Box<str>>),
    /// A PEP 440 version.
    Pep440(Pep440Version),
}

/// Parses a Python version, falling back to the legacy order; only blank strings fail.
pub(crate) fn parse_python(input: &str) -> Result<PythonVersion, &'static str> {
    match parse(input) {
        Ok(v) => Ok(PythonVersion::Pep440(v)),
        Err(_) if !input.trim().is_empty() => Ok(PythonVersion::Legacy(legacy_key(input))),
        Err(e) => Err(e),
    }
}

/// setuptools' legacy version key (`packaging.version.LegacyVersion`).
fn legacy_key(input: &str) -> Vec<Box<str>> {
    let lower = input.to_lowercase();
    let mut key: Vec<Box<str>> = Vec::new();
    let mut push = |part: String| {
        if part.starts_with('*') {
            if part.as_str() < "*final" {
                while key.last().is_some_and(|p| &**p == "*final-") {
                    key.pop();
                }
            }
            while key.last().is_some_and(|p| &**p == "00000000") {
                key.pop();
            }
        }
        key.push(part.into());
    };
    for piece in legacy_pieces(&lower) {
        let piece = match piece {
            "pre" | "preview" | "rc" => "c",
            "-" => "final-",
            "dev" => "@",
            other => other,
        };
        if piece.is_empty() || piece == "." {
            continue;
        }
        if piece.starts_with(|c: char| c.is_ascii_digit()) {
            push(format!("{piece:0>8}"));
        } else {
            push(format!("*{piece}"));
        }
    }
    push("*final".to_owned());
    key
}

/// Splits like `re.split(r"(\d+|[a-z]+|\.|-)")`: the matches and the text between them.
fn legacy_pieces(s: &str) -> Vec<&str> {
    let bytes = s.as_bytes();
    let mut pieces = Vec::new();
    let (mut pos, mut other_start) = (0usize, 0usize);
    while let Some(&c) = bytes.get(pos) {
        let len = if c.is_ascii_digit() {
            bytes
                .iter()
                .skip(pos)
                .take_while(|b| b.is_ascii_digit())
                .count()
        } else if c.is_ascii_lowercase() {
            bytes
                .iter()
                .skip(pos)
                .take_while(|b| b.is_ascii_lowercase())
                .count()
        } else if c == b'.' || c == b'-' {
            1
        } else {
            0
        };
        if len == 0 {
            pos += 1;
            continue;
        }
        // Only ASCII bytes end a match, so these offsets are character boundaries.
        pieces.push(s.get(other_start..pos).unwrap_or_default());
        pieces.push(s.get(pos..pos + len).unwrap_or_default());
        pos += len;
        other_start = pos;
    }
    pieces.push(s.get(other_start..).unwrap_or_default());
    pieces
}

/// Parses a PEP 440 version.
pub(crate) fn parse(input: &str) -> Result<Pep440Version, &'static str> {
    let folded = input.trim().to_ascii_lowercase();
    let mut c = Cursor {
        s: folded.as_bytes(),
        pos: 0,
    };
    if c.peek() == Some(b'v') {
        c.pos += 1;
    }
    let first = c.digits().ok_or("does not start with a release number")?;
    let (epoch, mut release) = if c.peek() == Some(b'!') {
        c.pos += 1;
        let major = c.digits().ok_or("no release number after the epoch")?;
        (first, vec![major])
    } else {
        (Number::ZERO, vec![first])
    };
    while c.peek() == Some(b'.') && c.at(1).is_some_and(|d| d.is_ascii_digit()) {
        c.pos += 1;
        release.push(c.digits().ok_or("empty release component")?);
    }
    let pre = c.marker(&PRE_LABELS).map(|(label, n)| {
        let kind = match label {
            0 | 1 => PreKind::Alpha,
            2 | 3 => PreKind::Beta,
            _ => PreKind::Rc,
        };
        (kind, n)
    });
    let post = if c.peek() == Some(b'-') && c.at(1).is_some_and(|d| d.is_ascii_digit()) {
        c.pos += 1;
        c.digits()
    } else {
        c.marker(&POST_LABELS).map(|(_, n)| n)
    };
    let dev = c.marker(&["dev"]).map(|(_, n)| n);
    let mut local = Vec::new();
    if c.peek() == Some(b'+') {
        c.pos += 1;
        let text = c.s.get(c.pos..).unwrap_or_default();
        c.pos = c.s.len();
        for segment in text.split(|&b| matches!(b, b'.' | b'-' | b'_')) {
            if segment.is_empty() || !segment.iter().all(u8::is_ascii_alphanumeric) {
                return Err("invalid local version label");
            }
            let segment =
                std::str::from_utf8(segment).map_err(|_| "invalid local version label")?;
            local.push(match Number::parse(segment) {
                Some(n) => LocalSegment::Numeric(n),
                None => LocalSegment::Text(segment.into()),
            });
        }
    }
    if c.pos != c.s.len() {
        return Err("not a PEP 440 version");
    }
    // Trailing zeros do not count: 1.0 == 1.0.0.
    while release.len() > 1 && release.last().is_some_and(Number::is_zero) {
        release.pop();
    }
    Ok(Pep440Version {
        epoch,
        release,
        pre,
        post,
        dev,
        local,
    })
}

/// The pre-release key of `packaging`: a dev release with neither pre nor post sorts before
/// every pre-release of its release; a final release after them.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum PreKey<'a> {
    DevOnly,
    Pre(&'a (PreKind, Number)),
    None,
}

impl Pep440Version {
    fn pre_key(&self) -> PreKey<'_> {
        match (&self.pre, &self.post, &self.dev) {
            (None, None, Some(_)) => PreKey::DevOnly,
            (Some(p), _, _) => PreKey::Pre(p),
            (None, _, _) => PreKey::None,
        }
    }
}

/// Orders release tuples as if the shorter were padded with zeros (trailing zeros are gone).
fn cmp_release(a: &[Number], b: &[Number]) -> Ordering {
    a.cmp(b)
}

impl Ord for Pep440Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| cmp_release(&self.release, &other.release))
            .then_with(|| self.pre_key().cmp(&other.pre_key()))
            // No post release sorts before any post release.
            .then_with(|| self.post.cmp(&other.post))
            // No dev release sorts after any dev release.
            .then_with(|| match (&self.dev, &other.dev) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
            // No local version sorts before any local version.
            .then_with(|| self.local.cmp(&other.local))
    }
}

impl PartialOrd for Pep440Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Pep440Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pep440Version {}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        parse(a).unwrap().cmp(&parse(b).unwrap())
    }

    #[test]
    fn spellings_normalise() {
        assert_eq!(cmp("1.0ALPHA1", "1.0a1"), Ordering::Equal);
        assert_eq!(cmp("1.0-c.2", "1.0rc2"), Ordering::Equal);
        assert_eq!(cmp("1.0-1", "1.0.post1"), Ordering::Equal);
        assert_eq!(cmp("1.0.post", "1.0post0"), Ordering::Equal);
        assert_eq!(cmp("v1!2.0", "1!2"), Ordering::Equal);
        assert_eq!(cmp("1.0+Ubuntu-1", "1.0+ubuntu.1"), Ordering::Equal);
        assert!(parse("1.0-SNAPSHOT").is_err());
        assert!(parse_python("1.0-SNAPSHOT").unwrap() < parse_python("0.0.1.dev0").unwrap());
        assert!(parse("1.0.").is_err());
    }
}
