//! Language ecosystems: Python, npm, Java, Go, Rust, Ruby, PHP.
//!
//! One submodule per ecosystem, each with one cataloger and a parser per file format. Package
//! names are reported as the ecosystem declares them (purl normalisation happens in the model),
//! and every reader is bounded: text manifests are read whole only under
//! [`CatalogContext::max_in_memory`], archives and executables are read with seeks.

use std::io::Read;

use crate::{CatalogContext, CatalogError, Cataloger, FileInput};

pub mod executable;
pub mod golang;
pub mod java;
pub mod npm;
pub mod php;
pub mod python;
pub mod ruby;
pub mod rust;

/// The language catalogers, in the order they run.
pub fn catalogers() -> Vec<Box<dyn Cataloger>> {
    vec![
        Box::new(python::PythonCataloger),
        Box::new(npm::NpmCataloger),
        Box::new(java::JavaCataloger::default()),
        Box::new(golang::GoBinaryCataloger),
        Box::new(rust::RustCataloger),
        Box::new(ruby::GemspecCataloger),
        Box::new(php::ComposerCataloger),
    ]
}

/// Reads a whole manifest-sized file, refusing one larger than `cx.max_in_memory`. The declared
/// size is checked first so that a huge file is refused without reading; the read itself is
/// capped too, because the declared size comes from a tar header and may lie.
pub(crate) fn read_bounded(
    file: &mut FileInput<'_>,
    cx: &CatalogContext<'_>,
) -> Result<Vec<u8>, CatalogError> {
    let limit = cx.max_in_memory;
    let too_large = |size: u64| CatalogError::TooLarge {
        path: file.path.to_string(),
        size,
        limit,
    };
    if file.meta.size > limit {
        return Err(too_large(file.meta.size));
    }
    let mut buf = Vec::new();
    let read = (&mut *file.reader)
        .take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| CatalogError::io(file.path, e))?;
    if read as u64 > limit {
        return Err(too_large(read as u64));
    }
    Ok(buf)
}

/// Like [`read_bounded`], decoded as UTF-8 with invalid sequences replaced: package manifests
/// are text, and one stray byte in a description must not hide the name and version.
pub(crate) fn read_text(
    file: &mut FileInput<'_>,
    cx: &CatalogContext<'_>,
) -> Result<String, CatalogError> {
    let bytes = read_bounded(file, cx)?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// The image path as reported in `Package::location` (with its leading `/`).
pub(crate) fn location(file: &FileInput<'_>) -> String {
    file.path.to_string()
}
