//! [`FileReader`]: a regular file's content, read and seeked block run by block run, straight
//! from the disk (nothing is copied beforehand).

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use super::{Ext4, Extent, Inode};

/// Largest single read handed to the disk, so one `read` call cannot allocate or block long.
const MAX_CHUNK: u64 = 1 << 20;

/// A file's bytes as a `Read + Seek` stream; holes and unwritten extents read as zeros.
#[derive(Debug)]
pub struct FileReader {
    fs: Arc<Ext4>,
    extents: Vec<Extent>,
    size: u64,
    pos: u64,
}

impl FileReader {
    /// A reader over `inode`'s content.
    pub fn new(fs: Arc<Ext4>, inode: &Inode) -> Result<Self, crate::VmError> {
        let extents = fs.extents(inode)?;
        Ok(FileReader {
            fs,
            extents,
            size: inode.size,
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

impl Read for FileReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let bs = self.fs.block_size;
        let block = self.pos / bs;
        let within = self.pos % bs;
        let want = (buf.len() as u64).min(self.size - self.pos).min(MAX_CHUNK);
        // The run holding `block`, or the next run after a hole.
        let idx = self.extents.partition_point(|e| e.logical + e.len <= block);
        let n = match self.extents.get(idx) {
            Some(e) if e.logical <= block => {
                let run_left = (e.logical + e.len - block) * bs - within;
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

impl Seek for FileReader {
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
