//! Raw disk images: the file is the disk.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::{check_range, BlockDevice};
use crate::VmError;

/// A raw image file read in place with positional reads (no shared cursor, so threads can
/// read at once).
#[derive(Debug)]
pub(crate) struct Raw {
    file: File,
    len: u64,
}

impl Raw {
    pub(crate) fn new(file: File, len: u64) -> Self {
        Raw { file, len }
    }
}

impl BlockDevice for Raw {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), VmError> {
        check_range(offset, buf.len(), self.len)?;
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| VmError::io(format!("reading raw image at {offset}"), e))
    }
}
