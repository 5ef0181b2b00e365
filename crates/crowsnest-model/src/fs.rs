//! The read-only filesystem view that catalogers and analyzers query: [`ImageFs`].
//!
//! The image crate builds it (the merged view of an image's layers, or a root directory); the
//! catalog crate reads it. Neither knows the other; this trait is their whole contract.

use std::io::{self, Read, Seek};

use serde::{Deserialize, Serialize};

use crate::ImagePath;

/// What a directory entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A regular file (hard links to regular files are regular files in the merged view).
    Regular,
    /// A directory.
    Dir,
    /// A symbolic link; its target is in [`FileMeta::link_target`].
    Symlink,
    /// A character device node (never created, only recorded).
    CharDevice,
    /// A block device node (never created, only recorded).
    BlockDevice,
    /// A named pipe.
    Fifo,
}

/// Metadata of one entry, as the layer's tar header (or `lstat` for a rootfs) gave it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// What it is.
    pub kind: FileKind,
    /// Permission bits including setuid/setgid/sticky (`0o4755`).
    pub mode: u32,
    /// Size in bytes of a regular file's content, 0 otherwise.
    pub size: u64,
    /// Owner uid.
    pub uid: u64,
    /// Owner gid.
    pub gid: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: u64,
    /// For symlinks, the target exactly as stored (may be absolute or contain `..`).
    pub link_target: Option<String>,
    /// Index of the layer this version of the entry comes from (0 for the base, or for a rootfs).
    pub layer: usize,
}

impl FileMeta {
    /// True for regular files with any execute bit set.
    pub fn is_executable(&self) -> bool {
        self.kind == FileKind::Regular && self.mode & 0o111 != 0
    }
}

/// Anything a cataloger can read and seek (captured file contents are on disk, so zip and ELF
/// readers get random access without holding the file in memory).
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// A read-only view of an image's merged filesystem.
///
/// Every path is an [`ImagePath`], so nothing outside the image root can be named. Only files
/// that some cataloger or analyzer asked for while the layers streamed have content; asking
/// for the content of any other file is [`io::ErrorKind::NotFound`]. Metadata is kept for
/// every entry.
pub trait ImageFs: Sync {
    /// Metadata of `path` without following a final symlink (like `lstat`).
    fn metadata(&self, path: &ImagePath) -> Option<FileMeta>;

    /// Follows symlinks (inside the root, at most 40 hops, like the kernel) to the entry they name.
    fn resolve(&self, path: &ImagePath) -> Option<ImagePath>;

    /// Opens a captured regular file, following symlinks inside the root.
    fn open(&self, path: &ImagePath) -> io::Result<Box<dyn ReadSeek + '_>>;

    /// Every entry in the merged view, in path order.
    fn entries(&self) -> Box<dyn Iterator<Item = (&ImagePath, &FileMeta)> + '_>;

    /// The immediate children of a directory, in name order.
    fn read_dir(&self, dir: &ImagePath) -> Vec<ImagePath>;
}
