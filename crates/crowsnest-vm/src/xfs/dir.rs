//! XFS version 2 and 3 directories. A shortform directory lives in the inode; every other form
//! (block, leaf, node) keeps its entries in data blocks at the start of the directory's
//! address space, which `di_size` covers, and its hash index (leaf and free blocks) past
//! 32 GiB. The data blocks are read in order and parsed one by one; the index is not needed
//! to list the entries.

use std::io::Read;

use super::{Inode, Xfs, FORMAT_BTREE, FORMAT_EXTENTS, FORMAT_LOCAL};
use crate::error::{be32, be64};
use crate::filesystem::{DirEntry, InodeKind};
use crate::VmError;

/// Data block magics: "XD2B" (single-block directory) and "XD2D" (data block of a leaf or
/// node directory), and their v5 forms "XDB3" and "XDD3".
const BLOCK_MAGIC: u32 = 0x5844_3242;
const DATA_MAGIC: u32 = 0x5844_3244;
const BLOCK3_MAGIC: u32 = 0x5844_4233;
const DATA3_MAGIC: u32 = 0x5844_4433;
/// An unused region of a data block starts with this tag.
const FREE_TAG: u16 = 0xFFFF;

impl Xfs {
    /// The entries of directory `inode`, without `.` and `..`.
    pub fn read_dir_inode(&self, inode: &Inode) -> Result<Vec<DirEntry>, VmError> {
        let ino = inode.stat.ino;
        if inode.stat.kind != InodeKind::Dir {
            return Err(VmError::invalid(format!(
                "xfs: inode {ino} is not a directory"
            )));
        }
        match inode.format {
            FORMAT_LOCAL => self.shortform(inode),
            FORMAT_EXTENTS | FORMAT_BTREE => {
                let size = inode.stat.size;
                if size > self.limits.max_dir_bytes {
                    return Err(VmError::Oversized(format!(
                        "xfs: directory inode {ino} of {size} bytes"
                    )));
                }
                let mut data = Vec::with_capacity(size as usize);
                self.open_inode(inode)?
                    .read_to_end(&mut data)
                    .map_err(|e| VmError::invalid(format!("xfs: directory inode {ino}: {e}")))?;
                let mut out = Vec::new();
                for (i, block) in data.chunks(self.dir_block_size as usize).enumerate() {
                    self.data_block(ino, i, block, &mut out)?;
                }
                Ok(out)
            }
            other => Err(VmError::invalid(format!(
                "xfs: directory inode {ino} in data fork format {other}"
            ))),
        }
    }

    /// A shortform directory: a header (count, count of 8-byte inode numbers, parent), then
    /// entries of name length, a 2-byte offset, the name, the file type when the filesystem
    /// records it, and the inode number.
    fn shortform(&self, inode: &Inode) -> Result<Vec<DirEntry>, VmError> {
        let ino = inode.stat.ino;
        let bad = |what: &str| VmError::invalid(format!("xfs: shortform directory {ino}: {what}"));
        let data = inode
            .fork
            .get(..inode.stat.size as usize)
            .ok_or_else(|| bad("larger than its inode"))?;
        if data.len() < 6 {
            return Err(bad("too short"));
        }
        let count = usize::from(data[0]);
        let ino_len = if data[1] > 0 { 8 } else { 4 };
        let ftype = usize::from(self.ftype);
        let mut pos = 2 + ino_len;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let name_len = usize::from(*data.get(pos).ok_or_else(|| bad("entry past its end"))?);
            let name_at = pos + 3;
            let ino_at = name_at + name_len + ftype;
            if name_len == 0 || ino_at + ino_len > data.len() {
                return Err(bad("entry past its end"));
            }
            let child = if ino_len == 8 {
                be64(data, ino_at)
            } else {
                u64::from(be32(data, ino_at))
            };
            out.push(DirEntry {
                ino: child,
                name: String::from_utf8_lossy(&data[name_at..name_at + name_len]).into_owned(),
            });
            pos = ino_at + ino_len;
        }
        Ok(out)
    }

    /// One directory data block: a header, then entries (8-byte inode number, name length,
    /// name, file type, 2-byte tag, padded to 8 bytes) and free regions; a single-block
    /// directory ends with its hash index and a tail counting it.
    fn data_block(
        &self,
        ino: u64,
        index: usize,
        block: &[u8],
        out: &mut Vec<DirEntry>,
    ) -> Result<(), VmError> {
        let bad = |what: String| {
            VmError::invalid(format!("xfs: directory {ino}, data block {index}: {what}"))
        };
        let magic = be32(block, 0);
        let (hdr, single) = match magic {
            // A hole: a data block freed when its last entry went.
            0 => return Ok(()),
            BLOCK_MAGIC if !self.v5 => (16, true),
            DATA_MAGIC if !self.v5 => (16, false),
            BLOCK3_MAGIC if self.v5 => (64, true),
            DATA3_MAGIC if self.v5 => (64, false),
            other => return Err(bad(format!("bad magic {other:#x}"))),
        };
        if self.v5 && be64(block, 40) != ino {
            return Err(bad(format!("owned by inode {}", be64(block, 40))));
        }
        let end = if single {
            let leaves = be32(block, block.len().saturating_sub(8)) as usize;
            leaves
                .checked_mul(8)
                .and_then(|l| block.len().checked_sub(8 + l))
                .filter(|&end| end >= hdr)
                .ok_or_else(|| bad(format!("{leaves} hash entries")))?
        } else {
            block.len()
        };
        let ftype = usize::from(self.ftype);
        let mut pos = hdr;
        while pos < end {
            if end - pos < 8 {
                return Err(bad(format!("entry at {pos} past the end")));
            }
            if u16::from_be_bytes([block[pos], block[pos + 1]]) == FREE_TAG {
                let len = usize::from(u16::from_be_bytes([block[pos + 2], block[pos + 3]]));
                if len < 8 || len % 8 != 0 || len > end - pos {
                    return Err(bad(format!("free region of {len} bytes at {pos}")));
                }
                pos += len;
                continue;
            }
            let name_len = usize::from(*block.get(pos + 8).unwrap_or(&0));
            let size = (8 + 1 + name_len + ftype + 2).div_ceil(8) * 8;
            if name_len == 0 || size > end - pos {
                return Err(bad(format!("entry of {name_len}-byte name at {pos}")));
            }
            let name = &block[pos + 9..pos + 9 + name_len];
            if name != b"." && name != b".." {
                out.push(DirEntry {
                    ino: be64(block, pos),
                    name: String::from_utf8_lossy(name).into_owned(),
                });
            }
            pos += size;
        }
        Ok(())
    }
}
