//! Alpine package versions, ordered as apk-tools 3 orders them.
//!
//! A version reads `digit{.digit}...{letter}{_suffix{number}}...{~hash}{-r number}`. apk-tools
//! walks both strings as typed tokens and decides on the first token whose type or value
//! differs:
//! - the first number and suffix, revision numbers compare by value; a later dotted
//!   component compares by value too unless either side starts with `0`, in which case the
//!   digit strings compare as bytes (`1.01` < `1.1`, `8.2.0` < `8.2.001`);
//! - a letter compares as a byte, a `~hash` as a string;
//! - suffixes rank `_alpha` < `_beta` < `_pre` < `_rc` < (none) < `_cvs` < `_svn` < `_git` <
//!   `_hg` < `_p`;
//! - when one version runs out, the longer one is newer unless it continues with a
//!   pre-release suffix; a version that turns malformed at that point is older.
//!
//! Malformed versions are still ordered (apk-tools orders them by the well-formed prefix, and
//! the matcher must not stop on them). When neither string even starts with a number there is
//! no prefix to order by, and the strings compare as bytes, as `apk version -t` does for them.

use crate::number::cmp_digit_runs;
use std::cmp::Ordering;

/// Token kinds, in apk-tools' rank: when the versions part, the higher kind is the older one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    RevisionNo,
    End,
    Invalid,
}

/// Suffix ranks; `NONE` (no suffix) is the pivot between pre- and post-releases.
const SUFFIXES: [(&str, i8); 9] = [
    ("alpha", -4),
    ("beta", -3),
    ("pre", -2),
    ("rc", -1),
    ("cvs", 1),
    ("svn", 2),
    ("git", 3),
    ("hg", 4),
    ("p", 5),
];

#[derive(Clone, Copy, Debug)]
struct Token {
    kind: Kind,
    /// Byte range of the token's text (digits, letter, suffix name or hash) in the version.
    start: u16,
    end: u16,
    suffix: i8,
}

/// A tokenised apk version; the token list always ends with `End` or `Invalid`.
#[derive(Clone, Debug)]
pub(crate) struct ApkVersion {
    text: Box<str>,
    tokens: Vec<Token>,
    /// An apk-tools 2 leniency was needed (letter then digits, empty component, bare `-r`).
    relaxed: bool,
}

/// Tokenises an apk version; only the empty string is refused.
pub(crate) fn parse(input: &str) -> Result<ApkVersion, &'static str> {
    let text = input.trim();
    if text.is_empty() {
        return Err("version string is empty");
    }
    if text.len() > usize::from(u16::MAX) {
        return Err("version string is too long");
    }
    let (tokens, relaxed) = tokenise(text.as_bytes());
    Ok(ApkVersion {
        text: text.into(),
        tokens,
        relaxed,
    })
}

fn tokenise(s: &[u8]) -> (Vec<Token>, bool) {
    let mut tokens = Vec::with_capacity(8);
    let mut relaxed = false;
    let mut pos = 0usize;
    let digits_from = |from: usize| {
        from + s
            .iter()
            .skip(from)
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let token = |kind, start: usize, end: usize| Token {
        kind,
        start: u16::try_from(start).unwrap_or(u16::MAX),
        end: u16::try_from(end).unwrap_or(u16::MAX),
        suffix: 0,
    };
    let end = digits_from(0);
    let mut current = if end == 0 {
        token(Kind::Invalid, 0, 0)
    } else {
        token(Kind::InitialDigit, 0, end)
    };
    pos = pos.max(end);
    loop {
        tokens.push(current);
        if current.kind >= Kind::End {
            return (tokens, relaxed);
        }
        let prev = current.kind;
        let Some(&c) = s.get(pos) else {
            current = token(Kind::End, pos, pos);
            continue;
        };
        current = match c {
            b'a'..=b'z' if prev <= Kind::Digit => {
                pos += 1;
                token(Kind::Letter, pos - 1, pos)
            }
            b'.' | b'0'..=b'9' => {
                let kind = match prev {
                    _ if c == b'.' && prev > Kind::Digit => Kind::Invalid,
                    Kind::InitialDigit | Kind::Digit => Kind::Digit,
                    // apk-tools 2 reads `2p1` (OpenSSH-style) as a letter then a number; the
                    // Alpine 3.x package versions that use it order that way.
                    Kind::Letter if c != b'.' => {
                        relaxed = true;
                        Kind::Digit
                    }
                    Kind::Suffix if c != b'.' => Kind::SuffixNo,
                    _ => Kind::Invalid,
                };
                if c == b'.' {
                    pos += 1;
                }
                let end = digits_from(pos);
                // apk-tools 2 reads an empty dotted component (`0..1`) as a zero-length number.
                let empty_ok = c == b'.' && matches!(s.get(end), None | Some(b'.'));
                relaxed |= end == pos && empty_ok;
                let t = if kind == Kind::Invalid || (end == pos && !empty_ok) {
                    token(Kind::Invalid, pos, pos)
                } else {
                    token(kind, pos, end)
                };
                pos = end;
                t
            }
            b'_' if prev <= Kind::SuffixNo => {
                let start = pos + 1;
                let end = start
                    + s.iter()
                        .skip(start)
                        .take_while(|c| c.is_ascii_lowercase())
                        .count();
                pos = end;
                let name = s.get(start..end).unwrap_or_default();
                match SUFFIXES.iter().find(|(n, _)| n.as_bytes() == name) {
                    Some(&(_, rank)) => Token {
                        suffix: rank,
                        ..token(Kind::Suffix, start, end)
                    },
                    None => token(Kind::Invalid, start, end),
                }
            }
            b'~' if prev < Kind::CommitHash => {
                let start = pos + 1;
                let end = start
                    + s.iter()
                        .skip(start)
                        .take_while(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
                        .count();
                pos = end;
                if end == start {
                    token(Kind::Invalid, start, end)
                } else {
                    token(Kind::CommitHash, start, end)
                }
            }
            b'-' if prev < Kind::RevisionNo && s.get(pos + 1) == Some(&b'r') => {
                let start = pos + 2;
                let end = digits_from(start);
                pos = end;
                // A bare `-r` at the end is revision 0 to apk-tools 2.
                if end == start && end < s.len() {
                    token(Kind::Invalid, start, end)
                } else {
                    relaxed |= end == start;
                    token(Kind::RevisionNo, start, end)
                }
            }
            _ => token(Kind::Invalid, pos, pos),
        };
    }
}

impl ApkVersion {
    fn text_of(&self, t: &Token) -> &[u8] {
        self.text
            .as_bytes()
            .get(usize::from(t.start)..usize::from(t.end))
            .unwrap_or_default()
    }

    fn cmp_token(&self, a: &Token, other: &ApkVersion, b: &Token) -> Ordering {
        let (ta, tb) = (self.text_of(a), other.text_of(b));
        match a.kind {
            Kind::Digit if ta.first() == Some(&b'0') || tb.first() == Some(&b'0') => ta.cmp(tb),
            Kind::InitialDigit | Kind::Digit | Kind::SuffixNo | Kind::RevisionNo => {
                cmp_digit_runs(ta, tb)
            }
            Kind::Suffix => a.suffix.cmp(&b.suffix),
            Kind::Letter | Kind::CommitHash | Kind::End | Kind::Invalid => ta.cmp(tb),
        }
    }

    /// True when apk-tools would accept the version (`apk_version_validate`).
    pub(crate) fn is_valid(&self) -> bool {
        !self.relaxed && self.tokens.last().is_some_and(|t| t.kind == Kind::End)
    }
}

impl Ord for ApkVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let starts_invalid =
            |v: &ApkVersion| v.tokens.first().is_some_and(|t| t.kind == Kind::Invalid);
        if starts_invalid(self) && starts_invalid(other) {
            return self.text.as_bytes().cmp(other.text.as_bytes());
        }
        let end = Token {
            kind: Kind::End,
            start: 0,
            end: 0,
            suffix: 0,
        };
        let mut i = 0usize;
        loop {
            let a = self.tokens.get(i).unwrap_or(&end);
            let b = other.tokens.get(i).unwrap_or(&end);
            if a.kind != b.kind || a.kind >= Kind::End {
                if a.kind == b.kind {
                    return Ordering::Equal;
                }
                if a.kind == Kind::Suffix && a.suffix < 0 {
                    return Ordering::Less;
                }
                if b.kind == Kind::Suffix && b.suffix < 0 {
                    return Ordering::Greater;
                }
                return b.kind.cmp(&a.kind);
            }
            let by_token = self.cmp_token(a, other, b);
            if by_token != Ordering::Equal {
                return by_token;
            }
            i += 1;
        }
    }
}

impl PartialOrd for ApkVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for ApkVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for ApkVersion {}
