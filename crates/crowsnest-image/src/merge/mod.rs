//! The merged, read-only view of an image's layers: [`MergedFs`].
//!
//! [`MergedFs::from_layers`] streams each layer of an [`ImageSource`] once, base first, and keeps
//! the metadata of every entry of the merged view (OCI whiteouts applied) in memory, plus the
//! content of the files a caller wants, copied into a private sandbox directory under sequence
//! numbers. [`MergedFs::from_rootfs`] indexes a plain root directory the same way and opens its
//! files in place. Either way, every query is an [`ImagePath`] and every symlink is resolved
//! inside the root, so nothing outside the image can be named, read or written.

mod layer;
mod reader;
mod rootfs;
mod sandbox;
mod tree;
mod visitor;

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crowsnest_model::{Diagnostic, FileKind, FileMeta, ImageFs, ImagePath, LayerInfo, ReadSeek};

use crate::source::{ImageSource, UnpackBudget};
use crate::{ImageError, Limits};
use layer::{Merger, Version};
use reader::ContentReader;
use sandbox::Sandbox;
use tree::{Content, Tree};

pub use visitor::{LayerEntry, LayerVisitor};

/// Decides, from path and metadata only, whether a regular file's content is kept.
pub type Wants<'a> = &'a dyn Fn(&ImagePath, &FileMeta) -> bool;

/// How far the merge has got, reported while layers stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Index of the layer being read, 0 for the base.
    pub layer: usize,
    /// How many layers the image has.
    pub layer_count: usize,
    /// Uncompressed bytes of this layer read so far.
    pub bytes_read: u64,
}

/// Everything a merge needs besides the source. Built with [`MergeOptions::new`], then
/// [`MergeOptions::merge`].
pub struct MergeOptions<'a> {
    wants: Wants<'a>,
    limits: &'a Limits,
    progress: Option<&'a mut dyn FnMut(Progress)>,
    visitor: Option<&'a mut dyn LayerVisitor>,
    sandbox_parent: Option<PathBuf>,
}

impl<'a> MergeOptions<'a> {
    /// Options that keep the regular files `wants` accepts, within `limits`.
    pub fn new(wants: Wants<'a>, limits: &'a Limits) -> Self {
        MergeOptions {
            wants,
            limits,
            progress: None,
            visitor: None,
            sandbox_parent: None,
        }
    }

    /// Reports progress to `progress`: at least at the end of each layer, and every MiB.
    pub fn progress(mut self, progress: &'a mut dyn FnMut(Progress)) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Shows every entry of every layer to `visitor` while streaming.
    pub fn visitor(mut self, visitor: &'a mut dyn LayerVisitor) -> Self {
        self.visitor = Some(visitor);
        self
    }

    /// Creates the sandbox below `dir` instead of the system's temporary directory (which may
    /// be a small tmpfs).
    pub fn sandbox_in(mut self, dir: impl Into<PathBuf>) -> Self {
        self.sandbox_parent = Some(dir.into());
        self
    }

    /// Streams every layer of `source` once, base first, into a [`MergedFs`].
    ///
    /// Fails with [`ImageError::UnsafeEntry`] when an entry or hard link names a path above the
    /// root, [`ImageError::Oversized`] past [`Limits::max_entries`], and with whatever error a
    /// layer stream reports (digest mismatch, corrupt compression). Problems that only affect
    /// one entry (a parent that is not a directory, a symlink loop, a wanted file larger than
    /// [`Limits::max_captured_file`]) become [`MergedFs::diagnostics`].
    pub fn merge(self, source: &dyn ImageSource) -> Result<MergedFs, ImageError> {
        let budget = UnpackBudget::new(self.limits);
        let descriptors = source.layers();
        let layer_count = descriptors.len();
        let mut merger = Merger::new(self, budget.clone())?;
        let mut layers = Vec::with_capacity(layer_count);
        for (index, descriptor) in descriptors.iter().enumerate() {
            let span = tracing::info_span!("layer", index, digest = %descriptor.digest);
            let _entered = span.enter();
            let stream = source.open_layer(index, &budget)?;
            let info = merger.apply_layer(index, layer_count, descriptor, stream)?;
            tracing::debug!(unpacked = info.unpacked_size, "layer merged");
            layers.push(info);
        }
        Ok(MergedFs {
            tree: merger.tree,
            versions: merger.versions,
            storage: Storage::Sandbox(merger.sandbox),
            diagnostics: merger.diagnostics,
            layers,
        })
    }
}

/// Where captured contents live.
#[derive(Debug)]
enum Storage {
    /// Copies in a private temporary directory, removed with the view.
    Sandbox(Sandbox),
    /// A root directory on this host, read in place.
    Rootfs(rootfs::HostRoot),
}

/// The merged, read-only filesystem of an image (or of a root directory).
///
/// Holds the metadata of every entry and the content of the wanted regular files. Dropping it
/// removes the sandbox.
#[derive(Debug)]
pub struct MergedFs {
    tree: Tree,
    versions: BTreeMap<ImagePath, Vec<Version>>,
    storage: Storage,
    diagnostics: Vec<Diagnostic>,
    layers: Vec<LayerInfo>,
}

/// One captured version of a file: the content one layer gave it.
#[derive(Debug, Clone, Copy)]
pub struct CapturedVersion<'a> {
    /// The layer this version comes from.
    pub layer: usize,
    /// Its size in bytes.
    pub size: u64,
    fs: &'a MergedFs,
    path: &'a ImagePath,
    content: Content,
}

impl CapturedVersion<'_> {
    /// Opens this version's content.
    pub fn open(&self) -> io::Result<File> {
        self.fs.open_content(self.path, self.content)
    }
}

/// A glob pattern that could not be compiled.
#[derive(Debug, thiserror::Error)]
#[error("bad glob pattern {pattern:?}: {reason}")]
pub struct GlobError {
    /// The pattern.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

impl MergedFs {
    /// Merges `source` keeping the files `wants` accepts; see [`MergeOptions::merge`], which this
    /// is shorthand for.
    pub fn from_layers(
        source: &dyn ImageSource,
        wants: Wants<'_>,
        limits: &Limits,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<MergedFs, ImageError> {
        MergeOptions::new(wants, limits)
            .progress(progress)
            .merge(source)
    }

    /// Indexes the root filesystem at `dir` without copying anything: the files `wants`
    /// accepts are opened in place when asked for.
    ///
    /// Symlinks are recorded, never followed, and nothing is opened through a host path: every
    /// open is relative to a descriptor of `dir` and refuses symlinks on the way. The walk
    /// stays on `dir`'s mount (like `find -xdev`; bind mounts count as other mounts, and each
    /// skipped mount is a debug trace), and when `dir` is the host's `/` it does not descend
    /// into `proc`, `sys`, `dev` and `run`. Only directories are opened while walking, so fifos
    /// and sockets cannot block it. Unreadable files and directories become diagnostics.
    pub fn from_rootfs(
        dir: &Path,
        wants: Wants<'_>,
        limits: &Limits,
    ) -> Result<MergedFs, ImageError> {
        let walked = rootfs::walk(dir, wants, limits)?;
        Ok(MergedFs {
            tree: walked.tree,
            versions: walked.versions,
            storage: Storage::Rootfs(walked.root),
            diagnostics: walked.diagnostics,
            layers: Vec::new(),
        })
    }

    /// Problems that affected single entries and did not stop the merge.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// The layers as merged, base first, with their measured unpacked sizes (empty for a
    /// root directory).
    pub fn layers(&self) -> &[LayerInfo] {
        &self.layers
    }

    /// The sandbox directory holding captured contents (`None` for a root directory).
    pub fn sandbox_dir(&self) -> Option<&Path> {
        match &self.storage {
            Storage::Sandbox(sandbox) => Some(sandbox.path()),
            Storage::Rootfs(_) => None,
        }
    }

    /// Every captured version of the regular file at `path` (symlinks followed), oldest layer
    /// first, since the path was last deleted. Catalogers read the older versions to tell
    /// which layer introduced what the newest one holds.
    pub fn captured_versions(&self, path: &ImagePath) -> Vec<CapturedVersion<'_>> {
        let Some(resolved) = self.resolve(path) else {
            return Vec::new();
        };
        let Some((key, list)) = self.versions.get_key_value(&resolved) else {
            return Vec::new();
        };
        list.iter()
            .map(|v| CapturedVersion {
                layer: v.layer,
                size: v.size,
                fs: self,
                path: key,
                content: v.content,
            })
            .collect()
    }

    /// The entries whose path matches `pattern`, in path order. Patterns are matched against
    /// the path without its leading `/`; `*` stays within one component and `**/` spans any
    /// number, so `**/*.dist-info/METADATA` finds every installed Python distribution.
    pub fn glob(&self, pattern: &str) -> Result<Vec<(&ImagePath, &FileMeta)>, GlobError> {
        let trimmed = pattern.trim_start_matches('/');
        let matcher = globset::GlobBuilder::new(trimmed)
            .literal_separator(true)
            .build()
            .map_err(|e| GlobError {
                pattern: pattern.to_owned(),
                reason: e.kind().to_string(),
            })?
            .compile_matcher();
        Ok(self
            .tree
            .iter()
            .filter(|(p, _)| matcher.is_match(p.as_str()))
            .map(|(p, n)| (p, &n.meta))
            .collect())
    }

    fn open_content(&self, path: &ImagePath, content: Content) -> io::Result<File> {
        match (&self.storage, content) {
            (Storage::Sandbox(sandbox), Content::Sandbox(id)) => sandbox.open(id),
            (Storage::Rootfs(root), Content::Host { ino }) => root.open(path, ino),
            _ => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("the content of {path} was not kept"),
            )),
        }
    }
}

impl ImageFs for MergedFs {
    fn metadata(&self, path: &ImagePath) -> Option<FileMeta> {
        let at = self.tree.resolve(path, false).ok()?;
        self.tree.meta(&at).cloned()
    }

    fn resolve(&self, path: &ImagePath) -> Option<ImagePath> {
        let at = self.tree.resolve(path, true).ok()?;
        self.tree.meta(&at).map(|_| at)
    }

    fn open(&self, path: &ImagePath) -> io::Result<Box<dyn ReadSeek + '_>> {
        let not_found = || io::Error::new(io::ErrorKind::NotFound, format!("{path} not found"));
        let at = self.resolve(path).ok_or_else(not_found)?;
        let node = self.tree.get(&at).ok_or_else(not_found)?;
        if node.meta.kind != FileKind::Regular {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{path} is not a regular file"),
            ));
        }
        Ok(Box::new(ContentReader::new(
            self.open_content(&at, node.content)?,
        )?))
    }

    fn entries(&self) -> Box<dyn Iterator<Item = (&ImagePath, &FileMeta)> + '_> {
        Box::new(self.tree.iter().map(|(p, n)| (p, &n.meta)))
    }

    fn read_dir(&self, dir: &ImagePath) -> Vec<ImagePath> {
        match self.resolve(dir) {
            Some(at) if self.tree.meta(&at).is_some_and(|m| m.kind == FileKind::Dir) => {
                self.tree.children(&at)
            }
            _ => Vec::new(),
        }
    }
}
