//! Rust crates: `Cargo.lock` files ([`cargo_lock`]) and executables built with
//! cargo-auditable ([`auditable`]).

pub mod auditable;
pub mod cargo_lock;

use crowsnest_model::{Ecosystem, FileKind, FileMeta, ImagePath, Package};

use crate::language::executable::{read_layout, sniff};
use crate::language::{location, read_text};
use crate::{CatalogContext, CatalogError, Cataloger, FileInput};

pub use auditable::{read_auditable, AuditablePackage};
pub use cargo_lock::{parse_cargo_lock, LockedCrate};

/// The cataloger's name.
pub const NAME: &str = "language/rust";

/// Finds Rust crates in lock files and auditable binaries.
#[derive(Clone, Copy, Debug, Default)]
pub struct RustCataloger;

impl Cataloger for RustCataloger {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> u32 {
        // 2: an auditable binary's root is reported when it was published (not `local`).
        2
    }

    fn wants(&self, path: &ImagePath, meta: &FileMeta) -> bool {
        meta.kind == FileKind::Regular && (path.file_name() == "Cargo.lock" || meta.is_executable())
    }

    fn catalog(
        &self,
        mut file: FileInput<'_>,
        cx: &CatalogContext<'_>,
    ) -> Result<Vec<Package>, CatalogError> {
        let loc = location(&file);
        let path = file.path;
        if path.file_name() == "Cargo.lock" {
            let text = read_text(&mut file, cx)?;
            return Ok(parse_cargo_lock(&text)
                .into_iter()
                .map(|c| Package::new(Ecosystem::Cargo, c.name, c.version, loc.clone(), NAME))
                .collect());
        }
        let Some(format) = sniff(file.reader).map_err(|e| CatalogError::io(path, e))? else {
            return Ok(Vec::new());
        };
        let layout = read_layout(file.reader, format)
            .map_err(|e| CatalogError::malformed(path, format!("executable headers: {e}")))?;
        let list = read_auditable(file.reader, &layout)
            .map_err(|e| CatalogError::malformed(path, e.to_string()))?;
        Ok(list
            .unwrap_or_default()
            .into_iter()
            .filter(auditable::is_reported)
            .map(|p| Package::new(Ecosystem::Cargo, p.name, p.version, loc.clone(), NAME))
            .collect())
    }
}
