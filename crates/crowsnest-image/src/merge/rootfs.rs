//! Indexing a plain root directory (`--rootfs`, a VM disk's mounted filesystem, the host).
//!
//! The walk reads metadata with `lstat` only, so no symlink is ever followed, and stays on the
//! root's filesystem. Contents are not copied: a wanted file is opened in place, through the
//! index (so symlinks are resolved inside the root, never by the host kernel), with
//! `O_NOFOLLOW`, and checked to be the same inode the walk saw, so a file or directory swapped
//! for a symlink after the walk cannot redirect the read elsewhere on the host.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crowsnest_model::{Diagnostic, ErrorCode, FileKind, FileMeta, ImagePath};

use super::layer::Version;
use super::tree::{Content, Node, Tree};
use super::Wants;
use crate::{ImageError, Limits};

/// Top-level directories of a live system that hold kernel interfaces, not files.
const PSEUDO_DIRS: [&str; 4] = ["proc", "sys", "dev", "run"];

/// The host directory a rootfs view reads from.
#[derive(Debug)]
pub(crate) struct HostRoot {
    dir: PathBuf,
    device: u64,
}

/// What the walk produced.
pub(crate) struct Walked {
    pub(crate) tree: Tree,
    pub(crate) versions: BTreeMap<ImagePath, Vec<Version>>,
    pub(crate) diagnostics: Vec<Diagnostic>,
    pub(crate) root: HostRoot,
}

impl HostRoot {
    /// Opens the file at `path` (already resolved inside the root) if it is still the regular
    /// file with inode `ino` that the walk recorded.
    pub(crate) fn open(&self, path: &ImagePath, ino: u64) -> io::Result<File> {
        let host = self.dir.join(path.as_str());
        let file = OpenOptions::new()
            .read(true)
            // NONBLOCK: a file swapped for a fifo must not hang the open.
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(&host)?;
        let meta = file.metadata()?;
        if !meta.is_file() || meta.ino() != ino || meta.dev() != self.device {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{path} changed on disk since the root was indexed; not read"),
            ));
        }
        Ok(file)
    }
}

/// Walks `dir` into an index.
pub(crate) fn walk(dir: &Path, wants: Wants<'_>, limits: &Limits) -> Result<Walked, ImageError> {
    let dir = fs::canonicalize(dir)
        .map_err(|e| ImageError::io(format!("opening root directory {}", dir.display()), e))?;
    let root_meta = fs::symlink_metadata(&dir)
        .map_err(|e| ImageError::io(format!("reading {}", dir.display()), e))?;
    if !root_meta.is_dir() {
        return Err(ImageError::Invalid(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let device = root_meta.dev();
    let is_host_root = dir == Path::new("/");
    let mut tree = Tree::new();
    if let Some(meta) = file_meta(&root_meta, None) {
        tree.set_root_meta(meta);
    }
    let mut versions: BTreeMap<ImagePath, Vec<Version>> = BTreeMap::new();
    let mut diagnostics = Vec::new();
    let diagnose = |diagnostics: &mut Vec<Diagnostic>, path: &ImagePath, message: String| {
        diagnostics.push(Diagnostic {
            code: ErrorCode::DownloadFailed,
            message,
            path: Some(path.to_string()),
        });
    };

    let mut pending = vec![ImagePath::root()];
    let mut seen = 0u64;
    while let Some(at) = pending.pop() {
        let host_dir = dir.join(at.as_str());
        let listing = match fs::read_dir(&host_dir) {
            Ok(listing) => listing,
            Err(e) => {
                diagnose(&mut diagnostics, &at, format!("{at}: cannot list: {e}"));
                continue;
            }
        };
        for item in listing {
            let item = match item {
                Ok(item) => item,
                Err(e) => {
                    diagnose(&mut diagnostics, &at, format!("{at}: cannot list: {e}"));
                    break;
                }
            };
            let file_name = item.file_name();
            let Some(name) = file_name.to_str() else {
                diagnose(
                    &mut diagnostics,
                    &at,
                    format!("{at}: skipped an entry whose name is not UTF-8: {file_name:?}"),
                );
                continue;
            };
            let Ok(path) = at.join_component(name) else {
                continue;
            };
            seen += 1;
            if seen > limits.max_entries {
                return Err(ImageError::Oversized(format!(
                    "root directory has more than {} entries (max_entries)",
                    limits.max_entries
                )));
            }
            let host = dir.join(path.as_str());
            let meta = match fs::symlink_metadata(&host) {
                Ok(meta) => meta,
                Err(e) => {
                    diagnose(&mut diagnostics, &path, format!("{path}: cannot stat: {e}"));
                    continue;
                }
            };
            let link_target = if meta.file_type().is_symlink() {
                match fs::read_link(&host) {
                    Ok(target) => Some(target.to_string_lossy().into_owned()),
                    Err(e) => {
                        diagnose(
                            &mut diagnostics,
                            &path,
                            format!("{path}: cannot read link: {e}"),
                        );
                        continue;
                    }
                }
            } else {
                None
            };
            let Some(file) = file_meta(&meta, link_target) else {
                // Sockets and the like: nothing a scanner reads.
                continue;
            };
            let mut content = Content::Absent;
            match file.kind {
                FileKind::Dir => {
                    let pseudo = is_host_root && at.is_root() && PSEUDO_DIRS.contains(&name);
                    if meta.dev() == device && !pseudo {
                        pending.push(path.clone());
                    }
                }
                FileKind::Regular if wants(&path, &file) => {
                    if file.size > limits.max_captured_file {
                        diagnostics.push(Diagnostic {
                            code: ErrorCode::ImageOversized,
                            message: format!(
                                "{path} is {} bytes, more than max_captured_file ({}); not read",
                                file.size, limits.max_captured_file
                            ),
                            path: Some(path.to_string()),
                        });
                    } else {
                        content = Content::Host { ino: meta.ino() };
                        versions.entry(path.clone()).or_default().push(Version {
                            layer: 0,
                            size: file.size,
                            content,
                        });
                    }
                }
                _ => {}
            }
            tree.insert(
                path,
                Node {
                    meta: file,
                    content,
                },
            );
        }
    }
    Ok(Walked {
        tree,
        versions,
        diagnostics,
        root: HostRoot { dir, device },
    })
}

/// The view's metadata for what `lstat` said; `None` for kinds a view does not hold (sockets).
fn file_meta(meta: &fs::Metadata, link_target: Option<String>) -> Option<FileMeta> {
    let t = meta.file_type();
    let kind = if t.is_file() {
        FileKind::Regular
    } else if t.is_dir() {
        FileKind::Dir
    } else if t.is_symlink() {
        FileKind::Symlink
    } else if t.is_char_device() {
        FileKind::CharDevice
    } else if t.is_block_device() {
        FileKind::BlockDevice
    } else if t.is_fifo() {
        FileKind::Fifo
    } else {
        return None;
    };
    Some(FileMeta {
        kind,
        mode: meta.mode() & 0o7777,
        size: if kind == FileKind::Regular {
            meta.size()
        } else {
            0
        },
        uid: u64::from(meta.uid()),
        gid: u64::from(meta.gid()),
        mtime: u64::try_from(meta.mtime()).unwrap_or(0),
        link_target,
        layer: 0,
    })
}
