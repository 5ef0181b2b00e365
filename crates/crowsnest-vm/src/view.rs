//! [`VmFs`]: a VM's filesystem (ext4 or xfs, through [`ReadOnlyFs`]) as an [`ImageFs`], the same view catalogers get from a
//! container image's merged layers or from a root directory.
//!
//! Opening it walks the directory tree once and keeps every entry's metadata in memory;
//! contents are read from the disk only when a cataloger opens a file. Symlinks are resolved
//! inside the filesystem's root like in a chroot (at most 40 hops), never on the host.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::sync::Arc;

use crowsnest_model::{Diagnostic, ErrorCode, FileKind, FileMeta, ImageFs, ImagePath, ReadSeek};

use crate::filesystem::{InodeKind, ReadOnlyFs, Stat};
use crate::VmError;

/// How many symlinks one resolution may follow, as Linux's `MAXSYMLINKS`.
const MAX_LINK_HOPS: usize = 40;

#[derive(Debug)]
struct Node {
    meta: FileMeta,
    ino: u64,
}

/// A read-only filesystem of a VM disk, indexed.
#[derive(Debug)]
pub struct VmFs {
    fs: Arc<dyn ReadOnlyFs>,
    root: FileMeta,
    nodes: BTreeMap<ImagePath, Node>,
    children: HashMap<ImagePath, Vec<ImagePath>>,
    diagnostics: Vec<Diagnostic>,
}

impl VmFs {
    /// Walks `fs` from its root directory. A directory that cannot be read is a diagnostic;
    /// more than `max_entries` entries is [`VmError::Oversized`].
    pub fn index(fs: Arc<dyn ReadOnlyFs>, max_entries: usize) -> Result<VmFs, VmError> {
        let root_inode = fs.stat(fs.root())?;
        if root_inode.kind != InodeKind::Dir {
            return Err(VmError::invalid(format!(
                "{}: the root inode is not a directory",
                fs.kind()
            )));
        }
        let mut view = VmFs {
            root: meta_of(&root_inode, None),
            fs: fs.clone(),
            nodes: BTreeMap::new(),
            children: HashMap::new(),
            diagnostics: Vec::new(),
        };
        let mut visited_dirs = HashSet::from([root_inode.ino]);
        let mut pending = vec![(ImagePath::root(), root_inode)];
        while let Some((dir, inode)) = pending.pop() {
            let entries = match fs.read_dir(&inode) {
                Ok(e) => e,
                Err(e) if is_local(&e) => {
                    view.diagnose(&dir, &e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut names = Vec::with_capacity(entries.len());
            for entry in entries {
                let Ok(path) = dir.join_component(&entry.name) else {
                    continue;
                };
                let child = match fs.stat(entry.ino) {
                    Ok(i) => i,
                    Err(e) if is_local(&e) => {
                        view.diagnose(&path, &e);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                if child.kind == InodeKind::Socket {
                    continue;
                }
                let target = if child.kind == InodeKind::Symlink {
                    match fs.read_link(&child) {
                        Ok(t) => Some(t),
                        Err(e) if is_local(&e) => {
                            view.diagnose(&path, &e);
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                } else {
                    None
                };
                if view.nodes.len() >= max_entries {
                    return Err(VmError::Oversized(format!(
                        "filesystem has more than {max_entries} entries"
                    )));
                }
                let meta = meta_of(&child, target);
                if child.kind == InodeKind::Dir {
                    // A directory reached twice is a loop (directories cannot be hard linked).
                    if visited_dirs.insert(child.ino) {
                        pending.push((path.clone(), child.clone()));
                    } else {
                        view.diagnostics.push(Diagnostic {
                            code: ErrorCode::InvalidImage,
                            message: format!("directory inode {} reached twice", child.ino),
                            path: Some(path.to_string()),
                        });
                        continue;
                    }
                }
                names.push(path.clone());
                view.nodes.insert(
                    path,
                    Node {
                        meta,
                        ino: child.ino,
                    },
                );
            }
            names.sort();
            view.children.insert(dir, names);
        }
        Ok(view)
    }

    /// The filesystem's kind: `ext4` or `xfs`.
    pub fn fs_kind(&self) -> &'static str {
        self.fs.kind()
    }

    /// Problems with single entries that did not stop the walk.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// How many entries the view holds.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when the filesystem holds nothing but its root.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Reads the regular file at `path` (symlinks followed) whole, when it is at most `max`
    /// bytes.
    pub fn read(&self, path: &str, max: u64) -> Option<Vec<u8>> {
        let path = ImagePath::parse(path).ok()?;
        let at = self.resolve(&path)?;
        let node = self.nodes.get(&at)?;
        if node.meta.kind != FileKind::Regular {
            return None;
        }
        let inode = self.fs.stat(node.ino).ok()?;
        self.fs.read_all(&inode, max).ok()
    }

    /// The first bytes (at most `len`) of the regular file at `path`.
    pub fn head(&self, path: &str, len: usize) -> Option<Vec<u8>> {
        use std::io::Read;
        let path = ImagePath::parse(path).ok()?;
        let mut reader = self.open(&path).ok()?;
        let mut out = Vec::with_capacity(len);
        reader
            .by_ref()
            .take(len as u64)
            .read_to_end(&mut out)
            .ok()?;
        Some(out)
    }

    fn diagnose(&mut self, path: &ImagePath, e: &VmError) {
        self.diagnostics.push(Diagnostic {
            code: e.code(),
            message: e.to_string(),
            path: Some(path.to_string()),
        });
    }

    /// Resolves `path`, following a final symlink only when `follow_last`.
    fn walk_path(&self, path: &ImagePath, follow_last: bool) -> Option<ImagePath> {
        let mut pending: Vec<String> = path.components().map(str::to_owned).collect();
        pending.reverse();
        let mut at = ImagePath::root();
        let mut hops = 0usize;
        while let Some(component) = pending.pop() {
            let next = at.join_component(&component).ok()?;
            let node = self.nodes.get(&next)?;
            let last = pending.is_empty();
            match (&node.meta.kind, &node.meta.link_target) {
                (FileKind::Symlink, Some(target)) if !last || follow_last => {
                    hops += 1;
                    if hops > MAX_LINK_HOPS || target.is_empty() {
                        return None;
                    }
                    let resolved = next.resolve_link_target(target);
                    let mut more: Vec<String> = resolved.components().map(str::to_owned).collect();
                    more.reverse();
                    pending.extend(more);
                    at = ImagePath::root();
                }
                (FileKind::Dir, _) => at = next,
                _ if last => at = next,
                _ => return None,
            }
        }
        Some(at)
    }
}

/// Whether an error concerns one entry only (a feature this reader skips, an entry past a
/// limit), so the walk goes on. Anything else (a corrupt or truncated disk, a host read error)
/// means the filesystem as a whole cannot be trusted, and ends it.
fn is_local(e: &VmError) -> bool {
    matches!(e, VmError::Unsupported(_) | VmError::Oversized(_))
}

fn meta_of(inode: &Stat, link_target: Option<String>) -> FileMeta {
    let kind = match inode.kind {
        InodeKind::Regular => FileKind::Regular,
        InodeKind::Dir => FileKind::Dir,
        InodeKind::Symlink => FileKind::Symlink,
        InodeKind::CharDevice => FileKind::CharDevice,
        InodeKind::BlockDevice => FileKind::BlockDevice,
        InodeKind::Fifo | InodeKind::Socket => FileKind::Fifo,
    };
    FileMeta {
        kind,
        mode: inode.mode,
        size: if kind == FileKind::Regular {
            inode.size
        } else {
            0
        },
        uid: u64::from(inode.uid),
        gid: u64::from(inode.gid),
        mtime: inode.mtime,
        link_target,
        layer: 0,
    }
}

impl ImageFs for VmFs {
    fn metadata(&self, path: &ImagePath) -> Option<FileMeta> {
        if path.is_root() {
            return Some(self.root.clone());
        }
        let at = self.walk_path(path, false)?;
        if at.is_root() {
            return Some(self.root.clone());
        }
        self.nodes.get(&at).map(|n| n.meta.clone())
    }

    fn resolve(&self, path: &ImagePath) -> Option<ImagePath> {
        self.walk_path(path, true)
    }

    fn open(&self, path: &ImagePath) -> io::Result<Box<dyn ReadSeek + '_>> {
        let not_found = || io::Error::new(io::ErrorKind::NotFound, format!("{path} not found"));
        let at = self.walk_path(path, true).ok_or_else(not_found)?;
        let node = self.nodes.get(&at).ok_or_else(not_found)?;
        if node.meta.kind != FileKind::Regular {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{path} is not a regular file"),
            ));
        }
        let to_io = |e: VmError| io::Error::new(io::ErrorKind::InvalidData, e);
        let inode = self.fs.stat(node.ino).map_err(to_io)?;
        self.fs.open_file(&inode).map_err(to_io)
    }

    fn entries(&self) -> Box<dyn Iterator<Item = (&ImagePath, &FileMeta)> + '_> {
        Box::new(self.nodes.iter().map(|(p, n)| (p, &n.meta)))
    }

    fn read_dir(&self, dir: &ImagePath) -> Vec<ImagePath> {
        self.walk_path(dir, true)
            .and_then(|at| self.children.get(&at).cloned())
            .unwrap_or_default()
    }
}
