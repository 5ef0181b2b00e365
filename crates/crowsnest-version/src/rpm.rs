//! RPM versions, ordered as rpm's `rpmvercmp` and `rpmverCmp` order them.
//!
//! An EVR is `[epoch:]version[-release]`: the epoch is the leading digits before a colon, the
//! release follows the last hyphen. Epochs compare by value (a missing epoch is 0), then the
//! versions and the releases with `rpmvercmp`. Each string is cut into alphanumeric segments at
//! any other character; digit segments beat letter segments and compare by value, letter
//! segments compare as bytes; `~` sorts before everything (even the end, a pre-release) and
//! `^` after the end but before any further segment (a post-release snapshot).
//!
//! Every string is a valid RPM version (rpm itself accepts any), so parsing only rejects the
//! empty string.

use std::cmp::Ordering;

/// A parsed RPM epoch:version-release.
#[derive(Clone, Debug)]
pub(crate) struct RpmVersion {
    epoch: Option<Box<str>>,
    version: Box<str>,
    release: Option<Box<str>>,
}

/// Splits an EVR the way rpm's `parseEVR` does.
pub(crate) fn parse(input: &str) -> Result<RpmVersion, &'static str> {
    let s = input.trim();
    if s.is_empty() {
        return Err("version string is empty");
    }
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (epoch, rest) = match s.get(digits..).and_then(|r| r.strip_prefix(':')) {
        Some(rest) => (s.get(..digits).map(Box::from), rest),
        None => (None, s),
    };
    let (version, release) = match rest.rsplit_once('-') {
        Some((version, release)) => (version, Some(release.into())),
        None => (rest, None),
    };
    Ok(RpmVersion {
        epoch,
        version: version.into(),
        release,
    })
}

impl Ord for RpmVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let ea = self.epoch.as_deref().unwrap_or("0");
        let eb = other.epoch.as_deref().unwrap_or("0");
        vercmp(ea.as_bytes(), eb.as_bytes())
            .then_with(|| vercmp(self.version.as_bytes(), other.version.as_bytes()))
            .then_with(|| match (&self.release, &other.release) {
                (Some(a), Some(b)) => vercmp(a.as_bytes(), b.as_bytes()),
                (Some(_), None) => Ordering::Greater,
                (None, Some(_)) => Ordering::Less,
                (None, None) => Ordering::Equal,
            })
    }
}

impl PartialOrd for RpmVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for RpmVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for RpmVersion {}

fn is_separator(b: u8) -> bool {
    !b.is_ascii_alphanumeric() && b != b'~' && b != b'^'
}

/// rpm's `rpmvercmp` on one version or release string.
pub(crate) fn vercmp(a: &[u8], b: &[u8]) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut i, mut j) = (0usize, 0usize);
    loop {
        while a.get(i).is_some_and(|&c| is_separator(c)) {
            i += 1;
        }
        while b.get(j).is_some_and(|&c| is_separator(c)) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca.is_none() && cb.is_none() {
            return Ordering::Equal;
        }
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(first_a), Some(_)) = (ca, cb) else {
            // One string ran out: the longer one is newer.
            return if ca.is_some() {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        };
        let numeric = first_a.is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let (start_a, start_b) = (i, j);
        while a.get(i).is_some_and(class) {
            i += 1;
        }
        while b.get(j).is_some_and(class) {
            j += 1;
        }
        let seg_a = a.get(start_a..i).unwrap_or_default();
        let seg_b = b.get(start_b..j).unwrap_or_default();
        if seg_b.is_empty() {
            // Segments of different kinds: a number is newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let by_segment = if numeric {
            crate::number::cmp_digit_runs(seg_a, seg_b)
        } else {
            seg_a.cmp(seg_b)
        };
        if by_segment != Ordering::Equal {
            return by_segment;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_and_caret() {
        assert_eq!(vercmp(b"1.0~rc1", b"1.0"), Ordering::Less);
        assert_eq!(vercmp(b"1.0^git1", b"1.0"), Ordering::Greater);
        assert_eq!(vercmp(b"1.0^git1", b"1.0.1"), Ordering::Less);
        assert_eq!(vercmp(b"1.0a", b"1.0.1"), Ordering::Less);
        assert_eq!(vercmp(b"001", b"1"), Ordering::Equal);
    }
}
