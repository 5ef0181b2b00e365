//! The layers of a `containers/storage` image kept by the `overlay` driver, read in place as
//! an [`ImageSource`]: each layer's `overlay/<id>/diff` directory becomes one tar stream, so
//! the scan engine merges them as it merges any image (whiteouts, layer attribution, every
//! layer's files for the secret and malware analyzers).
//!
//! A diff directory is what overlayfs uses as a lower directory, so deletions are written
//! its way and are turned back into OCI whiteouts here: a character device numbered 0:0
//! named `x` becomes `.wh.x`, and a directory whose `trusted.overlay.opaque` (or, in rootless
//! stores, `user.overlay.opaque`) extended attribute is `y` gets a `.wh..wh..opq` entry.
//!
//! The directories are root's and written only while an image is pulled, but the walk still
//! treats them as untrusted: every directory and file is opened relative to its parent's
//! descriptor with `O_NOFOLLOW`, a file is streamed only when the descriptor opened is the
//! regular file the listing saw (same inode), and fifos are never opened. Depth is bounded,
//! and every byte streamed counts against the image's unpack budget.
//!
//! The streams are produced, not stored: nothing can check them against the layers'
//! `diff-digest`s (a regenerated tar differs from the pulled one in padding and order), so
//! those digests name the layers but are not verified, as with any directory read in place.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use crowsnest_image::source::UnpackBudget;
use crowsnest_image::{ImageError, ImageSource, LayerDescriptor};
use crowsnest_model::{ImageConfigSummary, SourceInfo};
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};

/// Deeper than this is not a real root filesystem; the walk stops with an error.
const MAX_DEPTH: usize = 256;
/// Bytes per message between the walking thread and the reader.
const CHUNK: usize = 64 << 10;
/// Messages in flight: bounds the memory a layer stream holds to a few chunks.
const IN_FLIGHT: usize = 4;
/// The overlay attributes marking an opaque directory (rootful, then rootless stores).
const OPAQUE_XATTRS: [&str; 2] = ["trusted.overlay.opaque", "user.overlay.opaque"];

/// An image of an overlay store: its layers' diff directories, base first.
pub(crate) struct OverlayImage {
    pub(crate) info: SourceInfo,
    pub(crate) layers: Vec<LayerDescriptor>,
    pub(crate) diff_dirs: Vec<PathBuf>,
}

impl ImageSource for OverlayImage {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn config(&self) -> Option<&ImageConfigSummary> {
        None
    }

    fn layers(&self) -> &[LayerDescriptor] {
        &self.layers
    }

    fn open_layer(
        &self,
        index: usize,
        budget: &UnpackBudget,
    ) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        let dir = self
            .diff_dirs
            .get(index)
            .ok_or_else(|| ImageError::NotFound(format!("layer {index}")))?
            .clone();
        let root = rustix::fs::open(
            &dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| ImageError::NotFound(format!("{}: {e}", dir.display())))?;
        let (tx, rx) = sync_channel(IN_FLIGHT);
        let budget = budget.clone();
        std::thread::Builder::new()
            .name("overlay-layer".into())
            .spawn(move || {
                let mut out = ChunkWriter {
                    tx: tx.clone(),
                    buf: Vec::with_capacity(CHUNK),
                    budget,
                };
                let result = (|| {
                    let mut tar = tar::Builder::new(&mut out);
                    tar.mode(tar::HeaderMode::Complete);
                    tar.follow_symlinks(false);
                    walk(&mut tar, &root, &mut PathBuf::new(), 0)?;
                    tar.finish()?;
                    drop(tar);
                    out.flush_chunk()
                })();
                if let Err(e) = result {
                    // The reader learns why the stream ended; if it is gone, nobody needs to.
                    let _ = tx.send(Err(e));
                }
            })
            .map_err(|e| ImageError::Invalid(format!("layer thread: {e}")))?;
        Ok(Box::new(ChunkReader {
            rx,
            current: Vec::new(),
            at: 0,
        }))
    }
}

/// Sends what the tar builder writes to the reader, a chunk at a time.
struct ChunkWriter {
    tx: SyncSender<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    budget: UnpackBudget,
}

impl ChunkWriter {
    fn flush_chunk(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the layer's reader went away"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.budget
            .spend(data.len() as u64)
            .map_err(io::Error::other)?;
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush_chunk()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The reading end: the chunks in order, then end of stream (or the walk's error).
struct ChunkReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    at: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.current = chunk;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The thread finished and dropped its sender: the tar is complete.
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len() - self.at);
        out[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn header(stat: &rustix::fs::Stat, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(stat.st_mode & 0o7777);
    h.set_uid(u64::from(stat.st_uid));
    h.set_gid(u64::from(stat.st_gid));
    h.set_mtime(u64::try_from(stat.st_mtime).unwrap_or(0));
    h.set_size(size);
    h
}

/// A whiteout marker: an empty file owned by root, as image builders write them.
fn empty_file() -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(0);
    h
}

fn is_opaque(dir: &OwnedFd) -> bool {
    let mut value = [0u8; 4];
    OPAQUE_XATTRS.iter().any(
        |name| matches!(rustix::fs::fgetxattr(dir, *name, &mut value), Ok(1) if value[0] == b'y'),
    )
}

/// Appends the entries of directory `dir` (at `path` in the layer) and everything below.
fn walk<W: Write>(
    tar: &mut tar::Builder<W>,
    dir: &OwnedFd,
    path: &mut PathBuf,
    depth: usize,
) -> io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(io::Error::other(ImageError::Oversized(format!(
            "{} nests deeper than {MAX_DEPTH} directories",
            path.display()
        ))));
    }
    let mut names: Vec<OsString> = Vec::new();
    for entry in Dir::read_from(dir)? {
        let entry = entry?;
        let name = OsStr::from_bytes(entry.file_name().to_bytes());
        if name != "." && name != ".." {
            names.push(name.to_owned());
        }
    }
    // Sorted, so the same directory always gives the same stream.
    names.sort();
    for name in names {
        let stat = rustix::fs::statat(dir, &*name, AtFlags::SYMLINK_NOFOLLOW)?;
        path.push(&name);
        let result = entry(tar, dir, &name, &stat, path, depth);
        path.pop();
        result?;
    }
    Ok(())
}

fn entry<W: Write>(
    tar: &mut tar::Builder<W>,
    parent: &OwnedFd,
    name: &OsStr,
    stat: &rustix::fs::Stat,
    path: &mut PathBuf,
    depth: usize,
) -> io::Result<()> {
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::Directory => {
            let fd = rustix::fs::openat(
                parent,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            tar.append_data(
                &mut header(stat, tar::EntryType::Directory, 0),
                &*path,
                io::empty(),
            )?;
            if is_opaque(&fd) {
                tar.append_data(&mut empty_file(), path.join(".wh..wh..opq"), io::empty())?;
            }
            walk(tar, &fd, path, depth + 1)
        }
        FileType::RegularFile => {
            let fd = rustix::fs::openat(
                parent,
                name,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let now = rustix::fs::fstat(fd.as_fd())?;
            if FileType::from_raw_mode(now.st_mode) != FileType::RegularFile
                || now.st_ino != stat.st_ino
                || now.st_dev != stat.st_dev
            {
                return Err(io::Error::other(format!(
                    "{} changed while the layer was read",
                    path.display()
                )));
            }
            let size = u64::try_from(now.st_size).unwrap_or(0);
            // `take` keeps the entry at the size its header announces if the file grows.
            let file = File::from(fd).take(size);
            tar.append_data(
                &mut header(&now, tar::EntryType::Regular, size),
                &*path,
                file,
            )
        }
        FileType::Symlink => {
            let target = rustix::fs::readlinkat(parent, name, Vec::new())?;
            let mut h = header(stat, tar::EntryType::Symlink, 0);
            tar.append_link(
                &mut h,
                &*path,
                Path::new(OsStr::from_bytes(target.as_bytes())),
            )
        }
        FileType::CharacterDevice if stat.st_rdev == 0 => {
            // overlayfs' whiteout: `name` was deleted from the layers below.
            let mut wh = OsString::from(".wh.");
            wh.push(name);
            let whiteout = path.with_file_name(wh);
            tar.append_data(&mut empty_file(), whiteout, io::empty())
        }
        FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
            let kind = match FileType::from_raw_mode(stat.st_mode) {
                FileType::CharacterDevice => tar::EntryType::Char,
                FileType::BlockDevice => tar::EntryType::Block,
                _ => tar::EntryType::Fifo,
            };
            let mut h = header(stat, kind, 0);
            h.set_device_major(rustix::fs::major(stat.st_rdev))?;
            h.set_device_minor(rustix::fs::minor(stat.st_rdev))?;
            tar.append_data(&mut h, &*path, io::empty())
        }
        // Sockets and unknown kinds carry nothing an image scan reads.
        _ => Ok(()),
    }
}
