//! A read-only XFS reader: the superblock (v4 and v5/CRC), inodes (v1/v2 and v3 cores), data
//! forks in local, extents and B+tree formats, directories (shortform, block, leaf and node:
//! every form keeps its entries in data blocks, which are read in order and the index blocks
//! skipped), symlinks (inline and remote) and regular files streamed by extents.
//!
//! All on-disk integers are big-endian. Metadata CRCs are not verified (as in [`crate::ext4`]);
//! every offset and count is checked instead, B+tree levels must strictly decrease, nodes and
//! extents are bounded by [`FsLimits`], and v5 blocks must name the inode that owns them.

mod dir;

use std::sync::{Arc, Mutex};

use crowsnest_model::ReadSeek;

use crate::disk::Disk;
use crate::error::{be32, be64};
use crate::filesystem::{
    BlockRead, DirEntry, Extent, ExtentReader, FsLimits, InodeKind, ReadOnlyFs, Stat,
};
use crate::VmError;

/// "XFSB".
const SB_MAGIC: u32 = 0x5846_5342;
/// "IN".
const INODE_MAGIC: u16 = 0x494e;
/// "BMAP" and "BMA3": B+tree blocks of a data fork.
const BMAP_MAGIC: u32 = 0x424d_4150;
const BMAP3_MAGIC: u32 = 0x424d_4133;
/// "XSLM": the header of a v5 remote symlink block.
const SYMLINK_MAGIC: u32 = 0x5853_4c4d;
/// Version-number bit: version 2 directories (every v4 filesystem Linux can mount has it).
const VERSION_DIRV2: u16 = 0x2000;
/// features2 bit of v4 filesystems: directory entries carry the file type.
const FEATURES2_FTYPE: u32 = 0x200;
/// v5 incompatible features.
const INCOMPAT_FTYPE: u32 = 0x1;
const INCOMPAT_NEEDSREPAIR: u32 = 0x10;
/// ftype, spinodes, meta_uuid, bigtime, nrext64, exchange-range (log items only) and parent
/// pointers (kept in attributes, which this reader ignores).
const INCOMPAT_KNOWN: u32 = 0x1 | 0x2 | 0x4 | 0x8 | 0x20 | 0x40 | 0x80;
/// Data fork formats.
const FORMAT_DEV: u8 = 0;
const FORMAT_LOCAL: u8 = 1;
const FORMAT_EXTENTS: u8 = 2;
const FORMAT_BTREE: u8 = 3;
/// di_flags: the file's data is on the realtime device.
const DIFLAG_REALTIME: u16 = 0x1;
/// di_flags2: timestamps are 64-bit nanosecond counters; extent counters are 64-bit.
const DIFLAG2_BIGTIME: u64 = 1 << 3;
const DIFLAG2_NREXT64: u64 = 1 << 4;
/// Bigtime counts nanoseconds from the smallest 32-bit time (1901).
const BIGTIME_EPOCH_OFFSET: i64 = 1 << 31;
/// Longest symlink target XFS stores.
const MAX_SYMLINK: u64 = 1024;
/// v5 remote symlink block header size.
const SYMLINK_HDR: usize = 56;
/// Deepest data-fork B+tree accepted (XFS's own maximum for 2^64 extents is below this).
const MAX_BMBT_LEVELS: u16 = 12;

/// An open XFS filesystem.
#[derive(Debug)]
pub struct Xfs {
    disk: Disk,
    block_size: u64,
    dblocks: u64,
    ag_blocks: u64,
    ag_count: u64,
    ag_blk_log: u32,
    inode_size: u64,
    inop_blog: u32,
    root_ino: u64,
    v5: bool,
    ftype: bool,
    dir_block_size: u64,
    limits: FsLimits,
    label: String,
    /// The last inode-holding block read: a directory's inodes are usually neighbours.
    inode_block: Mutex<Option<(u64, Arc<Vec<u8>>)>>,
}

/// One inode, decoded.
#[derive(Clone, Debug)]
pub struct Inode {
    /// Its metadata.
    pub stat: Stat,
    format: u8,
    nextents: u64,
    flags: u16,
    /// The data fork's bytes (inline data, extent records or the B+tree root).
    fork: Vec<u8>,
}

impl Xfs {
    /// True when `disk` starts with an XFS superblock.
    pub fn probe(disk: &Disk) -> bool {
        let mut sb = [0u8; 4];
        disk.size() >= 512 && disk.read_at(0, &mut sb).is_ok() && be32(&sb, 0) == SB_MAGIC
    }

    /// Opens the filesystem on `disk`.
    pub(crate) fn open(disk: Disk, limits: FsLimits) -> Result<Xfs, VmError> {
        let bad = |what: String| VmError::invalid(format!("xfs: {what}"));
        let mut sb = [0u8; 512];
        disk.read_at(0, &mut sb)
            .map_err(|e| bad(format!("no superblock ({e})")))?;
        if be32(&sb, 0) != SB_MAGIC {
            return Err(bad("no XFS superblock magic".into()));
        }
        let be16 = |at: usize| u16::from_be_bytes([sb[at], sb[at + 1]]);
        let versionnum = be16(100);
        let version = versionnum & 0xF;
        let v5 = match version {
            4 => false,
            5 => true,
            other => {
                return Err(VmError::Unsupported(format!(
                    "xfs: superblock version {other}"
                )))
            }
        };
        if !v5 && versionnum & VERSION_DIRV2 == 0 {
            return Err(VmError::Unsupported(
                "xfs: version 1 directories".to_owned(),
            ));
        }
        let incompat = if v5 { be32(&sb, 216) } else { 0 };
        if incompat & INCOMPAT_NEEDSREPAIR != 0 {
            return Err(VmError::Unsupported(
                "xfs: the filesystem is marked as needing repair (xfs_repair)".to_owned(),
            ));
        }
        if incompat & !INCOMPAT_KNOWN != 0 {
            return Err(VmError::Unsupported(format!(
                "xfs: unknown incompatible features {:#x}",
                incompat & !INCOMPAT_KNOWN
            )));
        }
        let block_size = u64::from(be32(&sb, 4));
        let block_log = u32::from(sb[120]);
        if !(512..=65536).contains(&block_size)
            || !block_size.is_power_of_two()
            || 1u64 << block_log.min(63) != block_size
        {
            return Err(bad(format!("block size {block_size} (log {block_log})")));
        }
        let sect_size = u64::from(be16(102));
        if !(512..=32768).contains(&sect_size) || !sect_size.is_power_of_two() {
            return Err(bad(format!("sector size {sect_size}")));
        }
        let inode_size = u64::from(be16(104));
        let min_inode = if v5 { 512 } else { 256 };
        if !(min_inode..=2048).contains(&inode_size)
            || !inode_size.is_power_of_two()
            || inode_size > block_size
            || 1u64 << u32::from(sb[122]).min(63) != inode_size
        {
            return Err(bad(format!("inode size {inode_size}")));
        }
        let inop_block = u64::from(be16(106));
        let inop_blog = u32::from(sb[123]);
        if inop_block != block_size / inode_size || 1u64 << inop_blog.min(63) != inop_block {
            return Err(bad(format!("{inop_block} inodes per block")));
        }
        let dblocks = be64(&sb, 8);
        let ag_blocks = u64::from(be32(&sb, 84));
        let ag_count = u64::from(be32(&sb, 88));
        let ag_blk_log = u32::from(sb[124]);
        if ag_blocks < 16
            || ag_count == 0
            || ag_blk_log > 31
            || ag_blocks > 1u64 << ag_blk_log
            || ag_blocks <= 1u64 << ag_blk_log.saturating_sub(1)
        {
            return Err(bad(format!(
                "allocation groups of {ag_blocks} blocks (log {ag_blk_log}), {ag_count} of them"
            )));
        }
        if dblocks == 0 || dblocks > ag_blocks * ag_count || dblocks <= ag_blocks * (ag_count - 1) {
            return Err(bad(format!(
                "{dblocks} blocks do not fill {ag_count} groups of {ag_blocks}"
            )));
        }
        if dblocks
            .checked_mul(block_size)
            .is_none_or(|b| b > disk.size())
        {
            return Err(bad(format!(
                "{dblocks} blocks of {block_size} bytes do not fit the {}-byte partition \
                 (truncated image?)",
                disk.size()
            )));
        }
        if ag_blk_log + inop_blog + 32 > 64 {
            return Err(bad("inode numbers wider than 64 bits".into()));
        }
        let dir_blk_log = u32::from(sb[192]);
        let dir_block_size = block_size << dir_blk_log.min(16);
        if dir_block_size > 65536 {
            return Err(bad(format!("directory block size {dir_block_size}")));
        }
        let ftype = if v5 {
            incompat & INCOMPAT_FTYPE != 0
        } else {
            versionnum & 0x8000 != 0 && be32(&sb, 200) & FEATURES2_FTYPE != 0
        };
        let label_raw = &sb[108..120];
        let label_end = label_raw.iter().position(|&b| b == 0).unwrap_or(12);
        let fs = Xfs {
            disk,
            block_size,
            dblocks,
            ag_blocks,
            ag_count,
            ag_blk_log,
            inode_size,
            inop_blog,
            root_ino: be64(&sb, 56),
            v5,
            ftype,
            dir_block_size,
            limits,
            label: String::from_utf8_lossy(&label_raw[..label_end]).into_owned(),
            inode_block: Mutex::new(None),
        };
        // The root must at least be addressable.
        fs.inode_position(fs.root_ino)?;
        Ok(fs)
    }

    /// Bytes per block.
    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    /// True for a v5 (CRC-enabled) filesystem.
    pub fn is_v5(&self) -> bool {
        self.v5
    }

    /// The linear block and byte offset within it of inode `ino`.
    fn inode_position(&self, ino: u64) -> Result<(u64, u64), VmError> {
        let agino_bits = self.ag_blk_log + self.inop_blog;
        let agno = ino >> agino_bits;
        let agbno = (ino >> self.inop_blog) & ((1u64 << self.ag_blk_log) - 1);
        let index = ino & ((1u64 << self.inop_blog) - 1);
        let block = agno
            .checked_mul(self.ag_blocks)
            .and_then(|b| b.checked_add(agbno));
        match block {
            Some(block)
                if agno < self.ag_count && agbno < self.ag_blocks && block < self.dblocks =>
            {
                Ok((block, index * self.inode_size))
            }
            _ => Err(VmError::invalid(format!(
                "xfs: inode {ino} lies outside the filesystem"
            ))),
        }
    }

    /// The linear block of filesystem block `fsb` (allocation group in the high bits), with
    /// a run of `len` blocks from it staying inside its group.
    fn linear_block(&self, fsb: u64, len: u64) -> Result<u64, VmError> {
        let agno = fsb >> self.ag_blk_log;
        let agbno = fsb & ((1u64 << self.ag_blk_log) - 1);
        let ok = agno < self.ag_count
            && agbno
                .checked_add(len)
                .is_some_and(|end| end <= self.ag_blocks)
            && agno * self.ag_blocks + agbno + len <= self.dblocks;
        if !ok {
            return Err(VmError::invalid(format!(
                "xfs: block {fsb} (+{len}) lies outside the filesystem"
            )));
        }
        Ok(agno * self.ag_blocks + agbno)
    }

    fn read_bytes(&self, block: u64, within: u64, buf: &mut [u8]) -> Result<(), VmError> {
        let end = block
            .checked_mul(self.block_size)
            .and_then(|b| b.checked_add(within))
            .and_then(|b| b.checked_add(buf.len() as u64));
        if block >= self.dblocks || end.is_none_or(|e| e > self.dblocks * self.block_size) {
            return Err(VmError::invalid(format!(
                "xfs: block {block} outside the {}-block filesystem",
                self.dblocks
            )));
        }
        self.disk.read_at(block * self.block_size + within, buf)
    }

    fn read_block(&self, block: u64) -> Result<Vec<u8>, VmError> {
        let mut buf = vec![0u8; self.block_size as usize];
        self.read_bytes(block, 0, &mut buf)?;
        Ok(buf)
    }

    /// Reads and decodes inode `ino`.
    pub fn inode(&self, ino: u64) -> Result<Inode, VmError> {
        let (block, at) = self.inode_position(ino)?;
        let data = {
            let mut cached = self.inode_block.lock().unwrap_or_else(|p| p.into_inner());
            match cached.as_ref() {
                Some((b, data)) if *b == block => data.clone(),
                _ => {
                    let data = Arc::new(self.read_block(block)?);
                    *cached = Some((block, data.clone()));
                    data
                }
            }
        };
        let at = at as usize;
        let raw = data
            .get(at..at + self.inode_size as usize)
            .ok_or_else(|| VmError::invalid("xfs: inode beyond its block"))?;
        self.decode_inode(ino, raw)
    }

    fn decode_inode(&self, ino: u64, raw: &[u8]) -> Result<Inode, VmError> {
        let bad = |what: &str| VmError::invalid(format!("xfs: inode {ino}: {what}"));
        let be16 = |at: usize| u16::from_be_bytes([raw[at], raw[at + 1]]);
        if be16(0) != INODE_MAGIC {
            return Err(bad("bad magic (not an inode)"));
        }
        let mode = be16(2);
        let version = raw[4];
        let v3 = match (self.v5, version) {
            (true, 3) => true,
            (false, 1 | 2) => false,
            _ => return Err(bad(&format!("inode version {version}"))),
        };
        let kind = InodeKind::from_mode(mode).ok_or_else(|| bad("free or of no file type"))?;
        if v3 && be64(raw, 152) != ino {
            return Err(bad(&format!("records itself as inode {}", be64(raw, 152))));
        }
        let flags2 = if v3 { be64(raw, 120) } else { 0 };
        let size = be64(raw, 56);
        if size > i64::MAX as u64 {
            return Err(bad("negative size"));
        }
        let mtime = if flags2 & DIFLAG2_BIGTIME != 0 {
            (be64(raw, 40) / 1_000_000_000) as i64 - BIGTIME_EPOCH_OFFSET
        } else {
            i64::from(be32(raw, 40) as i32)
        };
        let nextents = if flags2 & DIFLAG2_NREXT64 != 0 {
            be64(raw, 24)
        } else {
            u64::from(be32(raw, 76))
        };
        let core = if v3 { 176 } else { 100 };
        let literal = raw.len() - core;
        let forkoff = usize::from(raw[82]) * 8;
        if forkoff >= literal {
            return Err(bad(&format!("attribute fork offset {forkoff}")));
        }
        let fork_len = if forkoff == 0 { literal } else { forkoff };
        Ok(Inode {
            stat: Stat {
                ino,
                kind,
                mode: u32::from(mode & 0o7777),
                uid: be32(raw, 8),
                gid: be32(raw, 12),
                size,
                mtime: u64::try_from(mtime).unwrap_or(0),
            },
            format: raw[5],
            nextents,
            flags: be16(90),
            fork: raw[core..core + fork_len].to_vec(),
        })
    }

    /// The runs of blocks holding `inode`'s data, unsorted.
    pub(crate) fn extents(&self, inode: &Inode) -> Result<Vec<Extent>, VmError> {
        let ino = inode.stat.ino;
        if inode.flags & DIFLAG_REALTIME != 0 {
            return Err(VmError::Unsupported(format!(
                "xfs: inode {ino} keeps its data on a realtime device"
            )));
        }
        let mut out = Vec::new();
        match inode.format {
            FORMAT_EXTENTS => {
                let n = inode.nextents;
                if n > self.limits.max_extents as u64 {
                    return Err(VmError::Oversized(format!(
                        "xfs: inode {ino} has {n} extents"
                    )));
                }
                if n * 16 > inode.fork.len() as u64 {
                    return Err(VmError::invalid(format!(
                        "xfs: inode {ino}: {n} extents do not fit its data fork"
                    )));
                }
                for rec in inode.fork.chunks_exact(16).take(n as usize) {
                    out.push(self.extent_record(rec)?);
                }
            }
            FORMAT_BTREE => {
                let fork = &inode.fork;
                let level = u16::from_be_bytes([fork[0], fork[1]]);
                let numrecs = usize::from(u16::from_be_bytes([fork[2], fork[3]]));
                // The root's pointers follow as many keys as the fork could hold.
                let maxrecs = (fork.len() - 4) / 16;
                if level == 0 || level > MAX_BMBT_LEVELS || numrecs == 0 || numrecs > maxrecs {
                    return Err(VmError::invalid(format!(
                        "xfs: inode {ino}: B+tree root of level {level} with {numrecs} records"
                    )));
                }
                let mut nodes = 0usize;
                for i in 0..numrecs {
                    let ptr = be64(fork, 4 + maxrecs * 8 + i * 8);
                    self.bmbt_block(ino, ptr, level - 1, &mut out, &mut nodes)?;
                }
            }
            FORMAT_LOCAL | FORMAT_DEV => {}
            other => {
                return Err(VmError::invalid(format!(
                    "xfs: inode {ino}: data fork format {other}"
                )))
            }
        }
        Ok(out)
    }

    /// Visits one block of a data fork's B+tree, collecting its extents.
    fn bmbt_block(
        &self,
        ino: u64,
        fsb: u64,
        level: u16,
        out: &mut Vec<Extent>,
        nodes: &mut usize,
    ) -> Result<(), VmError> {
        *nodes += 1;
        if *nodes > self.limits.max_extents {
            return Err(VmError::Oversized(format!(
                "xfs: inode {ino}: extent tree too large"
            )));
        }
        let bad = |what: String| {
            VmError::invalid(format!("xfs: inode {ino}: B+tree block {fsb}: {what}"))
        };
        let block = self.read_block(self.linear_block(fsb, 1)?)?;
        let (magic, hdr) = if self.v5 {
            (BMAP3_MAGIC, 72)
        } else {
            (BMAP_MAGIC, 24)
        };
        if be32(&block, 0) != magic {
            return Err(bad("bad magic".into()));
        }
        if self.v5 && be64(&block, 56) != ino {
            return Err(bad(format!("owned by inode {}", be64(&block, 56))));
        }
        let got_level = u16::from_be_bytes([block[4], block[5]]);
        let numrecs = usize::from(u16::from_be_bytes([block[6], block[7]]));
        if got_level != level {
            return Err(bad(format!("level {got_level}, expected {level}")));
        }
        let room = (block.len() - hdr) / 16;
        if numrecs > room {
            return Err(bad(format!("{numrecs} records")));
        }
        if level == 0 {
            for i in 0..numrecs {
                out.push(self.extent_record(&block[hdr + i * 16..hdr + i * 16 + 16])?);
                if out.len() > self.limits.max_extents {
                    return Err(VmError::Oversized(format!(
                        "xfs: inode {ino}: too many extents"
                    )));
                }
            }
        } else {
            for i in 0..numrecs {
                let ptr = be64(&block, hdr + room * 8 + i * 8);
                self.bmbt_block(ino, ptr, level - 1, out, nodes)?;
            }
        }
        Ok(())
    }

    /// Decodes a packed 128-bit extent record: unwritten flag, 54-bit file offset, 52-bit
    /// filesystem block, 21-bit length.
    fn extent_record(&self, rec: &[u8]) -> Result<Extent, VmError> {
        let l0 = be64(rec, 0);
        let l1 = be64(rec, 8);
        let uninit = l0 >> 63 != 0;
        let logical = (l0 & ((1u64 << 63) - 1)) >> 9;
        let fsb = ((l0 & 0x1FF) << 43) | (l1 >> 21);
        let len = l1 & ((1u64 << 21) - 1);
        if len == 0 {
            return Err(VmError::invalid("xfs: an extent of no blocks"));
        }
        Ok(Extent {
            logical,
            physical: self.linear_block(fsb, len)?,
            len,
            uninit,
        })
    }

    /// A stream over the regular file `inode`'s content.
    pub fn open_inode(&self, inode: &Inode) -> Result<ExtentReader<&Xfs>, VmError> {
        if !matches!(inode.format, FORMAT_EXTENTS | FORMAT_BTREE) {
            return Err(VmError::invalid(format!(
                "xfs: inode {} is stored in data fork format {}",
                inode.stat.ino, inode.format
            )));
        }
        ExtentReader::new(self, self.extents(inode)?, inode.stat.size)
    }

    /// The target of symlink `inode`: inline in the inode when short, else in remote blocks
    /// (each with a header on v5).
    pub fn read_link_inode(&self, inode: &Inode) -> Result<String, VmError> {
        let ino = inode.stat.ino;
        let size = inode.stat.size;
        if inode.stat.kind != InodeKind::Symlink {
            return Err(VmError::invalid(format!(
                "xfs: inode {ino} is not a symlink"
            )));
        }
        if size == 0 || size > MAX_SYMLINK {
            return Err(VmError::invalid(format!(
                "xfs: symlink inode {ino} of {size} bytes"
            )));
        }
        let bytes = match inode.format {
            FORMAT_LOCAL => inode
                .fork
                .get(..size as usize)
                .ok_or_else(|| {
                    VmError::invalid(format!("xfs: symlink inode {ino} overflows its inode"))
                })?
                .to_vec(),
            FORMAT_EXTENTS | FORMAT_BTREE if self.v5 => {
                let mut extents = self.extents(inode)?;
                extents.sort_by_key(|e| e.logical);
                let mut out = Vec::new();
                // A target of at most 1024 bytes needs a few blocks; hostile extents that
                // map many blocks holding no bytes are not followed past that.
                let most = MAX_SYMLINK.div_ceil(self.block_size - SYMLINK_HDR as u64) as usize;
                let blocks = extents
                    .iter()
                    .flat_map(|e| (0..e.len).map(move |i| e.physical + i))
                    .take(most);
                for block in blocks {
                    if out.len() as u64 >= size {
                        break;
                    }
                    let data = self.read_block(block)?;
                    let bytes = be32(&data, 8) as usize;
                    if be32(&data, 0) != SYMLINK_MAGIC
                        || be64(&data, 32) != ino
                        || bytes > data.len() - SYMLINK_HDR
                    {
                        return Err(VmError::invalid(format!(
                            "xfs: symlink inode {ino}: bad remote block header"
                        )));
                    }
                    out.extend_from_slice(&data[SYMLINK_HDR..SYMLINK_HDR + bytes]);
                }
                out.truncate(size as usize);
                out
            }
            FORMAT_EXTENTS | FORMAT_BTREE => {
                use std::io::Read;
                let mut out = Vec::new();
                self.open_inode(inode)?
                    .read_to_end(&mut out)
                    .map_err(|e| VmError::invalid(format!("xfs: symlink inode {ino}: {e}")))?;
                out
            }
            other => {
                return Err(VmError::invalid(format!(
                    "xfs: symlink inode {ino} in data fork format {other}"
                )))
            }
        };
        if bytes.len() as u64 != size {
            return Err(VmError::invalid(format!(
                "xfs: symlink inode {ino}: {} of {size} bytes stored",
                bytes.len()
            )));
        }
        String::from_utf8(bytes)
            .map_err(|_| VmError::invalid(format!("xfs: symlink inode {ino} is not UTF-8")))
    }
}

impl BlockRead for Xfs {
    fn block_size(&self) -> u64 {
        self.block_size
    }

    fn read_block_bytes(&self, block: u64, within: u64, buf: &mut [u8]) -> Result<(), VmError> {
        self.read_bytes(block, within, buf)
    }
}

impl ReadOnlyFs for Xfs {
    fn kind(&self) -> &'static str {
        "xfs"
    }

    fn volume_name(&self) -> &str {
        &self.label
    }

    fn root(&self) -> u64 {
        self.root_ino
    }

    fn stat(&self, ino: u64) -> Result<Stat, VmError> {
        Ok(self.inode(ino)?.stat)
    }

    fn read_dir(&self, dir: &Stat) -> Result<Vec<DirEntry>, VmError> {
        let inode = self.inode(dir.ino)?;
        self.read_dir_inode(&inode)
    }

    fn read_link(&self, link: &Stat) -> Result<String, VmError> {
        self.read_link_inode(&self.inode(link.ino)?)
    }

    fn open_file<'a>(&'a self, file: &Stat) -> Result<Box<dyn ReadSeek + 'a>, VmError> {
        let inode = self.inode(file.ino)?;
        if inode.stat.kind != InodeKind::Regular {
            return Err(VmError::invalid(format!(
                "xfs: inode {} is not a regular file",
                file.ino
            )));
        }
        Ok(Box::new(self.open_inode(&inode)?))
    }
}
