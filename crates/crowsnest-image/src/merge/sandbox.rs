//! The sandbox: a private temporary directory holding captured file contents.
//!
//! Each captured file is stored under a decimal sequence number. No name, mode, owner or link
//! from an image ever reaches the host filesystem, so a hostile entry name cannot make us write
//! anywhere but here, and nothing we write is executable or setuid.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::ImageError;

/// The directory of captured contents; removed when dropped.
#[derive(Debug)]
pub(crate) struct Sandbox {
    dir: TempDir,
    next: u64,
}

/// Why a capture failed: reading the layer, or writing the sandbox. They are reported
/// differently (the first is the image's fault, the second the host's).
#[derive(Debug)]
pub(crate) enum CaptureError {
    Read(io::Error),
    Write(ImageError),
}

impl Sandbox {
    /// A new sandbox in `parent`, or in the system's temporary directory.
    pub(crate) fn new(parent: Option<&Path>) -> Result<Self, ImageError> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("crowsnest-merge-");
        let dir = match parent {
            Some(parent) => builder.tempdir_in(parent),
            None => builder.tempdir(),
        }
        .map_err(|e| ImageError::io("creating the merge sandbox", e))?;
        Ok(Sandbox { dir, next: 0 })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file_path(&self, id: u64) -> PathBuf {
        self.dir.path().join(id.to_string())
    }

    /// Copies `reader` to the end into a new file and returns its sequence number.
    pub(crate) fn capture(&mut self, reader: &mut dyn Read) -> Result<u64, CaptureError> {
        let id = self.next;
        self.next += 1;
        let path = self.file_path(id);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| CaptureError::Write(ImageError::io("creating a sandbox file", e)))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CaptureError::Read(e)),
            };
            let chunk = buf.get(..n).unwrap_or_default();
            file.write_all(chunk)
                .map_err(|e| CaptureError::Write(ImageError::io("writing a sandbox file", e)))?;
        }
        Ok(id)
    }

    /// Opens captured file `id` for reading.
    pub(crate) fn open(&self, id: u64) -> io::Result<File> {
        File::open(self.file_path(id))
    }
}
