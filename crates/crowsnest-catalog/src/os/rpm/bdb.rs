//! Berkeley DB hash databases (`var/lib/rpm/Packages`, rpm before 4.16): the value blobs.
//!
//! The file is a sequence of fixed-size pages. Page 0 is the hash metadata page (page size,
//! last page number, byte order given by which way round the magic number reads). Hash pages
//! hold key/value item pairs; a value too large for a page is an "off-page" item naming the
//! first of a chain of overflow pages. rpm's keys are package instance numbers; instance 0
//! holds a counter, not a package, and is skipped.
//!
//! Rather than follow the bucket structure, every page is visited in file order and every hash
//! page's pairs are read, which finds the same items and cannot loop. Encrypted databases are
//! refused.

/// Magic number of a hash database.
const HASH_MAGIC: u32 = 0x0006_1561;
/// Size of the generic page header.
const PAGE_HEADER: usize = 26;

const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASHMETA: u8 = 8;
const P_HASH: u8 = 13;

const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;

/// Why a Berkeley DB file cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum BdbError {
    /// Not a hash database, or its metadata is inconsistent.
    #[error("not a Berkeley DB hash database: {0}")]
    NotHash(&'static str),
    /// The file is shorter than its metadata says.
    #[error("truncated: {pages} pages of {page_size} bytes declared, file has {len} bytes")]
    Truncated {
        pages: u64,
        page_size: usize,
        len: usize,
    },
    /// A page or item is inconsistent.
    #[error("page {page}: {reason}")]
    BadPage { page: u64, reason: &'static str },
}

/// Reads integers in the byte order of the file's creator.
#[derive(Clone, Copy)]
struct Order {
    big_endian: bool,
}

impl Order {
    fn u32(self, buf: &[u8], at: usize) -> Option<u32> {
        let b: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn u16(self, buf: &[u8], at: usize) -> Option<u16> {
        let b: [u8; 2] = buf.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }
}

/// Every value blob of the database, in page order, except rpm's instance-0 counter.
pub(crate) fn values(file: &[u8]) -> Result<Vec<Vec<u8>>, BdbError> {
    let magic_le = file.get(12..16).map(|b| [b[0], b[1], b[2], b[3]]);
    let order = match magic_le {
        Some(b) if u32::from_le_bytes(b) == HASH_MAGIC => Order { big_endian: false },
        Some(b) if u32::from_be_bytes(b) == HASH_MAGIC => Order { big_endian: true },
        _ => return Err(BdbError::NotHash("bad magic")),
    };
    let page_size = order
        .u32(file, 20)
        .ok_or(BdbError::NotHash("short metadata"))? as usize;
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(BdbError::NotHash("bad page size"));
    }
    if file.get(24).copied() != Some(0) {
        return Err(BdbError::NotHash("encrypted"));
    }
    if file.get(25).copied() != Some(P_HASHMETA) {
        return Err(BdbError::NotHash("first page is not hash metadata"));
    }
    let last_pgno = order
        .u32(file, 32)
        .ok_or(BdbError::NotHash("short metadata"))?;
    let pages = u64::from(last_pgno) + 1;
    if pages.saturating_mul(page_size as u64) > file.len() as u64 {
        return Err(BdbError::Truncated {
            pages,
            page_size,
            len: file.len(),
        });
    }
    let db = Db {
        file,
        order,
        page_size,
        pages,
    };
    let mut out = Vec::new();
    for pgno in 1..pages {
        let page = db.page(pgno)?;
        let ty = page.get(25).copied();
        if ty == Some(P_HASH) || ty == Some(P_HASH_UNSORTED) {
            db.hash_page_values(pgno, page, &mut out)?;
        }
    }
    Ok(out)
}

struct Db<'a> {
    file: &'a [u8],
    order: Order,
    page_size: usize,
    pages: u64,
}

impl<'a> Db<'a> {
    fn page(&self, pgno: u64) -> Result<&'a [u8], BdbError> {
        let bad = BdbError::BadPage {
            page: pgno,
            reason: "outside the file",
        };
        if pgno >= self.pages {
            return Err(bad);
        }
        let start = usize::try_from(pgno)
            .ok()
            .and_then(|p| p.checked_mul(self.page_size))
            .ok_or(BdbError::BadPage {
                page: pgno,
                reason: "outside the file",
            })?;
        self.file.get(start..start + self.page_size).ok_or(bad)
    }

    /// The bytes of item `index` on a hash page: from its offset to the previous item's.
    fn item(&self, pgno: u64, page: &'a [u8], index: usize) -> Result<&'a [u8], BdbError> {
        let bad = |reason| BdbError::BadPage { page: pgno, reason };
        let offset_of = |i: usize| -> Result<usize, BdbError> {
            self.order
                .u16(page, PAGE_HEADER + 2 * i)
                .map(usize::from)
                .ok_or(bad("item index beyond the page"))
        };
        let start = offset_of(index)?;
        let end = if index == 0 {
            self.page_size
        } else {
            offset_of(index - 1)?
        };
        if start < PAGE_HEADER || start >= end || end > self.page_size {
            return Err(bad("item offsets out of order"));
        }
        page.get(start..end).ok_or(bad("item outside the page"))
    }

    fn hash_page_values(
        &self,
        pgno: u64,
        page: &'a [u8],
        out: &mut Vec<Vec<u8>>,
    ) -> Result<(), BdbError> {
        let bad = |reason| BdbError::BadPage { page: pgno, reason };
        let entries = usize::from(self.order.u16(page, 20).ok_or(bad("short header"))?);
        if PAGE_HEADER + 2 * entries > self.page_size {
            return Err(bad("more entries than fit the page"));
        }
        for pair in (0..entries.saturating_sub(1)).step_by(2) {
            let key = self.item(pgno, page, pair)?;
            if key.first() == Some(&H_KEYDATA) && key.get(1..).is_some_and(is_zero_instance) {
                continue;
            }
            let value = self.item(pgno, page, pair + 1)?;
            match value.first().copied() {
                Some(H_KEYDATA) => out.push(value.get(1..).unwrap_or_default().to_vec()),
                Some(H_OFFPAGE) => {
                    let first = self.order.u32(value, 4).ok_or(bad("short off-page item"))?;
                    let len = self.order.u32(value, 8).ok_or(bad("short off-page item"))?;
                    out.push(self.overflow(u64::from(first), len as usize)?);
                }
                _ => return Err(bad("unsupported item type")),
            }
        }
        Ok(())
    }

    /// Follows an overflow chain, collecting exactly `len` bytes.
    fn overflow(&self, first: u64, len: usize) -> Result<Vec<u8>, BdbError> {
        // A chain cannot be longer than the file, so a value cannot be either.
        if len > self.file.len() {
            return Err(BdbError::BadPage {
                page: first,
                reason: "overflow value longer than the file",
            });
        }
        let mut out = Vec::with_capacity(len);
        let mut pgno = first;
        let mut hops = 0u64;
        while out.len() < len {
            let bad = |reason| BdbError::BadPage { page: pgno, reason };
            hops += 1;
            if pgno == 0 || hops > self.pages {
                return Err(bad("overflow chain ends early or loops"));
            }
            let page = self.page(pgno)?;
            if page.get(25).copied() != Some(P_OVERFLOW) {
                return Err(bad("not an overflow page"));
            }
            let used = usize::from(self.order.u16(page, 22).ok_or(bad("short header"))?);
            let chunk = page
                .get(PAGE_HEADER..PAGE_HEADER + used)
                .ok_or(bad("overflow data beyond the page"))?;
            if out.len() + chunk.len() > len {
                return Err(bad("overflow chain longer than its value"));
            }
            out.extend_from_slice(chunk);
            pgno = u64::from(self.order.u32(page, 16).ok_or(bad("short header"))?);
        }
        Ok(out)
    }
}

fn is_zero_instance(key: &[u8]) -> bool {
    key.len() == 4 && key.iter().all(|&b| b == 0)
}
