//! Hashing blob bytes as they stream by, in whichever algorithm the expected digest names.

use crowsnest_model::{Digest, DigestAlgorithm};
use sha2::{Digest as _, Sha256, Sha512};

use crate::ImageError;

/// A running hash in the algorithm of the digest it will be compared with.
#[derive(Clone)]
pub(crate) enum ContentHasher {
    /// SHA-256 (nearly every image).
    Sha256(Sha256),
    /// SHA-512, which OCI descriptors also allow.
    Sha512(Sha512),
}

impl ContentHasher {
    /// A hasher for digests like `expected`.
    pub(crate) fn for_digest(expected: &Digest) -> Self {
        match expected.algorithm() {
            DigestAlgorithm::Sha256 => ContentHasher::Sha256(Sha256::new()),
            DigestAlgorithm::Sha512 => ContentHasher::Sha512(Sha512::new()),
        }
    }

    /// Feeds `bytes`.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            ContentHasher::Sha256(h) => h.update(bytes),
            ContentHasher::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed.
    pub(crate) fn finish(self) -> Digest {
        match self {
            ContentHasher::Sha256(h) => Digest::sha256_from_bytes(&h.finalize().into()),
            ContentHasher::Sha512(h) => sha512_digest(&h.finalize()),
        }
    }
}

fn sha512_digest(bytes: &[u8]) -> Digest {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(7 + bytes.len() * 2);
    text.push_str("sha512:");
    for b in bytes {
        text.push(char::from(DIGITS[usize::from(b >> 4)]));
        text.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    // 64 bytes of lower-case hex always parse; the fallback keeps the function total.
    text.parse()
        .unwrap_or_else(|_| Digest::sha256_from_bytes(&[0; 32]))
}

/// Compares `actual` with `expected`, naming `what` in the error.
pub(crate) fn verify(what: &str, expected: &Digest, actual: &Digest) -> Result<(), ImageError> {
    if expected == actual {
        Ok(())
    } else {
        Err(ImageError::DigestMismatch {
            what: what.to_owned(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

/// Hashes `bytes` in one go and compares with `expected`.
pub(crate) fn verify_bytes(what: &str, expected: &Digest, bytes: &[u8]) -> Result<(), ImageError> {
    let mut hasher = ContentHasher::for_digest(expected);
    hasher.update(bytes);
    verify(what, expected, &hasher.finish())
}
