//! rpm's own "ndb" format (`Packages.db`, SUSE since SLE 15 SP3): the header blobs.
//!
//! All integers are little-endian. The file starts with slot pages (4096 bytes each): a 32-byte
//! header (`RpmP` magic, format version 0, generation, number of slot pages, next package
//! index) in the place of the first two slots, then 16-byte slots (`Slot` magic, package
//! index, block offset, block count; index 0 marks a free slot). Each used slot points, in
//! 16-byte blocks, at a blob: a 16-byte head (`BlbS` magic, package index, generation, length),
//! the header blob, padding, and a 12-byte tail at the end of the blocks (checksum, length,
//! `BlbE` magic).

const PAGE_SIZE: usize = 4096;
const BLOCK: u64 = 16;
const HEADER_SIZE: usize = 32;
const SLOT_SIZE: usize = 16;
const BLOB_HEAD: u64 = 16;
const BLOB_TAIL: u64 = 12;

const HEADER_MAGIC: &[u8; 4] = b"RpmP";
const SLOT_MAGIC: &[u8; 4] = b"Slot";
const BLOB_HEAD_MAGIC: &[u8; 4] = b"BlbS";
const BLOB_TAIL_MAGIC: &[u8; 4] = b"BlbE";

/// Why an ndb file cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum NdbError {
    /// Not an ndb package database.
    #[error("not an rpm ndb database: {0}")]
    NotNdb(&'static str),
    /// A slot or blob is inconsistent.
    #[error("package index {pkgidx}: {reason}")]
    BadBlob { pkgidx: u32, reason: &'static str },
}

fn le_u32(buf: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

/// The header blob of every used slot, in slot order.
pub(crate) fn blobs(file: &[u8]) -> Result<Vec<&[u8]>, NdbError> {
    if file.get(..4) != Some(&HEADER_MAGIC[..]) {
        return Err(NdbError::NotNdb("bad magic"));
    }
    if le_u32(file, 4) != Some(0) {
        return Err(NdbError::NotNdb("unknown format version"));
    }
    let slot_pages = le_u32(file, 12).ok_or(NdbError::NotNdb("short header"))? as usize;
    let slot_area = slot_pages
        .checked_mul(PAGE_SIZE)
        .filter(|&n| n > 0 && n <= file.len())
        .ok_or(NdbError::NotNdb("slot pages beyond the file"))?;
    let mut out = Vec::new();
    for at in (HEADER_SIZE..slot_area).step_by(SLOT_SIZE) {
        let slot = file
            .get(at..at + SLOT_SIZE)
            .ok_or(NdbError::NotNdb("slot beyond the file"))?;
        if slot.get(..4) != Some(&SLOT_MAGIC[..]) {
            return Err(NdbError::NotNdb("slot without its magic"));
        }
        let field = |i: usize| le_u32(slot, 4 * i).unwrap_or(0);
        let (pkgidx, blkoff, blkcnt) = (field(1), field(2), field(3));
        if pkgidx == 0 {
            continue;
        }
        out.push(blob(file, pkgidx, blkoff, blkcnt)?);
    }
    Ok(out)
}

fn blob(file: &[u8], pkgidx: u32, blkoff: u32, blkcnt: u32) -> Result<&[u8], NdbError> {
    let bad = |reason| NdbError::BadBlob { pkgidx, reason };
    let start = u64::from(blkoff) * BLOCK;
    let size = u64::from(blkcnt) * BLOCK;
    let end = start + size;
    if end > file.len() as u64 || size < BLOB_HEAD + BLOB_TAIL {
        return Err(bad("blocks beyond the file"));
    }
    // Within the file, so these fit in usize.
    let area = file
        .get(start as usize..end as usize)
        .ok_or(bad("blocks beyond the file"))?;
    if area.get(..4) != Some(&BLOB_HEAD_MAGIC[..]) {
        return Err(bad("blob head without its magic"));
    }
    if le_u32(area, 4) != Some(pkgidx) {
        return Err(bad("blob belongs to another package index"));
    }
    let len = u64::from(le_u32(area, 12).ok_or(bad("short blob head"))?);
    if BLOB_HEAD + len + BLOB_TAIL > size {
        return Err(bad("blob longer than its blocks"));
    }
    // The tail sits at the end of the blocks, after any padding.
    let tail = (size - BLOB_TAIL) as usize;
    if le_u32(area, tail + 4) != Some(len as u32)
        || area.get(tail + 8..tail + 12) != Some(&BLOB_TAIL_MAGIC[..])
    {
        return Err(bad("blob tail does not match its head"));
    }
    area.get(BLOB_HEAD as usize..(BLOB_HEAD + len) as usize)
        .ok_or(bad("blob beyond its blocks"))
}
