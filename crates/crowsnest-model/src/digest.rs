//! Content digests (`sha256:<hex>`), as OCI descriptors and docker archives spell them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A content digest such as `sha256:0123…`. Only sha256 and sha512 are accepted, always lower-case hex.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    hex: String,
}

/// The hash functions OCI allows in descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    /// SHA-256, 64 hex digits.
    Sha256,
    /// SHA-512, 128 hex digits.
    Sha512,
}

/// Why a string is not a digest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid digest {input:?}: {reason}")]
pub struct DigestError {
    input: String,
    reason: &'static str,
}

impl Digest {
    /// Builds a sha256 digest from 32 raw bytes.
    pub fn sha256_from_bytes(bytes: &[u8; 32]) -> Self {
        Digest {
            algorithm: DigestAlgorithm::Sha256,
            hex: hex_lower(bytes),
        }
    }

    /// The algorithm part (`sha256`).
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The hex part, lower-case.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex digits, as `docker images` shows image ids.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| DigestError {
            input: input.chars().take(200).collect(),
            reason,
        };
        let (alg, hex) = input.split_once(':').ok_or_else(|| err("missing ':'"))?;
        let (algorithm, len) = match alg {
            "sha256" => (DigestAlgorithm::Sha256, 64),
            "sha512" => (DigestAlgorithm::Sha512, 128),
            _ => return Err(err("unsupported algorithm")),
        };
        if hex.len() != len {
            return Err(err("wrong length"));
        }
        if !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(err("not lower-case hex"));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_owned(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alg = match self.algorithm {
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha512 => "sha512",
        };
        write!(f, "{alg}:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_sha256() {
        let s = "sha256:253b07ca20c93550de8c7a9de4afa9e26eb5142f63797174782b36ab4ba2bcd5";
        let d: Digest = s.parse().unwrap();
        assert_eq!(d.to_string(), s);
        assert_eq!(d.short(), "253b07ca20c9");
    }

    #[test]
    fn rejects_upper_case_short_and_unknown() {
        assert!("sha256:ABCD".parse::<Digest>().is_err());
        assert!("md5:00".parse::<Digest>().is_err());
        assert!("sha256".parse::<Digest>().is_err());
        let upper = format!("sha256:{}", "A".repeat(64));
        assert!(upper.parse::<Digest>().is_err());
    }
}
