//! A read-only ext2/3/4 reader: superblock, group descriptors (32- and 64-bit), inodes, extent
//! trees and legacy block maps, directories (linear; htree directories are read linearly too,
//! since their index blocks look like empty entries), symlinks (fast and slow) and regular files
//! streamed block by block.
//!
//! Metadata checksums are not verified (a reader that refuses nothing on checksum cannot be
//! tricked into more work by them); every offset and count is bounds-checked instead, trees
//! have bounded depth and size, and a directory is read whole only up to
//! [`crate::DiskLimits::max_dir_bytes`].

use std::sync::{Arc, Mutex};

use crowsnest_model::ReadSeek;

use crate::disk::Disk;
use crate::error::{le16, le32};
use crate::filesystem::{BlockRead, Extent, ExtentReader, FsLimits, ReadOnlyFs, Stat};
pub use crate::filesystem::{DirEntry, InodeKind};
use crate::VmError;

/// A regular file's content, streamed from the disk.
pub type FileReader<'a> = ExtentReader<&'a Ext4>;

/// The superblock magic.
const MAGIC: u16 = 0xEF53;
const INCOMPAT_JOURNAL_DEV: u32 = 0x8;
const INCOMPAT_META_BG: u32 = 0x10;
const INCOMPAT_64BIT: u32 = 0x80;
const INCOMPAT_ENCRYPT: u32 = 0x10000;
/// Features this reader understands well enough to read files correctly.
const INCOMPAT_KNOWN: u32 = 0x2 // filetype
    | 0x4 // recover (journal not replayed: we read the last checkpointed state)
    | 0x40 // extents
    | 0x80 // 64bit
    | 0x100 // mmp
    | 0x200 // flex_bg
    | 0x400 // ea_inode
    | 0x1000 // dirdata
    | 0x2000 // csum_seed
    | 0x4000 // largedir
    | 0x8000 // inline_data (such files are reported, not read)
    | 0x10000 // encrypt (such files are unreadable, their names too)
    | 0x20000; // casefold
/// Inode flag: the file's blocks are mapped by an extent tree.
const FLAG_EXTENTS: u32 = 0x80000;
/// Inode flag: the content lives inside the inode.
pub(crate) const FLAG_INLINE_DATA: u32 = 0x1000_0000;
/// Deepest extent tree ext4 builds is 5 levels.
const MAX_EXTENT_DEPTH: u16 = 5;
/// The root directory's inode.
pub const ROOT_INODE: u32 = 2;

/// An open ext2/3/4 filesystem.
#[derive(Debug)]
pub struct Ext4 {
    disk: Disk,
    block_size: u64,
    blocks_count: u64,
    inodes_count: u32,
    inodes_per_group: u32,
    inode_size: u64,
    incompat: u32,
    inode_tables: Vec<u64>,
    limits: FsLimits,
    volume_name: String,
    /// The last inode-table block read: a directory's inodes are usually neighbours.
    inode_block: Mutex<Option<(u64, Arc<Vec<u8>>)>>,
}

/// One inode, decoded.
#[derive(Clone, Debug)]
pub struct Inode {
    /// Its number.
    pub ino: u32,
    /// What it is.
    pub kind: InodeKind,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: u32,
    flags: u32,
    block: [u8; 60],
}

impl Ext4 {
    /// True when `disk` starts with an ext2/3/4 superblock.
    pub fn probe(disk: &Disk) -> bool {
        let mut sb = [0u8; 2];
        disk.size() >= 2048 && disk.read_at(1024 + 56, &mut sb).is_ok() && le16(&sb, 0) == MAGIC
    }

    /// Opens the filesystem on `disk`.
    pub(crate) fn open(disk: Disk, limits: FsLimits) -> Result<Ext4, VmError> {
        let bad = |what: String| VmError::invalid(format!("ext4: {what}"));
        let mut sb = [0u8; 1024];
        disk.read_at(1024, &mut sb)
            .map_err(|e| bad(format!("no superblock ({e})")))?;
        if le16(&sb, 56) != MAGIC {
            return Err(bad("no ext2/3/4 superblock magic".into()));
        }
        let log_block = le32(&sb, 24);
        if log_block > 6 {
            return Err(bad(format!("block size 2^{}", 10 + log_block)));
        }
        let block_size = 1024u64 << log_block;
        let rev = le32(&sb, 76);
        let inode_size = if rev == 0 {
            128
        } else {
            u64::from(le16(&sb, 88))
        };
        if inode_size < 128 || inode_size > block_size || !inode_size.is_power_of_two() {
            return Err(bad(format!("inode size {inode_size}")));
        }
        let incompat = le32(&sb, 96);
        if incompat & INCOMPAT_JOURNAL_DEV != 0 {
            return Err(VmError::Unsupported(
                "ext4: an external journal device".into(),
            ));
        }
        if incompat & INCOMPAT_META_BG != 0 {
            return Err(VmError::Unsupported(
                "ext4: meta_bg group descriptors".into(),
            ));
        }
        if incompat & !INCOMPAT_KNOWN != 0 {
            return Err(VmError::Unsupported(format!(
                "ext4: unknown incompatible features {:#x}",
                incompat & !INCOMPAT_KNOWN
            )));
        }
        let is_64 = incompat & INCOMPAT_64BIT != 0;
        let mut blocks_count = u64::from(le32(&sb, 4));
        if is_64 {
            blocks_count |= u64::from(le32(&sb, 0x150)) << 32;
        }
        let first_data_block = u64::from(le32(&sb, 20));
        let blocks_per_group = u64::from(le32(&sb, 32));
        let inodes_per_group = le32(&sb, 40);
        let inodes_count = le32(&sb, 0);
        if blocks_count
            .checked_mul(block_size)
            .is_none_or(|b| b > disk.size())
        {
            return Err(bad(format!(
                "{blocks_count} blocks of {block_size} bytes do not fit the {}-byte partition \
                 (truncated image?)",
                disk.size()
            )));
        }
        if blocks_per_group == 0 || blocks_per_group > block_size * 8 {
            return Err(bad(format!("{blocks_per_group} blocks per group")));
        }
        if inodes_per_group == 0 || u64::from(inodes_per_group) > block_size * 8 {
            return Err(bad(format!("{inodes_per_group} inodes per group")));
        }
        let groups = blocks_count
            .saturating_sub(first_data_block)
            .div_ceil(blocks_per_group);
        if groups == 0 || groups * u64::from(inodes_per_group) < u64::from(inodes_count) {
            return Err(bad(format!(
                "{groups} groups cannot hold {inodes_count} inodes"
            )));
        }
        let desc_size = if is_64 { u64::from(le16(&sb, 254)) } else { 32 };
        if is_64 && (!(64..=1024).contains(&desc_size) || !desc_size.is_power_of_two()) {
            return Err(bad(format!("group descriptor size {desc_size}")));
        }
        let gdt_block = first_data_block + 1;
        let mut gdt = vec![0u8; (groups * desc_size) as usize];
        disk.read_at(gdt_block * block_size, &mut gdt)
            .map_err(|e| bad(format!("group descriptors unreadable ({e})")))?;
        let mut inode_tables = Vec::with_capacity(groups as usize);
        for d in gdt.chunks_exact(desc_size as usize) {
            let mut table = u64::from(le32(d, 8));
            if is_64 {
                table |= u64::from(le32(d, 0x28)) << 32;
            }
            inode_tables.push(table);
        }
        let name_raw = &sb[120..136];
        let name_end = name_raw.iter().position(|&b| b == 0).unwrap_or(16);
        Ok(Ext4 {
            disk,
            block_size,
            blocks_count,
            inodes_count,
            inodes_per_group,
            inode_size,
            incompat,
            inode_tables,
            limits,
            volume_name: String::from_utf8_lossy(&name_raw[..name_end]).into_owned(),
            inode_block: Mutex::new(None),
        })
    }

    /// Bytes per block.
    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    /// The volume label.
    pub fn volume_name(&self) -> &str {
        &self.volume_name
    }

    /// Reads `buf.len()` bytes at `block * block_size + within`, refusing blocks outside the
    /// filesystem.
    fn read_bytes(&self, block: u64, within: u64, buf: &mut [u8]) -> Result<(), VmError> {
        if block >= self.blocks_count
            || within + buf.len() as u64 > self.block_size * (self.blocks_count - block)
        {
            return Err(VmError::invalid(format!(
                "ext4: block {block} outside the {}-block filesystem",
                self.blocks_count
            )));
        }
        self.disk.read_at(block * self.block_size + within, buf)
    }

    fn read_block(&self, block: u64) -> Result<Vec<u8>, VmError> {
        let mut buf = vec![0u8; self.block_size as usize];
        self.read_bytes(block, 0, &mut buf)?;
        Ok(buf)
    }

    /// Reads inode `ino`.
    pub fn inode(&self, ino: u32) -> Result<Inode, VmError> {
        if ino == 0 || ino > self.inodes_count {
            return Err(VmError::invalid(format!(
                "ext4: inode {ino} outside 1..={}",
                self.inodes_count
            )));
        }
        let index = u64::from(ino - 1);
        let group = (index / u64::from(self.inodes_per_group)) as usize;
        let within = index % u64::from(self.inodes_per_group);
        let table = *self
            .inode_tables
            .get(group)
            .ok_or_else(|| VmError::invalid(format!("ext4: inode {ino} in a missing group")))?;
        let byte = within * self.inode_size;
        let block = table + byte / self.block_size;
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
        let at = (byte % self.block_size) as usize;
        let raw = data
            .get(at..at + 128)
            .ok_or_else(|| VmError::invalid("ext4: inode beyond its block"))?;
        let mode16 = le16(raw, 0);
        let kind = InodeKind::from_mode(mode16).ok_or_else(|| {
            VmError::invalid(format!(
                "ext4: inode {ino} has file type {:#x}",
                mode16 & 0xF000
            ))
        })?;
        let mut block_bytes = [0u8; 60];
        block_bytes.copy_from_slice(&raw[40..100]);
        let size = u64::from(le32(raw, 4)) | (u64::from(le32(raw, 108)) << 32);
        Ok(Inode {
            ino,
            kind,
            mode: u32::from(mode16 & 0o7777),
            uid: u32::from(le16(raw, 2)) | (u32::from(le16(raw, 120)) << 16),
            gid: u32::from(le16(raw, 24)) | (u32::from(le16(raw, 122)) << 16),
            size,
            mtime: le32(raw, 16),
            flags: le32(raw, 32),
            block: block_bytes,
        })
    }

    /// The runs of blocks holding `inode`'s content, sorted by logical block.
    pub(crate) fn extents(&self, inode: &Inode) -> Result<Vec<Extent>, VmError> {
        if inode.flags & FLAG_INLINE_DATA != 0 {
            return Err(VmError::Unsupported(format!(
                "ext4: inode {} keeps its data inline",
                inode.ino
            )));
        }
        let blocks = inode.size.div_ceil(self.block_size);
        let mut out = Vec::new();
        if inode.flags & FLAG_EXTENTS != 0 {
            let mut nodes = 0usize;
            self.extent_node(&inode.block, None, &mut out, &mut nodes)?;
            out.sort_by_key(|e| e.logical);
        } else {
            self.block_map(inode, blocks, &mut out)?;
        }
        Ok(out)
    }

    fn extent_node(
        &self,
        node: &[u8],
        expected_depth: Option<u16>,
        out: &mut Vec<Extent>,
        nodes: &mut usize,
    ) -> Result<(), VmError> {
        *nodes += 1;
        if *nodes > self.limits.max_extents {
            return Err(VmError::Oversized("ext4: extent tree too large".into()));
        }
        let bad = |what: &str| VmError::invalid(format!("ext4: extent tree: {what}"));
        if le16(node, 0) != 0xF30A {
            return Err(bad("bad node magic"));
        }
        let entries = usize::from(le16(node, 2));
        let depth = le16(node, 6);
        if depth > MAX_EXTENT_DEPTH || expected_depth.is_some_and(|d| d != depth) {
            return Err(bad("bad depth"));
        }
        if 12 + entries * 12 > node.len() {
            return Err(bad("more entries than the node holds"));
        }
        for i in 0..entries {
            let e = &node[12 + i * 12..24 + i * 12];
            if depth == 0 {
                let raw_len = u64::from(le16(e, 4));
                let (len, uninit) = if raw_len > 32768 {
                    (raw_len - 32768, true)
                } else {
                    (raw_len, false)
                };
                let physical = u64::from(le32(e, 8)) | (u64::from(le16(e, 6)) << 32);
                out.push(Extent {
                    logical: u64::from(le32(e, 0)),
                    physical,
                    len,
                    uninit,
                });
                if out.len() > self.limits.max_extents {
                    return Err(VmError::Oversized("ext4: too many extents".into()));
                }
            } else {
                let child = u64::from(le32(e, 4)) | (u64::from(le16(e, 8)) << 32);
                let block = self.read_block(child)?;
                self.extent_node(&block, Some(depth - 1), out, nodes)?;
            }
        }
        Ok(())
    }

    /// The legacy (ext2/3) map: 12 direct pointers, then single, double and triple indirect.
    fn block_map(&self, inode: &Inode, blocks: u64, out: &mut Vec<Extent>) -> Result<(), VmError> {
        let mut logical = 0u64;
        for i in 0..12 {
            if logical >= blocks {
                return Ok(());
            }
            push_block(out, logical, u64::from(le32(&inode.block, i * 4)));
            logical += 1;
        }
        for level in 1..=3u32 {
            if logical >= blocks {
                return Ok(());
            }
            let ptr = u64::from(le32(&inode.block, 48 + (level as usize - 1) * 4));
            self.indirect(ptr, level, &mut logical, blocks, out)?;
        }
        Ok(())
    }

    fn indirect(
        &self,
        ptr: u64,
        level: u32,
        logical: &mut u64,
        blocks: u64,
        out: &mut Vec<Extent>,
    ) -> Result<(), VmError> {
        let per = self.block_size / 4;
        let span = per.pow(level - 1);
        if ptr == 0 {
            // A hole covering everything this pointer would map.
            *logical = logical.saturating_add(per.saturating_mul(span));
            return Ok(());
        }
        let block = self.read_block(ptr)?;
        for i in 0..per as usize {
            if *logical >= blocks {
                return Ok(());
            }
            let child = u64::from(le32(&block, i * 4));
            if level == 1 {
                push_block(out, *logical, child);
                *logical += 1;
                if out.len() > self.limits.max_extents {
                    return Err(VmError::Oversized("ext4: block map too large".into()));
                }
            } else {
                self.indirect(child, level - 1, logical, blocks, out)?;
            }
        }
        Ok(())
    }

    /// The entries of directory `inode`, without `.` and `..`.
    pub fn read_dir(&self, inode: &Inode) -> Result<Vec<DirEntry>, VmError> {
        if inode.kind != InodeKind::Dir {
            return Err(VmError::invalid(format!(
                "ext4: inode {} is not a directory",
                inode.ino
            )));
        }
        if inode.size > self.limits.max_dir_bytes {
            return Err(VmError::Oversized(format!(
                "ext4: directory inode {} of {} bytes",
                inode.ino, inode.size
            )));
        }
        if inode.flags & FLAG_INLINE_DATA != 0 {
            return Err(VmError::Unsupported(format!(
                "ext4: directory inode {} keeps its entries inline",
                inode.ino
            )));
        }
        let data = self.read_all(inode, self.limits.max_dir_bytes)?;
        let bs = self.block_size as usize;
        let mut out = Vec::new();
        // Entries never straddle blocks; each block is parsed on its own so a bad record
        // length cannot run into the next one.
        for chunk in data.chunks(bs) {
            let mut pos = 0usize;
            while pos + 8 <= chunk.len() {
                let ino = le32(chunk, pos);
                let rec_len = usize::from(le16(chunk, pos + 4));
                let name_len = usize::from(chunk[pos + 6]);
                if rec_len < 8 || rec_len % 4 != 0 || pos + rec_len > chunk.len() {
                    return Err(VmError::invalid(format!(
                        "ext4: directory inode {}: record length {rec_len} at {pos}",
                        inode.ino
                    )));
                }
                if ino != 0 && name_len > 0 && 8 + name_len <= rec_len {
                    let name = &chunk[pos + 8..pos + 8 + name_len];
                    if name != b"." && name != b".." {
                        out.push(DirEntry {
                            ino: u64::from(ino),
                            name: String::from_utf8_lossy(name).into_owned(),
                        });
                    }
                }
                pos += rec_len;
            }
        }
        Ok(out)
    }

    /// The target of symlink `inode`: inside the inode when short (a fast symlink), else in
    /// its data blocks.
    pub fn read_link(&self, inode: &Inode) -> Result<String, VmError> {
        if inode.kind != InodeKind::Symlink {
            return Err(VmError::invalid(format!(
                "ext4: inode {} is not a symlink",
                inode.ino
            )));
        }
        if inode.size > 4096 {
            return Err(VmError::invalid(format!(
                "ext4: symlink inode {} of {} bytes",
                inode.ino, inode.size
            )));
        }
        // A fast symlink (no extents) and an inline-data one both keep a short target in i_block.
        let bytes = if inode.flags & FLAG_EXTENTS == 0 && inode.size < 60 {
            inode.block[..inode.size as usize].to_vec()
        } else {
            self.read_all(inode, 4096)?
        };
        String::from_utf8(bytes).map_err(|_| {
            VmError::invalid(format!("ext4: symlink inode {} is not UTF-8", inode.ino))
        })
    }

    /// The whole content of a file of at most `max` bytes.
    pub fn read_all(&self, inode: &Inode, max: u64) -> Result<Vec<u8>, VmError> {
        ReadOnlyFs::read_all(self, &stat_of(inode), max)
    }

    /// A stream over `inode`'s content.
    pub fn open_file(&self, inode: &Inode) -> Result<FileReader<'_>, VmError> {
        ExtentReader::new(self, self.extents(inode)?, inode.size)
    }

    /// Whether files' names and contents are encrypted (fscrypt); such files read as errors.
    pub fn is_encrypted(&self) -> bool {
        self.incompat & INCOMPAT_ENCRYPT != 0
    }
}

/// Adds one block to a run list, extending the last run when contiguous. Pointer 0 is a hole.
fn push_block(out: &mut Vec<Extent>, logical: u64, physical: u64) {
    if physical == 0 {
        return;
    }
    if let Some(last) = out.last_mut() {
        if last.logical + last.len == logical && last.physical + last.len == physical {
            last.len += 1;
            return;
        }
    }
    out.push(Extent {
        logical,
        physical,
        len: 1,
        uninit: false,
    });
}

fn stat_of(inode: &Inode) -> Stat {
    Stat {
        ino: u64::from(inode.ino),
        kind: inode.kind,
        mode: inode.mode,
        uid: inode.uid,
        gid: inode.gid,
        size: inode.size,
        mtime: u64::from(inode.mtime),
    }
}

impl BlockRead for Ext4 {
    fn block_size(&self) -> u64 {
        self.block_size
    }

    fn read_block_bytes(&self, block: u64, within: u64, buf: &mut [u8]) -> Result<(), VmError> {
        self.read_bytes(block, within, buf)
    }
}

impl ReadOnlyFs for Ext4 {
    fn kind(&self) -> &'static str {
        "ext4"
    }

    fn volume_name(&self) -> &str {
        &self.volume_name
    }

    fn root(&self) -> u64 {
        u64::from(ROOT_INODE)
    }

    fn stat(&self, ino: u64) -> Result<Stat, VmError> {
        let ino = u32::try_from(ino)
            .map_err(|_| VmError::invalid(format!("ext4: inode {ino} out of range")))?;
        Ok(stat_of(&self.inode(ino)?))
    }

    fn read_dir(&self, dir: &Stat) -> Result<Vec<DirEntry>, VmError> {
        Ext4::read_dir(self, &self.inode_of(dir)?)
    }

    fn read_link(&self, link: &Stat) -> Result<String, VmError> {
        Ext4::read_link(self, &self.inode_of(link)?)
    }

    fn open_file<'a>(&'a self, file: &Stat) -> Result<Box<dyn ReadSeek + 'a>, VmError> {
        Ok(Box::new(Ext4::open_file(self, &self.inode_of(file)?)?))
    }
}

impl Ext4 {
    fn inode_of(&self, stat: &Stat) -> Result<Inode, VmError> {
        let ino = u32::try_from(stat.ino)
            .map_err(|_| VmError::invalid(format!("ext4: inode {} out of range", stat.ino)))?;
        self.inode(ino)
    }
}
