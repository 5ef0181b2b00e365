//! Query strings and form bodies as ordered, decoded pairs, and the RFC 3986 encoding every
//! signature scheme here canonicalises with.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Bytes left as they are by RFC 3986 encoding: letters, digits and `-_.~`. Both clouds'
/// signers encode everything else, including space as `%20` and `*` as `%2A`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// RFC 3986 percent-encoding with upper-case hex digits.
pub fn rfc3986(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// Why a query string or form body could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed url-encoded data")]
pub struct FormError;

/// Decoded `name=value` pairs in their original order; names may repeat.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pairs(pub Vec<(String, String)>);

impl Pairs {
    /// Decodes `application/x-www-form-urlencoded` text (`+` is a space). A pair without `=`
    /// has an empty value; invalid UTF-8 after decoding is an error.
    pub fn parse(raw: &str) -> Result<Pairs, FormError> {
        let mut out = Vec::new();
        for piece in raw.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            out.push((decode(name)?, decode(value)?));
        }
        Ok(Pairs(out))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Appends every pair of `other`.
    pub fn extend(&mut self, other: Pairs) {
        self.0.extend(other.0);
    }
}

fn decode(s: &str) -> Result<String, FormError> {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| FormError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_the_signers() {
        assert_eq!(rfc3986("a b*c~d/é"), "a%20b%2Ac~d%2F%C3%A9");
        assert_eq!(rfc3986("AZaz09-_.~"), "AZaz09-_.~");
    }

    #[test]
    fn decodes_plus_and_percent() {
        let p = Pairs::parse("a=x+y&b=%5B%7B%22n%22%7D%5D&c&a=2").unwrap();
        assert_eq!(p.get("a"), Some("x y"));
        assert_eq!(p.get("b"), Some("[{\"n\"}]"));
        assert_eq!(p.get("c"), Some(""));
        assert_eq!(p.0.len(), 4);
        assert_eq!(Pairs::parse("a=%FF"), Err(FormError));
    }
}
