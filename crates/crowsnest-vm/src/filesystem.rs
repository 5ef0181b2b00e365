//! [`ReadOnlyFs`]: what [`crate::VmFs`] and inspection need from a filesystem on a disk
//! (stat an inode, list a directory, read a symlink, stream a file), implemented by the
//! [`crate::ext4`] and [`crate::xfs`] readers, and the pieces both share: [`FsLimits`], block
//! runs ([`Extent`]) and the file stream over them ([`ExtentReader`]).

use std::fmt::Debug;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use crowsnest_model::ReadSeek;

use crate::VmError;

/// What an inode is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InodeKind {
    /// Regular file.
    Regular,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Character device.
    CharDevice,
    /// Block device.
    BlockDevice,
    /// Named pipe.
    Fifo,
    /// Unix socket.
    Socket,
}

impl InodeKind {
    /// The kind named by the file-type bits (`S_IFMT`) of a mode, if any.
    pub(crate) fn from_mode(mode: u16) -> Option<InodeKind> {
        Some(match mode & 0xF000 {
            0x8000 => InodeKind::Regular,
            0x4000 => InodeKind::Dir,
            0xA000 => InodeKind::Symlink,
            0x2000 => InodeKind::CharDevice,
            0x6000 => InodeKind::BlockDevice,
            0x1000 => InodeKind::Fifo,
            0xC000 => InodeKind::Socket,
            _ => return None,
        })
    }
}

/// An inode's metadata, whatever the filesystem.
#[derive(Clone, Debug)]
pub struct Stat {
    /// The inode number.
    pub ino: u64,
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
    /// Modification time, seconds since the epoch (0 for earlier times).
    pub mtime: u64,
}

/// A directory entry.
#[derive(Clone, Debug)]
pub struct DirEntry {
    /// The entry's inode.
    pub ino: u64,
    /// Its name (lossily decoded when not UTF-8).
    pub name: String,
}

/// A read-only filesystem, addressed by inode numbers.
pub trait ReadOnlyFs: Debug + Send + Sync {
    /// `ext4` or `xfs`.
    fn kind(&self) -> &'static str;
    /// The volume label.
    fn volume_name(&self) -> &str;
    /// The root directory's inode.
    fn root(&self) -> u64;
    /// Reads inode `ino`.
    fn stat(&self, ino: u64) -> Result<Stat, VmError>;
    /// The entries of a directory, without `.` and `..`.
    fn read_dir(&self, dir: &Stat) -> Result<Vec<DirEntry>, VmError>;
    /// The target of a symlink.
    fn read_link(&self, link: &Stat) -> Result<String, VmError>;
    /// A regular file's content as a stream.
    fn open_file<'a>(&'a self, file: &Stat) -> Result<Box<dyn ReadSeek + 'a>, VmError>;

    /// Looks `path` up from the root directory without following symlinks (the last
    /// component may be one). `None` when a component is missing.
    fn lookup(&self, path: &str) -> Result<Option<Stat>, VmError> {
        let mut at = self.stat(self.root())?;
        for component in path.split('/').filter(|c| !c.is_empty()) {
            if at.kind != InodeKind::Dir {
                return Ok(None);
            }
            let Some(entry) = self
                .read_dir(&at)?
                .into_iter()
                .find(|e| e.name == component)
            else {
                return Ok(None);
            };
            at = self.stat(entry.ino)?;
        }
        Ok(Some(at))
    }

    /// The whole content of a regular file of at most `max` bytes.
    fn read_all(&self, file: &Stat, max: u64) -> Result<Vec<u8>, VmError> {
        if file.size > max {
            return Err(VmError::Oversized(format!(
                "{}: inode {} of {} bytes is larger than {max}",
                self.kind(),
                file.ino,
                file.size
            )));
        }
        let mut out = Vec::with_capacity(file.size as usize);
        self.open_file(file)?.read_to_end(&mut out).map_err(|e| {
            VmError::invalid(format!("{}: reading inode {}: {e}", self.kind(), file.ino))
        })?;
        Ok(out)
    }
}

/// Limits on what one filesystem may make the reader do.
#[derive(Clone, Debug)]
pub(crate) struct FsLimits {
    /// Largest directory read, bytes.
    pub(crate) max_dir_bytes: u64,
    /// Most extents of one file, and most tree nodes visited for one file.
    pub(crate) max_extents: usize,
}

/// One run of a file's blocks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Extent {
    /// First logical block.
    pub(crate) logical: u64,
    /// First physical block, counted linearly from the start of the filesystem.
    pub(crate) physical: u64,
    /// Blocks.
    pub(crate) len: u64,
    /// Allocated but unwritten: reads as zeros.
    pub(crate) uninit: bool,
}

/// Reading blocks of a filesystem, bounds-checked against its size.
pub trait BlockRead {
    /// Bytes per block.
    fn block_size(&self) -> u64;
    /// Reads `buf.len()` bytes at `block * block_size + within`, refusing bytes outside the
    /// filesystem.
    fn read_block_bytes(&self, block: u64, within: u64, buf: &mut [u8]) -> Result<(), VmError>;
}

impl<T: BlockRead + ?Sized> BlockRead for &T {
    fn block_size(&self) -> u64 {
        (**self).block_size()
    }
    fn read_block_bytes(&self, block: u64, within: u64, buf: &mut [u8]) -> Result<(), VmError> {
        (**self).read_block_bytes(block, within, buf)
    }
}

impl<T: BlockRead + ?Sized> BlockRead for Arc<T> {
    fn block_size(&self) -> u64 {
        (**self).block_size()
    }
    fn read_block_bytes(&self, block: u64, within: u64, buf: &mut [u8]) -> Result<(), VmError> {
        (**self).read_block_bytes(block, within, buf)
    }
}

/// Largest single read handed to the disk, so one `read` call cannot allocate or block long.
const MAX_CHUNK: u64 = 1 << 20;

/// A file's bytes as a `Read + Seek` stream over its block runs, straight from the disk
/// (nothing is copied beforehand); holes and unwritten extents read as zeros.
#[derive(Debug)]
pub struct ExtentReader<B> {
    fs: B,
    /// Sorted by logical block.
    extents: Vec<Extent>,
    size: u64,
    pos: u64,
}

impl<B: BlockRead> ExtentReader<B> {
    /// A reader over `size` bytes mapped by `extents` (sorted here); runs that overlap or
    /// overflow are refused.
    pub(crate) fn new(fs: B, mut extents: Vec<Extent>, size: u64) -> Result<Self, VmError> {
        extents.sort_by_key(|e| e.logical);
        let mut end = 0u64;
        for e in &extents {
            let run_end = e.logical.checked_add(e.len);
            if e.len == 0 || e.logical < end || run_end.is_none() {
                return Err(VmError::invalid(format!(
                    "overlapping or empty block run at logical block {}",
                    e.logical
                )));
            }
            end = run_end.unwrap_or(u64::MAX);
        }
        Ok(ExtentReader {
            fs,
            extents,
            size,
            pos: 0,
        })
    }

    /// The file's size.
    pub fn len(&self) -> u64 {
        self.size
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
}

impl<B: BlockRead> Read for ExtentReader<B> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let bs = self.fs.block_size();
        let block = self.pos / bs;
        let within = self.pos % bs;
        let want = (buf.len() as u64).min(self.size - self.pos).min(MAX_CHUNK);
        // The run holding `block`, or the next run after a hole.
        let idx = self
            .extents
            .partition_point(|e| e.logical.saturating_add(e.len) <= block);
        let n = match self.extents.get(idx) {
            Some(e) if e.logical <= block => {
                let run_left = (e.logical + e.len - block).saturating_mul(bs) - within;
                let n = want.min(run_left) as usize;
                if e.uninit {
                    buf[..n].fill(0);
                } else {
                    self.fs
                        .read_block_bytes(e.physical + (block - e.logical), within, &mut buf[..n])
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                }
                n
            }
            next => {
                let hole_end = next.map_or(u64::MAX, |e| e.logical.saturating_mul(bs));
                let n = want.min(hole_end - self.pos) as usize;
                buf[..n].fill(0);
                n
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl<B> Seek for ExtentReader<B> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )
        })?;
        self.pos = target;
        Ok(target)
    }
}
