//! Arbitrary-length unsigned integers as version components.
//!
//! Several schemes (PEP 440, SemVer, Maven, Packagist) order numeric components by value with
//! no upper bound, and real data holds date-stamps and build numbers longer than `u64`. Most
//! components fit a machine word, so only the rare long one keeps its digits.

use std::cmp::Ordering;

/// A non-negative integer of any length, ordered by value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Number {
    /// Fits in a `u64`.
    Small(u64),
    /// Longer than any `u64`: the decimal digits without leading zeros.
    Big(Box<str>),
}

impl Number {
    /// Zero, the value of a missing component in most schemes.
    pub(crate) const ZERO: Number = Number::Small(0);

    /// Parses a run of ASCII digits (the caller checked that `digits` is all digits).
    pub(crate) fn from_digits(digits: &str) -> Number {
        let trimmed = digits.trim_start_matches('0');
        if trimmed.len() <= 19 {
            if let Ok(v) = trimmed.parse::<u64>() {
                return Number::Small(v);
            }
            if trimmed.is_empty() {
                return Number::ZERO;
            }
        }
        Number::Big(trimmed.into())
    }

    /// Parses `s` when it is a non-empty run of ASCII digits.
    pub(crate) fn parse(s: &str) -> Option<Number> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            Some(Number::from_digits(s))
        } else {
            None
        }
    }

    /// True for zero.
    pub(crate) fn is_zero(&self) -> bool {
        matches!(self, Number::Small(0))
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Number::Small(a), Number::Small(b)) => a.cmp(b),
            (Number::Small(_), Number::Big(_)) => Ordering::Less,
            (Number::Big(_), Number::Small(_)) => Ordering::Greater,
            (Number::Big(a), Number::Big(b)) => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Orders two ASCII digit runs by value without converting them (leading zeros ignored).
pub(crate) fn cmp_digit_runs(a: &[u8], b: &[u8]) -> Ordering {
    let a = strip_zeros(a);
    let b = strip_zeros(b);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn strip_zeros(mut s: &[u8]) -> &[u8] {
    while let [b'0', rest @ ..] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_numbers_order_by_value() {
        let a = Number::from_digits("999999999999999999999999999991");
        let b = Number::from_digits("999999999999999999999999999999");
        assert_eq!(a.cmp(&b), Ordering::Less);
        assert_eq!(
            Number::from_digits("18446744073709551615").cmp(&a),
            Ordering::Less
        );
        assert_eq!(Number::from_digits("0007"), Number::Small(7));
        assert_eq!(Number::from_digits("000"), Number::ZERO);
        assert_eq!(cmp_digit_runs(b"0010", b"9"), Ordering::Greater);
    }
}
