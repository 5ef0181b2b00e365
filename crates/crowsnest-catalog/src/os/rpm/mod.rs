//! rpm: Red Hat family, SUSE, Mariner/Azure Linux, Amazon Linux, Photon.
//!
//! Reads the installed-package database in any of rpm's three backends, entirely in-process
//! (no `rpm` binary at scan time): SQLite `rpmdb.sqlite`, Berkeley DB `Packages` and ndb
//! `Packages.db`, in `var/lib/rpm/` or `usr/lib/sysimage/rpm/`. The backend is chosen by the
//! file's magic bytes, not its name. Each backend yields rpm header blobs, parsed by [`header`].
//!
//! Output decisions:
//! - `version` is `epoch:version-release` when the header has an EPOCH tag, even epoch 0, and
//!   `version-release` when it has none. This is exactly what `rpm -q --qf
//!   '%{EPOCH}'` distinguishes (`0` versus `(none)`); rpm's comparison treats a missing epoch as
//!   0, so the two spellings compare equal and no information is lost or invented.
//! - `source_name` is the SRPM's name (`util-linux` for `util-linux-2.32.1-42.el8_8.src.rpm`);
//!   `source_version` is the SRPM's `version-release` when it differs from the binary's (the
//!   SRPM file name carries no epoch, so the epoch is left out of the comparison).
//! - `gpg-pubkey` entries are not reported: `rpm -qa` lists the imported signing keys as
//!   pseudo-packages, but they are keys, not software, and no advisory can apply to them.
//! - A header blob that cannot be parsed makes the whole file an error: a damaged binary
//!   database cannot be trusted to have yielded all its packages.

mod bdb;
mod header;
mod ndb;
mod sqlite;

use crowsnest_model::{Ecosystem, FileKind, FileMeta, ImagePath, Package};

use super::read_whole;
use crate::{CatalogContext, CatalogError, Cataloger, FileInput};

/// Finds rpm packages.
#[derive(Debug, Default, Clone, Copy)]
pub struct RpmCataloger;

const DB_DIRS: [&str; 2] = ["var/lib/rpm/", "usr/lib/sysimage/rpm/"];
const DB_FILES: [&str; 3] = ["rpmdb.sqlite", "Packages", "Packages.db"];

impl Cataloger for RpmCataloger {
    fn name(&self) -> &'static str {
        "os/rpm"
    }

    fn version(&self) -> u32 {
        1
    }

    fn wants(&self, path: &ImagePath, meta: &FileMeta) -> bool {
        let p = path.as_str();
        matches!(meta.kind, FileKind::Regular | FileKind::Symlink)
            && DB_DIRS.iter().any(|dir| {
                p.strip_prefix(dir)
                    .is_some_and(|name| DB_FILES.contains(&name))
            })
    }

    fn catalog(
        &self,
        mut file: FileInput<'_>,
        cx: &CatalogContext<'_>,
    ) -> Result<Vec<Package>, CatalogError> {
        let bytes = read_whole(&mut file, cx)?;
        let path = file.path;
        let malformed = |e: &dyn std::fmt::Display| CatalogError::malformed(path, e.to_string());
        let mut headers = Vec::new();
        let mut push = |blob: &[u8]| -> Result<(), CatalogError> {
            headers.push(header::parse(blob).map_err(|e| malformed(&e))?);
            Ok(())
        };
        if sqlite::is_sqlite(&bytes) {
            for blob in sqlite::blobs(&bytes).map_err(|e| malformed(&e))? {
                push(&blob)?;
            }
        } else if bytes.starts_with(b"RpmP") {
            for blob in ndb::blobs(&bytes).map_err(|e| malformed(&e))? {
                push(blob)?;
            }
        } else if bytes.is_empty() {
            return Err(CatalogError::malformed(path, "empty rpm database"));
        } else {
            for blob in bdb::values(&bytes).map_err(|e| malformed(&e))? {
                push(&blob)?;
            }
        }
        Ok(headers
            .into_iter()
            .filter(|h| h.name != "gpg-pubkey")
            .map(|h| package(h, path, self.name()))
            .collect())
    }
}

fn package(h: header::RpmHeader, path: &ImagePath, found_by: &str) -> Package {
    let version_release = format!("{}-{}", h.version, h.release);
    let version = match h.epoch {
        Some(epoch) => format!("{epoch}:{version_release}"),
        None => version_release.clone(),
    };
    let mut pkg = Package::new(Ecosystem::Rpm, h.name, version, path.to_string(), found_by);
    if let Some((name, source_version)) = h.source_rpm.as_deref().and_then(header::split_source_rpm)
    {
        pkg.source_name = Some(name.to_owned());
        if source_version != version_release {
            pkg.source_version = Some(source_version.to_owned());
        }
    }
    pkg.arch = h.arch;
    pkg.licenses = h.license.into_iter().collect();
    pkg
}
