//! Debian package versions, ordered as `dpkg --compare-versions` orders them.
//!
//! A version is `[epoch:]upstream[-revision]`. The epoch is compared as a number, then the
//! upstream part and the revision with dpkg's `verrevcmp`: alternating non-digit runs (compared
//! character by character, `~` before the end of the string, letters before other characters)
//! and digit runs (compared by value).
//!
//! Validity follows dpkg: what dpkg rejects outright (empty version, embedded spaces, a
//! non-numeric or oversized epoch, nothing after the colon, an empty revision) is an error here;
//! what dpkg only warns about and still orders (an upstream part not starting with a digit,
//! characters outside the allowed set) is accepted and ordered the same way dpkg orders it, so
//! odd versions found in real status files never stop a scan.

use std::cmp::Ordering;

/// A parsed Debian version.
#[derive(Clone, Debug)]
pub(crate) struct DebVersion {
    epoch: u32,
    upstream: Box<str>,
    revision: Box<str>,
}

/// Parses a Debian version; the error is dpkg's reason.
pub(crate) fn parse(input: &str) -> Result<DebVersion, &'static str> {
    if input.is_empty() {
        return Err("version string is empty");
    }
    let s = input.trim_matches(|c: char| c.is_ascii_whitespace());
    if s.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err("version string has embedded spaces");
    }
    if s.is_empty() {
        return Err("version string is empty");
    }
    let (epoch, rest) = match s.split_once(':') {
        Some((epoch, rest)) => {
            if epoch.is_empty() {
                return Err("epoch in version is empty");
            }
            if !epoch.bytes().all(|b| b.is_ascii_digit()) {
                return Err("epoch in version is not number");
            }
            // dpkg keeps the epoch in an int.
            let value = epoch
                .parse::<u32>()
                .ok()
                .filter(|v| i32::try_from(*v).is_ok())
                .ok_or("epoch in version is too big")?;
            if rest.is_empty() {
                return Err("nothing after colon in version number");
            }
            (value, rest)
        }
        None => (0, s),
    };
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((_, "")) => return Err("revision number is empty"),
        Some((upstream, revision)) => (upstream, revision),
        None => (rest, ""),
    };
    if upstream.is_empty() {
        return Err("version number is empty");
    }
    Ok(DebVersion {
        epoch,
        upstream: upstream.into(),
        revision: revision.into(),
    })
}

impl Ord for DebVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream.as_bytes(), other.upstream.as_bytes()))
            .then_with(|| verrevcmp(self.revision.as_bytes(), other.revision.as_bytes()))
    }
}

impl PartialOrd for DebVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for DebVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for DebVersion {}

/// The weight of one character in a non-digit run; the end of the string weighs 0.
fn order(byte: Option<u8>) -> i32 {
    match byte {
        None => 0,
        Some(b) if b.is_ascii_digit() => 0,
        Some(b) if b.is_ascii_alphabetic() => i32::from(b),
        Some(b'~') => -1,
        // dpkg reads the byte as a (signed) C char, so bytes above 0x7f weigh less than the
        // ASCII punctuation; this keeps non-ASCII versions in dpkg's order.
        Some(b) => i32::from(b as i8) + 256,
    }
}

/// dpkg's `verrevcmp` on one part (upstream or revision).
pub(crate) fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0usize, 0usize);
    while i < a.len() || j < b.len() {
        // Non-digit run.
        loop {
            let ca = a.get(i).copied();
            let cb = b.get(j).copied();
            let a_nondigit = ca.is_some_and(|c| !c.is_ascii_digit());
            let b_nondigit = cb.is_some_and(|c| !c.is_ascii_digit());
            if !a_nondigit && !b_nondigit {
                break;
            }
            let (oa, ob) = (order(ca), order(cb));
            if oa != ob {
                return oa.cmp(&ob);
            }
            i += 1;
            j += 1;
        }
        // Digit run, compared by value.
        let start_a = i;
        while a.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let start_b = j;
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        let run_a = a.get(start_a..i).unwrap_or_default();
        let run_b = b.get(start_b..j).unwrap_or_default();
        let by_value = crate::number::cmp_digit_runs(run_a, run_b);
        if by_value != Ordering::Equal {
            return by_value;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_sorts_before_end() {
        assert_eq!(verrevcmp(b"1.0~rc1", b"1.0"), Ordering::Less);
        assert_eq!(verrevcmp(b"1.0", b"1.0+b1"), Ordering::Less);
        assert_eq!(verrevcmp(b"1.0a", b"1.0+"), Ordering::Less);
    }

    #[test]
    fn dpkg_errors() {
        assert!(parse("").is_err());
        assert!(parse("1 2").is_err());
        assert!(parse("a:1").is_err());
        assert!(parse("1:").is_err());
        assert!(parse("1.0-").is_err());
        assert!(parse("abc").is_ok());
    }
}
