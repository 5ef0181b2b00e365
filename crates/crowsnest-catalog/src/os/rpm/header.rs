//! The rpm header blob, as every rpmdb backend stores one per installed package.
//!
//! Layout (all integers big-endian): `il` (u32, index entries), `dl` (u32, data bytes), `il`
//! entries of 16 bytes (`tag`, `type`, `offset`, `count`), then `dl` bytes of data. Only the
//! few tags a package listing needs are read, each checked against the data store's bounds.

/// Index entries a header may have; rpm itself refuses more than 0xffff.
const MAX_INDEX_ENTRIES: usize = 0xffff;
/// Data bytes a header may have; rpm's own limit is 256 MiB.
const MAX_DATA: usize = 256 << 20;

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_LICENSE: u32 = 1014;
const TAG_ARCH: u32 = 1022;
const TAG_SOURCERPM: u32 = 1044;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// The fields of one installed package's header that the cataloger reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RpmHeader {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) release: String,
    /// `None` when the header has no EPOCH tag (rpm -qa prints `(none)`).
    pub(crate) epoch: Option<i32>,
    pub(crate) arch: Option<String>,
    pub(crate) license: Option<String>,
    pub(crate) source_rpm: Option<String>,
}

/// Why a header blob cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// The blob is shorter than its own counts say.
    #[error("header blob of {len} bytes is truncated (needs {needed})")]
    Truncated { len: usize, needed: usize },
    /// A count is beyond rpm's own limits.
    #[error("header declares {entries} entries and {data} data bytes, beyond rpm's limits")]
    TooBig { entries: usize, data: usize },
    /// An entry points outside the data store or has an unexpected type.
    #[error("header tag {tag} is malformed")]
    BadEntry { tag: u32 },
    /// NAME, VERSION or RELEASE is missing.
    #[error("header has no tag {tag}")]
    Missing { tag: u32 },
}

fn be_u32(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// One index entry.
#[derive(Clone, Copy)]
struct Entry {
    tag: u32,
    ty: u32,
    offset: u32,
    count: u32,
}

/// Parses a header blob.
pub(crate) fn parse(blob: &[u8]) -> Result<RpmHeader, HeaderError> {
    let truncated = |needed| HeaderError::Truncated {
        len: blob.len(),
        needed,
    };
    let il = be_u32(blob, 0).ok_or(truncated(8))? as usize;
    let dl = be_u32(blob, 4).ok_or(truncated(8))? as usize;
    if il > MAX_INDEX_ENTRIES || dl > MAX_DATA {
        return Err(HeaderError::TooBig {
            entries: il,
            data: dl,
        });
    }
    // Both are bounded above, so this cannot overflow.
    let data_start = 8 + il * 16;
    let needed = data_start + dl;
    let data = blob.get(data_start..needed).ok_or(truncated(needed))?;
    let entry = |i: usize| -> Option<Entry> {
        let at = 8 + i * 16;
        Some(Entry {
            tag: be_u32(blob, at)?,
            ty: be_u32(blob, at + 4)?,
            offset: be_u32(blob, at + 8)?,
            count: be_u32(blob, at + 12)?,
        })
    };
    let find = |tag: u32| -> Option<Entry> { (0..il).filter_map(entry).find(|e| e.tag == tag) };
    let string = |tag: u32| -> Result<Option<String>, HeaderError> {
        let Some(e) = find(tag) else {
            return Ok(None);
        };
        let bad = HeaderError::BadEntry { tag };
        if !matches!(e.ty, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) || e.count == 0 {
            return Err(bad);
        }
        // For arrays the first element is the one rpm -q prints (the C locale for I18N).
        let rest = data.get(e.offset as usize..).ok_or(bad)?;
        let end = memchr::memchr(0, rest).ok_or(HeaderError::BadEntry { tag })?;
        Ok(Some(String::from_utf8_lossy(&rest[..end]).into_owned()))
    };
    let required = |tag: u32| -> Result<String, HeaderError> {
        string(tag)?.ok_or(HeaderError::Missing { tag })
    };
    let epoch = match find(TAG_EPOCH) {
        None => None,
        Some(e) => {
            let bad = HeaderError::BadEntry { tag: TAG_EPOCH };
            if e.ty != TYPE_INT32 || e.count == 0 {
                return Err(bad);
            }
            let value = be_u32(data, e.offset as usize).ok_or(bad)?;
            Some(value as i32)
        }
    };
    Ok(RpmHeader {
        name: required(TAG_NAME)?,
        version: required(TAG_VERSION)?,
        release: required(TAG_RELEASE)?,
        epoch,
        arch: string(TAG_ARCH)?,
        license: string(TAG_LICENSE)?,
        source_rpm: string(TAG_SOURCERPM)?,
    })
}

/// The source package's name and `version-release` from a SRPM file name such as
/// `util-linux-2.32.1-42.el8_8.src.rpm`.
pub(crate) fn split_source_rpm(srpm: &str) -> Option<(&str, &str)> {
    let stem = srpm
        .strip_suffix(".src.rpm")
        .or_else(|| srpm.strip_suffix(".nosrc.rpm"))?;
    let (name_version, _release) = stem.rsplit_once('-')?;
    let (name, version) = name_version.rsplit_once('-')?;
    if name.is_empty() || version.is_empty() {
        return None;
    }
    Some((name, &stem[name.len() + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a header blob from (tag, type, payload) entries, strings NUL-terminated.
    fn blob(entries: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, ty, payload) in entries {
            index.extend_from_slice(&tag.to_be_bytes());
            index.extend_from_slice(&ty.to_be_bytes());
            index.extend_from_slice(&(data.len() as u32).to_be_bytes());
            index.extend_from_slice(&1u32.to_be_bytes());
            data.extend_from_slice(payload);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(&index);
        out.extend_from_slice(&data);
        out
    }

    #[test]
    fn reads_tags_and_rejects_bad_offsets() {
        let b = blob(&[
            (TAG_NAME, TYPE_STRING, b"bash\0"),
            (TAG_VERSION, TYPE_STRING, b"5.1\0"),
            (TAG_RELEASE, TYPE_STRING, b"1\0"),
            (TAG_EPOCH, TYPE_INT32, &2u32.to_be_bytes()),
        ]);
        let h = parse(&b).unwrap();
        assert_eq!((h.name.as_str(), h.epoch), ("bash", Some(2)));
        assert_eq!(h.arch, None);
        assert!(parse(&b[..b.len() - 1]).is_err());
        let mut bad = b.clone();
        bad[8 + 8..8 + 12].copy_from_slice(&1000u32.to_be_bytes());
        assert_eq!(parse(&bad), Err(HeaderError::BadEntry { tag: TAG_NAME }));
    }

    #[test]
    fn splits_source_rpm_names() {
        assert_eq!(
            split_source_rpm("util-linux-2.32.1-42.el8_8.src.rpm"),
            Some(("util-linux", "2.32.1-42.el8_8"))
        );
        assert_eq!(split_source_rpm("x-1.src.rpm"), None);
        assert_eq!(split_source_rpm("x-1-2.rpm"), None);
    }
}
