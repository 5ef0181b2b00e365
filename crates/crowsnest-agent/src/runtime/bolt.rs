//! A read-only reader of bbolt files, enough to walk containerd's metadata database
//! (`io.containerd.metadata.v1.bolt/meta.db`): nested buckets of byte keys and values.
//!
//! The format (go.etcd.io/bbolt): fixed-size pages; pages 0 and 1 are meta pages (magic,
//! version 2, page size, the root bucket, a transaction id and an FNV-64a checksum), the valid
//! one with the higher transaction id wins. A bucket is a B+tree of branch pages (key, child
//! page) and leaf pages (flags, key, value); a value flagged as a bucket holds the child
//! bucket's 16-byte header (root page, sequence) and, when the root page is 0, the child's
//! whole single page inline right after it. Integers are little-endian (bbolt writes the
//! host's order; every platform containerd ships on is little-endian).
//!
//! The file is untrusted input to this reader: every offset is checked against the file, the
//! tree depth is bounded and a page is never followed twice on one path, so a corrupt or
//! hostile file is an error, never a panic or a loop.

use std::path::Path;

use crate::AgentError;

const MAGIC: u32 = 0xED0C_DAED;
const PAGE_HEADER: usize = 16;
const ELEMENT: usize = 16;
/// A bucket value starts with the bucket header: root page (u64) and sequence (u64).
const BUCKET_HEADER: usize = 16;
const BRANCH: u16 = 0x01;
const LEAF: u16 = 0x02;
const BUCKET_LEAF: u32 = 0x01;
/// Deeper than this is a corrupt tree (bbolt trees of millions of keys stay under 10).
const MAX_DEPTH: usize = 32;
/// containerd's metadata database is small; this bounds memory on a hostile file.
pub(crate) const MAX_FILE_BYTES: u64 = 1 << 30;

/// An opened bbolt file.
pub(crate) struct Bolt {
    data: Vec<u8>,
    page_size: usize,
    root: u64,
}

/// Where a bucket's tree lives.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Bucket {
    /// A tree rooted at a page.
    Page(u64),
    /// A single inline page at this byte range of the file.
    Inline(usize, usize),
}

/// A bucket entry.
#[derive(Clone, Debug)]
pub(crate) enum Entry {
    /// A plain value.
    Value(Vec<u8>),
    /// A nested bucket.
    Bucket(Bucket),
}

fn corrupt(what: impl Into<String>) -> AgentError {
    AgentError::CorruptMetadata(format!("bbolt: {}", what.into()))
}

fn u16_at(d: &[u8], at: usize) -> Result<u16, AgentError> {
    d.get(at..at + 2)
        .and_then(|b| b.try_into().ok())
        .map(u16::from_le_bytes)
        .ok_or_else(|| corrupt(format!("read past the end at {at}")))
}

fn u32_at(d: &[u8], at: usize) -> Result<u32, AgentError> {
    d.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| corrupt(format!("read past the end at {at}")))
}

fn u64_at(d: &[u8], at: usize) -> Result<u64, AgentError> {
    d.get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| corrupt(format!("read past the end at {at}")))
}

fn fnv64a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Bolt {
    /// Reads and checks the file at `path`.
    pub(crate) fn open(path: &Path) -> Result<Bolt, AgentError> {
        let size = std::fs::metadata(path)
            .map_err(|e| AgentError::io(path, e))?
            .len();
        if size > MAX_FILE_BYTES {
            return Err(corrupt(format!("{} is larger than 1 GiB", path.display())));
        }
        let data = std::fs::read(path).map_err(|e| AgentError::io(path, e))?;
        Bolt::from_bytes(data)
    }

    /// Parses a whole file's bytes.
    pub(crate) fn from_bytes(data: Vec<u8>) -> Result<Bolt, AgentError> {
        // The page size is in page 0's meta; page 1's meta sits one page further.
        let page_size = u32_at(&data, PAGE_HEADER + 8)? as usize;
        if !(512..=(1 << 20)).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(corrupt(format!("page size {page_size}")));
        }
        let mut best: Option<(u64, u64)> = None;
        for page in 0..2 {
            let at = page * page_size + PAGE_HEADER;
            let Some(meta) = data.get(at..at + 64) else {
                continue;
            };
            let magic = u32_at(meta, 0)?;
            let version = u32_at(meta, 4)?;
            let checksum = u64_at(meta, 56)?;
            if magic != MAGIC || version != 2 || fnv64a(&meta[..56]) != checksum {
                continue;
            }
            let (root, txid) = (u64_at(meta, 16)?, u64_at(meta, 48)?);
            if best.is_none_or(|(_, t)| txid > t) {
                best = Some((root, txid));
            }
        }
        let (root, _) = best.ok_or_else(|| corrupt("no valid meta page"))?;
        Ok(Bolt {
            data,
            page_size,
            root,
        })
    }

    /// The root bucket (its entries are the top-level buckets).
    pub(crate) fn root(&self) -> Bucket {
        Bucket::Page(self.root)
    }

    /// The byte range of page `id` (with its overflow pages).
    fn page(&self, id: u64) -> Result<(usize, usize), AgentError> {
        let start = usize::try_from(id)
            .ok()
            .and_then(|i| i.checked_mul(self.page_size))
            .filter(|s| *s + PAGE_HEADER <= self.data.len())
            .ok_or_else(|| corrupt(format!("page {id} is outside the file")))?;
        let overflow = u32_at(&self.data, start + 12)? as usize;
        let end = overflow
            .checked_add(1)
            .and_then(|n| n.checked_mul(self.page_size))
            .and_then(|len| start.checked_add(len))
            .map(|end| end.min(self.data.len()))
            .ok_or_else(|| corrupt(format!("page {id} overflows")))?;
        Ok((start, end))
    }

    /// Every entry of `bucket`, in key order.
    pub(crate) fn entries(&self, bucket: Bucket) -> Result<Vec<(Vec<u8>, Entry)>, AgentError> {
        let mut out = Vec::new();
        let mut path = Vec::new();
        match bucket {
            Bucket::Page(id) => self.walk_page(id, &mut out, &mut path)?,
            Bucket::Inline(start, end) => self.walk(start, end, &mut out, &mut path)?,
        }
        Ok(out)
    }

    /// The entry called `key` in `bucket`.
    pub(crate) fn get(&self, bucket: Bucket, key: &[u8]) -> Result<Option<Entry>, AgentError> {
        Ok(self
            .entries(bucket)?
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, e)| e))
    }

    /// The nested bucket `key` of `bucket`, if there is one.
    pub(crate) fn bucket(&self, bucket: Bucket, key: &[u8]) -> Result<Option<Bucket>, AgentError> {
        Ok(match self.get(bucket, key)? {
            Some(Entry::Bucket(b)) => Some(b),
            _ => None,
        })
    }

    /// The plain value `key` of `bucket`, if there is one.
    pub(crate) fn value(&self, bucket: Bucket, key: &[u8]) -> Result<Option<Vec<u8>>, AgentError> {
        Ok(match self.get(bucket, key)? {
            Some(Entry::Value(v)) => Some(v),
            _ => None,
        })
    }

    fn walk_page(
        &self,
        id: u64,
        out: &mut Vec<(Vec<u8>, Entry)>,
        path: &mut Vec<u64>,
    ) -> Result<(), AgentError> {
        if path.len() >= MAX_DEPTH || path.contains(&id) {
            return Err(corrupt(format!("page {id} loops or nests too deep")));
        }
        path.push(id);
        let (start, end) = self.page(id)?;
        self.walk(start, end, out, path)?;
        path.pop();
        Ok(())
    }

    /// Walks the page occupying `start..end` (a file page or an inline one).
    fn walk(
        &self,
        start: usize,
        end: usize,
        out: &mut Vec<(Vec<u8>, Entry)>,
        path: &mut Vec<u64>,
    ) -> Result<(), AgentError> {
        let page = self
            .data
            .get(start..end)
            .ok_or_else(|| corrupt("page outside the file"))?;
        let flags = u16_at(page, 8)?;
        let count = usize::from(u16_at(page, 10)?);
        for i in 0..count {
            let el = PAGE_HEADER + i * ELEMENT;
            if flags & BRANCH != 0 {
                // The element's key only guides searches; a full walk needs the child only.
                let child = u64_at(page, el + 8)?;
                self.walk_page(child, out, path)?;
            } else if flags & LEAF != 0 {
                let entry_flags = u32_at(page, el)?;
                let pos = u32_at(page, el + 4)? as usize;
                let ksize = u32_at(page, el + 8)? as usize;
                let vsize = u32_at(page, el + 12)? as usize;
                let k0 = el
                    .checked_add(pos)
                    .ok_or_else(|| corrupt("key offset overflows"))?;
                let v0 = k0
                    .checked_add(ksize)
                    .ok_or_else(|| corrupt("value offset overflows"))?;
                let v1 = v0
                    .checked_add(vsize)
                    .ok_or_else(|| corrupt("value end overflows"))?;
                let key = page
                    .get(k0..v0)
                    .ok_or_else(|| corrupt("key outside its page"))?
                    .to_vec();
                let value = page
                    .get(v0..v1)
                    .ok_or_else(|| corrupt("value outside its page"))?;
                let entry = if entry_flags & BUCKET_LEAF != 0 {
                    let root = u64_at(value, 0)?;
                    if root == 0 {
                        if value.len() < BUCKET_HEADER + PAGE_HEADER {
                            return Err(corrupt("inline bucket too short"));
                        }
                        Entry::Bucket(Bucket::Inline(start + v0 + BUCKET_HEADER, start + v1))
                    } else {
                        Entry::Bucket(Bucket::Page(root))
                    }
                } else {
                    Entry::Value(value.to_vec())
                };
                out.push((key, entry));
            } else {
                return Err(corrupt(format!("page of unexpected type {flags:#x}")));
            }
        }
        Ok(())
    }
}

/// Decodes Go's `binary.PutVarint` (zig-zag) encoding, as containerd stores sizes.
pub(crate) fn varint(bytes: &[u8]) -> Option<i64> {
    let mut x: u64 = 0;
    for (i, b) in bytes.iter().enumerate().take(10) {
        x |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let v = (x >> 1) as i64;
            return Some(if x & 1 != 0 { !v } else { v });
        }
    }
    None
}

/// Decodes Go's `time.Time.MarshalBinary` to Unix milliseconds.
pub(crate) fn go_time_ms(bytes: &[u8]) -> Option<i64> {
    // version (1 or 2), seconds since year 1 (i64 BE), nanoseconds (i32 BE), zone offset.
    if !matches!(bytes.first(), Some(1 | 2)) {
        return None;
    }
    let secs = i64::from_be_bytes(bytes.get(1..9)?.try_into().ok()?);
    let nanos = i32::from_be_bytes(bytes.get(9..13)?.try_into().ok()?);
    const UNIX_FROM_YEAR_ONE: i64 = 62_135_596_800;
    secs.checked_sub(UNIX_FROM_YEAR_ONE)?
        .checked_mul(1000)?
        .checked_add(i64::from(nanos / 1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_as_go_writes_them() {
        assert_eq!(varint(&[0]), Some(0));
        assert_eq!(varint(&[1]), Some(-1));
        assert_eq!(varint(&[2]), Some(1));
        // 300 -> zig-zag 600 -> 0xd8 0x04
        assert_eq!(varint(&[0xd8, 0x04]), Some(300));
        assert_eq!(varint(&[0x80]), None);
    }

    #[test]
    fn corrupt_files_are_errors() {
        assert!(Bolt::from_bytes(Vec::new()).is_err());
        assert!(Bolt::from_bytes(vec![0; 8192]).is_err());
        let mut junk = vec![0xffu8; 8192];
        junk[24..28].copy_from_slice(&4096u32.to_le_bytes());
        assert!(Bolt::from_bytes(junk).is_err());
    }
}
