//! Operating-system package managers: dpkg, apk, rpm.
//!
//! Each reads the package manager's own database as captured from the image; none runs the
//! package manager. The databases are hostile input: every count, offset and length read from
//! them is checked before use, and a file larger than [`CatalogContext::max_in_memory`] is
//! refused rather than read.

use std::io::Read;

use crowsnest_model::ImagePath;

use crate::{CatalogContext, CatalogError, Cataloger, FileInput};

pub mod apk;
pub mod dpkg;
pub mod rpm;

/// The OS catalogers, in the order they run.
pub fn catalogers() -> Vec<Box<dyn Cataloger>> {
    vec![
        Box::new(dpkg::DpkgCataloger),
        Box::new(apk::ApkCataloger),
        Box::new(rpm::RpmCataloger),
    ]
}

/// Reads a whole wanted file into memory, refusing one larger than the context allows.
///
/// The declared size is checked first so an oversized file is refused without reading it; the
/// read itself is capped too, because the declared size comes from a tar header.
pub(crate) fn read_whole(
    file: &mut FileInput<'_>,
    cx: &CatalogContext<'_>,
) -> Result<Vec<u8>, CatalogError> {
    read_capped(
        file.path,
        &mut file.reader,
        file.meta.size,
        cx.max_in_memory,
    )
}

/// [`read_whole`] for any reader: refuses more than `limit` bytes.
pub(crate) fn read_capped(
    path: &ImagePath,
    reader: &mut dyn Read,
    declared: u64,
    limit: u64,
) -> Result<Vec<u8>, CatalogError> {
    let too_large = |size| CatalogError::TooLarge {
        path: path.to_string(),
        size,
        limit,
    };
    if declared > limit {
        return Err(too_large(declared));
    }
    let mut buf = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| CatalogError::io(path, e))?;
    let read = buf.len() as u64;
    if read > limit {
        return Err(too_large(read));
    }
    Ok(buf)
}
