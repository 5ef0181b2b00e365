//! Indexing a plain root directory (`--rootfs`, a VM disk's mounted filesystem, the host).
//!
//! Every open goes through a file descriptor of the root, never through a host path: a
//! directory is opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)`
//! (or, on kernels without `openat2`, one `O_NOFOLLOW` component at a time), checked to be the
//! inode the listing of its parent saw, and its entries are examined with `statx` relative to
//! it. So no symlink is ever followed, not even one swapped in for a directory while the walk
//! runs, and nothing outside the root can be listed or read.
//!
//! The walk stays on the root's mount (like `find -xdev`, and bind mounts count as other
//! mounts too), and when the root is the host's `/` it does not descend into `proc`, `sys`,
//! `dev` and `run`. Only directories are opened during the walk; fifos, sockets and devices are
//! recorded from `statx` alone (sockets not at all), so nothing can block the walk.
//!
//! Contents are not copied: a wanted file is opened in place when asked for, through the index
//! (so symlinks are resolved inside the root by [`super::tree::Tree`], never by the host
//! kernel), first as an `O_PATH` descriptor checked to be the regular file with the inode the
//! walk recorded, then reopened for reading through that descriptor, so a file swapped for a
//! device or fifo after the walk is never opened.

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crowsnest_model::{Diagnostic, ErrorCode, FileKind, FileMeta, ImagePath};
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags, Statx, StatxFlags};

use super::layer::Version;
use super::tree::{Content, Node, Tree};
use super::Wants;
use crate::{ImageError, Limits};

/// Top-level directories of a live system that hold kernel interfaces, not files.
const PSEUDO_DIRS: [&str; 4] = ["proc", "sys", "dev", "run"];

/// What `statx` is asked for: the basic fields, and the mount id to tell mount points.
const STATX_MASK: StatxFlags = StatxFlags::BASIC_STATS.union(StatxFlags::MNT_ID);

/// The host directory a rootfs view reads from.
#[derive(Debug)]
pub(crate) struct HostRoot {
    fd: OwnedFd,
    device: u64,
    /// The root's mount id, when the kernel reports mount ids.
    mount: Option<u64>,
    /// False once `openat2` turned out to be missing (old kernel, seccomp filter).
    openat2: AtomicBool,
}

/// What the walk produced.
pub(crate) struct Walked {
    pub(crate) tree: Tree,
    pub(crate) versions: BTreeMap<ImagePath, Vec<Version>>,
    pub(crate) diagnostics: Vec<Diagnostic>,
    pub(crate) root: HostRoot,
}

impl HostRoot {
    fn new(dir: &Path) -> Result<(Self, Statx), ImageError> {
        let context = || format!("opening root directory {}", dir.display());
        let fd = rustix::fs::open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| ImageError::io(context(), e.into()))?;
        let stat = fd_statx(&fd).map_err(|e| ImageError::io(context(), e))?;
        let root = HostRoot {
            device: device_of(&stat),
            mount: mount_of(&stat),
            fd,
            openat2: AtomicBool::new(true),
        };
        Ok((root, stat))
    }

    /// Opens `path` below the root without following any symlink, neither in the path nor at
    /// its end, and (with `same_mount`) without crossing into another mount.
    fn open_beneath(
        &self,
        path: &ImagePath,
        flags: OFlags,
        same_mount: bool,
    ) -> io::Result<OwnedFd> {
        let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let relative = if path.is_root() { "." } else { path.as_str() };
        if self.openat2.load(Ordering::Relaxed) {
            let mut resolve =
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
            if same_mount {
                resolve |= ResolveFlags::NO_XDEV;
            }
            // EAGAIN: a rename or mount raced the lookup; the kernel asks for a retry.
            for _ in 0..3 {
                match rustix::fs::openat2(&self.fd, relative, flags, Mode::empty(), resolve) {
                    Ok(fd) => return Ok(fd),
                    Err(rustix::io::Errno::AGAIN) => continue,
                    Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => {
                        tracing::debug!("openat2 unavailable; opening one component at a time");
                        self.openat2.store(false, Ordering::Relaxed);
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        self.open_by_components(path, flags, same_mount)
    }

    /// [`Self::open_beneath`] without `openat2`: each directory on the way is opened with
    /// `O_NOFOLLOW`, and checked to be on the root's device when `same_mount` is asked for.
    fn open_by_components(
        &self,
        path: &ImagePath,
        flags: OFlags,
        same_mount: bool,
    ) -> io::Result<OwnedFd> {
        let walk_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut at = rustix::fs::openat(&self.fd, ".", walk_flags, Mode::empty())?;
        let mut components = path.components().peekable();
        while let Some(component) = components.next() {
            let last = components.peek().is_none();
            let next = rustix::fs::openat(
                &at,
                component,
                if last { flags } else { walk_flags },
                Mode::empty(),
            )?;
            if same_mount && device_of(&fd_statx(&next)?) != self.device {
                return Err(io::Error::from_raw_os_error(libc::EXDEV));
            }
            at = next;
        }
        if path.is_root() {
            at = rustix::fs::openat(&self.fd, ".", flags, Mode::empty())?;
        }
        Ok(at)
    }

    /// Opens the file at `path` (already resolved inside the root) if it is still the regular
    /// file with inode `ino` that the walk recorded.
    pub(crate) fn open(&self, path: &ImagePath, ino: u64) -> io::Result<File> {
        let changed = || {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{path} changed on disk since the root was indexed; not read"),
            )
        };
        let handle = self.open_beneath(path, OFlags::PATH, false)?;
        if !self.is_indexed_file(&fd_statx(&handle)?, ino) {
            return Err(changed());
        }
        // Reopening through the O_PATH descriptor opens that very inode, which is a regular
        // file: nothing swapped in since (a fifo, a device) can be opened. Without /proc, open
        // by path again; the check below still refuses anything else.
        let read_flags = OFlags::RDONLY | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let reopened = rustix::fs::open(
            format!("/proc/self/fd/{}", handle.as_raw_fd()),
            read_flags,
            Mode::empty(),
        );
        let fd = match reopened {
            Ok(fd) => fd,
            Err(_) => self.open_beneath(path, read_flags, false)?,
        };
        if !self.is_indexed_file(&fd_statx(&fd)?, ino) {
            return Err(changed());
        }
        Ok(File::from(fd))
    }

    fn is_indexed_file(&self, stat: &Statx, ino: u64) -> bool {
        FileType::from_raw_mode(u32::from(stat.stx_mode)) == FileType::RegularFile
            && stat.stx_ino == ino
            && device_of(stat) == self.device
    }
}

fn fd_statx(fd: impl AsFd) -> io::Result<Statx> {
    Ok(rustix::fs::statx(
        fd,
        c"",
        AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW,
        STATX_MASK,
    )?)
}

fn device_of(stat: &Statx) -> u64 {
    rustix::fs::makedev(stat.stx_dev_major, stat.stx_dev_minor)
}

fn mount_of(stat: &Statx) -> Option<u64> {
    (stat.stx_mask & StatxFlags::MNT_ID.bits() != 0).then_some(stat.stx_mnt_id)
}

/// The walk's state.
struct Walker<'a> {
    root: HostRoot,
    wants: Wants<'a>,
    limits: &'a Limits,
    is_host_root: bool,
    tree: Tree,
    versions: BTreeMap<ImagePath, Vec<Version>>,
    diagnostics: Vec<Diagnostic>,
    /// Directories still to list, with the inode their parent's listing saw.
    pending: Vec<(ImagePath, u64)>,
    seen: u64,
}

/// Walks `dir` into an index.
pub(crate) fn walk(dir: &Path, wants: Wants<'_>, limits: &Limits) -> Result<Walked, ImageError> {
    let dir = fs::canonicalize(dir)
        .map_err(|e| ImageError::io(format!("opening root directory {}", dir.display()), e))?;
    if !dir.is_dir() {
        return Err(ImageError::Invalid(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let is_host_root = dir == Path::new("/");
    tracing::debug!(root = %dir.display(), is_host_root, "walking a root directory");
    let (root, stat) = HostRoot::new(&dir)?;
    let mut tree = Tree::new();
    if let Some(meta) = file_meta(&stat, None) {
        tree.set_root_meta(meta);
    }
    let mut walker = Walker {
        root,
        wants,
        limits,
        is_host_root,
        tree,
        versions: BTreeMap::new(),
        diagnostics: Vec::new(),
        pending: vec![(ImagePath::root(), stat.stx_ino)],
        seen: 0,
    };
    while let Some((at, ino)) = walker.pending.pop() {
        walker.list(&at, ino)?;
    }
    Ok(Walked {
        tree: walker.tree,
        versions: walker.versions,
        diagnostics: walker.diagnostics,
        root: walker.root,
    })
}

impl Walker<'_> {
    fn diagnose(&mut self, path: &ImagePath, message: String) {
        tracing::debug!(%path, "{message}");
        self.diagnostics.push(Diagnostic {
            code: ErrorCode::DownloadFailed,
            message,
            path: Some(path.to_string()),
        });
    }

    /// Lists the directory `at`, which its parent's listing saw as inode `ino`.
    fn list(&mut self, at: &ImagePath, ino: u64) -> Result<(), ImageError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY;
        let fd = match self.root.open_beneath(at, flags, true) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                tracing::debug!(path = %at, "another mount; not descended");
                return Ok(());
            }
            Err(e) => {
                self.diagnose(at, format!("{at}: cannot open: {e}"));
                return Ok(());
            }
        };
        match fd_statx(&fd) {
            Ok(stat) if stat.stx_ino == ino && device_of(&stat) == self.root.device => {}
            Ok(_) => {
                self.diagnose(
                    at,
                    format!("{at}: replaced while the root was walked; skipped"),
                );
                return Ok(());
            }
            Err(e) => {
                self.diagnose(at, format!("{at}: cannot stat: {e}"));
                return Ok(());
            }
        }
        let mut listing = match Dir::new(fd) {
            Ok(listing) => listing,
            Err(e) => {
                self.diagnose(at, format!("{at}: cannot list: {e}"));
                return Ok(());
            }
        };
        while let Some(item) = listing.read() {
            let item = match item {
                Ok(item) => item,
                Err(e) => {
                    self.diagnose(at, format!("{at}: cannot list: {e}"));
                    break;
                }
            };
            let name = item.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            let dir_fd = match listing.fd() {
                Ok(fd) => fd,
                Err(e) => {
                    self.diagnose(at, format!("{at}: cannot list: {e}"));
                    break;
                }
            };
            self.entry(at, dir_fd, name)?;
        }
        Ok(())
    }

    /// Records the entry `name` of directory `at` (open as `dir_fd`).
    fn entry(
        &mut self,
        at: &ImagePath,
        dir_fd: impl AsFd + Copy,
        name: &CStr,
    ) -> Result<(), ImageError> {
        let Ok(text) = name.to_str() else {
            self.diagnose(
                at,
                format!("{at}: skipped an entry whose name is not UTF-8: {name:?}"),
            );
            return Ok(());
        };
        let Ok(path) = at.join_component(text) else {
            return Ok(());
        };
        self.seen += 1;
        if self.seen > self.limits.max_entries {
            return Err(ImageError::Oversized(format!(
                "root directory has more than {} entries (max_entries)",
                self.limits.max_entries
            )));
        }
        let stat = match rustix::fs::statx(dir_fd, name, AtFlags::SYMLINK_NOFOLLOW, STATX_MASK) {
            Ok(stat) => stat,
            Err(e) => {
                self.diagnose(&path, format!("{path}: cannot stat: {e}"));
                return Ok(());
            }
        };
        let kind = FileType::from_raw_mode(u32::from(stat.stx_mode));
        let link_target = if kind == FileType::Symlink {
            match rustix::fs::readlinkat(dir_fd, name, Vec::new()) {
                Ok(target) => Some(String::from_utf8_lossy(target.as_bytes()).into_owned()),
                Err(e) => {
                    self.diagnose(&path, format!("{path}: cannot read link: {e}"));
                    return Ok(());
                }
            }
        } else {
            None
        };
        let Some(file) = file_meta(&stat, link_target) else {
            tracing::trace!(%path, "socket; not indexed");
            return Ok(());
        };
        let mut content = Content::Absent;
        match file.kind {
            FileKind::Dir => self.descend(&path, &stat, at.is_root() && self.is_pseudo(text)),
            FileKind::Regular if (self.wants)(&path, &file) => {
                if file.size > self.limits.max_captured_file {
                    self.diagnostics.push(Diagnostic {
                        code: ErrorCode::ImageOversized,
                        message: format!(
                            "{path} is {} bytes, more than max_captured_file ({}); not read",
                            file.size, self.limits.max_captured_file
                        ),
                        path: Some(path.to_string()),
                    });
                } else {
                    content = Content::Host { ino: stat.stx_ino };
                    self.versions
                        .entry(path.clone())
                        .or_default()
                        .push(Version {
                            layer: 0,
                            size: file.size,
                            content,
                        });
                }
            }
            _ => {}
        }
        self.tree.insert(
            path,
            Node {
                meta: file,
                content,
            },
        );
        Ok(())
    }

    fn is_pseudo(&self, name: &str) -> bool {
        self.is_host_root && PSEUDO_DIRS.contains(&name)
    }

    /// Queues directory `path` for listing unless it is another filesystem or mount, or a
    /// pseudo filesystem of the host.
    fn descend(&mut self, path: &ImagePath, stat: &Statx, pseudo: bool) {
        if pseudo {
            tracing::debug!(%path, "kernel interface of the host; not descended");
        } else if device_of(stat) != self.root.device {
            tracing::debug!(%path, "another filesystem; not descended");
        } else if mount_of(stat).is_some_and(|m| Some(m) != self.root.mount) {
            tracing::debug!(%path, "another mount; not descended");
        } else {
            self.pending.push((path.clone(), stat.stx_ino));
        }
    }
}

/// The view's metadata for what `statx` said; `None` for kinds a view does not hold (sockets).
fn file_meta(stat: &Statx, link_target: Option<String>) -> Option<FileMeta> {
    let kind = match FileType::from_raw_mode(u32::from(stat.stx_mode)) {
        FileType::RegularFile => FileKind::Regular,
        FileType::Directory => FileKind::Dir,
        FileType::Symlink => FileKind::Symlink,
        FileType::CharacterDevice => FileKind::CharDevice,
        FileType::BlockDevice => FileKind::BlockDevice,
        FileType::Fifo => FileKind::Fifo,
        FileType::Socket | FileType::Unknown => return None,
    };
    Some(FileMeta {
        kind,
        mode: u32::from(stat.stx_mode) & 0o7777,
        size: if kind == FileKind::Regular {
            stat.stx_size
        } else {
            0
        },
        uid: u64::from(stat.stx_uid),
        gid: u64::from(stat.stx_gid),
        mtime: u64::try_from(stat.stx_mtime.tv_sec).unwrap_or(0),
        link_target,
        layer: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::{symlink, MetadataExt};

    fn p(s: &str) -> ImagePath {
        ImagePath::parse(s).unwrap()
    }

    /// Both ways of opening beneath the root refuse a symlink anywhere on the path.
    #[test]
    fn opening_beneath_refuses_symlinks_with_and_without_openat2() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir_all(root.join("real")).unwrap();
        fs::write(root.join("real/file"), "inside").unwrap();
        fs::write(tmp.path().join("secret"), "outside").unwrap();
        symlink("real", root.join("link")).unwrap();
        symlink("../../secret", root.join("real/up")).unwrap();
        symlink(tmp.path(), root.join("abs")).unwrap();
        for with_openat2 in [true, false] {
            let (host, _) = HostRoot::new(&root).unwrap();
            host.openat2.store(with_openat2, Ordering::Relaxed);
            let dir = OFlags::RDONLY | OFlags::DIRECTORY;
            assert!(host.open_beneath(&p("real"), dir, true).is_ok());
            assert!(host.open_beneath(&ImagePath::root(), dir, true).is_ok());
            for path in ["link", "abs", "link/file", "abs/secret", "real/up"] {
                assert!(
                    host.open_beneath(&p(path), OFlags::RDONLY, false).is_err(),
                    "{path} opened (openat2: {with_openat2})"
                );
            }
            let ino = fs::metadata(root.join("real/file")).unwrap().ino();
            let mut text = String::new();
            host.open(&p("real/file"), ino)
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            assert_eq!(text, "inside");
            assert!(host.open(&p("link/file"), ino).is_err());
            assert!(host.open(&p("real/file"), ino + 1).is_err());
        }
    }
}
