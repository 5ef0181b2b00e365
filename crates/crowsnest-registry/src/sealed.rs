//! Registry credentials encrypted at rest: XChaCha20-Poly1305 under a 256-bit server key kept
//! in the data directory (`registry.key`, mode 0600), so a copy of the database alone does not
//! reveal passwords. The registry's uid is bound as associated data, so a sealed secret copied
//! onto another registry's record does not open.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::RegistryError;

/// The key file's name inside the data directory.
pub const KEY_FILE: &str = "registry.key";

/// Sealed texts start with this, so a future format can be told apart.
const PREFIX: &str = "v1:";

/// The server key that seals registry credentials.
pub struct ServerKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(***)")
    }
}

impl ServerKey {
    /// Loads `<data_dir>/registry.key`, creating it (random, mode 0600) on first use.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, RegistryError> {
        let path = data_dir.join(KEY_FILE);
        let io =
            |e: std::io::Error, p: &PathBuf| RegistryError::Sealed(format!("{}: {e}", p.display()));
        match std::fs::read(&path) {
            Ok(bytes) => Self::from_bytes(&bytes, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir).map_err(|e| io(e, &data_dir.to_path_buf()))?;
                let key = XChaCha20Poly1305::generate_key(&mut OsRng);
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                match options.open(&path) {
                    Ok(mut file) => {
                        file.write_all(key.as_slice()).map_err(|e| io(e, &path))?;
                        file.sync_all().map_err(|e| io(e, &path))?;
                        Ok(ServerKey {
                            cipher: XChaCha20Poly1305::new(&key),
                        })
                    }
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let bytes = std::fs::read(&path).map_err(|e| io(e, &path))?;
                        Self::from_bytes(&bytes, &path)
                    }
                    Err(e) => Err(io(e, &path)),
                }
            }
            Err(e) => Err(io(e, &path)),
        }
    }

    fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, RegistryError> {
        let cipher = XChaCha20Poly1305::new_from_slice(bytes).map_err(|_| {
            RegistryError::Sealed(format!("{} does not hold a 32-byte key", path.display()))
        })?;
        Ok(ServerKey { cipher })
    }

    /// Seals `secret` for the registry `uid`.
    pub fn seal(&self, uid: &str, secret: &str) -> Result<String, RegistryError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.as_bytes(),
                    aad: uid.as_bytes(),
                },
            )
            .map_err(|_| RegistryError::Sealed("encryption failed".into()))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ))
    }

    /// Opens a text [`ServerKey::seal`] made for `uid`.
    pub fn open(&self, uid: &str, sealed: &str) -> Result<String, RegistryError> {
        let bad = || {
            RegistryError::Sealed(format!(
                "the credentials of registry {uid} do not open with this server key"
            ))
        };
        let body = sealed.strip_prefix(PREFIX).ok_or_else(bad)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| bad())?;
        if bytes.len() < 24 {
            return Err(bad());
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: uid.as_bytes(),
                },
            )
            .map_err(|_| bad())?;
        String::from_utf8(plain).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_for_their_registry_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = ServerKey::load_or_create(dir.path()).unwrap();
        let sealed = key.seal("reg-1", "s3cret").unwrap();
        assert!(!sealed.contains("s3cret"));
        assert_eq!(key.open("reg-1", &sealed).unwrap(), "s3cret");
        assert!(key.open("reg-2", &sealed).is_err());
        // The key persists: a second load opens what the first sealed.
        let again = ServerKey::load_or_create(dir.path()).unwrap();
        assert_eq!(again.open("reg-1", &sealed).unwrap(), "s3cret");
        let other = tempfile::tempdir().unwrap();
        let stranger = ServerKey::load_or_create(other.path()).unwrap();
        assert_eq!(
            stranger.open("reg-1", &sealed).unwrap_err().code(),
            "credentials_unreadable"
        );
    }
}
