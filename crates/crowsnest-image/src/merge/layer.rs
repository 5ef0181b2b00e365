//! Applying layers, base first, to the view: one streaming pass over each layer's tar.
//!
//! For every entry the merger normalises the name into an [`ImagePath`] (refusing the image when
//! a name climbs above the root), applies OCI whiteouts to lower layers, places the entry at its
//! parent's resolved location (a parent that is a symlink is followed inside the root, as a
//! runtime's secure extraction does), records its metadata, and copies the content of wanted
//! files into the sandbox. Nothing else from the image touches the host.

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read};
use std::rc::Rc;

use crowsnest_model::{Diagnostic, Digest, ErrorCode, FileKind, FileMeta, ImagePath};
use crowsnest_model::{ImagePathError, LayerInfo};
use sha2::{Digest as _, Sha256};

use super::sandbox::{CaptureError, Sandbox};
use super::tree::{Content, Node, Tree};
use super::visitor::{LayerEntry, LayerVisitor};
use super::{MergeOptions, Progress};
use crate::source::tar_end::{TarEnd, MAX_EXTENSION_BYTES};
use crate::source::{LayerDescriptor, UnpackBudget};
use crate::ImageError;

/// The name prefix that marks a whiteout (`.wh.NAME` deletes `NAME` from lower layers).
const WHITEOUT_PREFIX: &str = ".wh.";
/// The whiteout that makes its directory opaque.
const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// Progress is reported at most once per this many bytes of a layer (and at its end).
const PROGRESS_STEP: u64 = 1 << 20;

/// One captured version of a path, from one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Version {
    pub(crate) layer: usize,
    pub(crate) size: u64,
    pub(crate) content: Content,
}

/// The state built up while layers stream.
pub(crate) struct Merger<'o> {
    pub(crate) tree: Tree,
    pub(crate) versions: BTreeMap<ImagePath, Vec<Version>>,
    pub(crate) sandbox: Sandbox,
    pub(crate) diagnostics: Vec<Diagnostic>,
    entries_seen: u64,
    /// The image's unpack budget, also charged for the holes of sparse files as they are read.
    budget: UnpackBudget,
    options: MergeOptions<'o>,
}

/// A layer stream that counts (and, when the source knows no diff id, hashes) what passes, and
/// follows the tar framing to refuse an oversized extension header before the tar reader
/// buffers it.
struct Metered<R> {
    inner: R,
    layer: usize,
    read: Rc<Cell<u64>>,
    hasher: Option<Sha256>,
    framing: TarEnd,
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(refused) = self.refused_extension() {
            return Err(refused);
        }
        let n = self.inner.read(buf)?;
        let chunk = buf.get(..n).unwrap_or_default();
        self.read.set(self.read.get().saturating_add(n as u64));
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(chunk);
        }
        self.framing.feed(chunk);
        if let Some(refused) = self.refused_extension() {
            return Err(refused);
        }
        Ok(n)
    }
}

impl<R> Metered<R> {
    fn refused_extension(&self) -> Option<io::Error> {
        let (flag, size) = self.framing.oversized_extension()?;
        let what = match flag {
            b'x' => "pax extended header",
            b'L' => "GNU long name",
            _ => "GNU long link name",
        };
        Some(io::Error::other(ImageError::Oversized(format!(
            "layer {}: a {what} of {size} bytes is larger than {MAX_EXTENSION_BYTES} bytes",
            self.layer
        ))))
    }
}

/// An entry's content as read for capture or a visitor. A sparse entry's holes are produced by
/// the tar reader, not read from the layer, so they are charged to the unpack budget here: a
/// tiny layer must not expand into terabytes of zeros in the sandbox.
struct Expanded<'e> {
    inner: &'e mut dyn Read,
    budget: Option<UnpackBudget>,
}

impl Read for Expanded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(budget) = &self.budget {
            budget.spend(n as u64).map_err(io::Error::other)?;
        }
        Ok(n)
    }
}

/// What a header says an entry is.
enum EntryKind {
    File(FileKind),
    HardLink,
    /// Extension headers the tar crate hands through (PAX global) or types we do not know.
    Skip(&'static str),
}

impl<'o> Merger<'o> {
    pub(crate) fn new(options: MergeOptions<'o>, budget: UnpackBudget) -> Result<Self, ImageError> {
        let sandbox = Sandbox::new(options.sandbox_parent.as_deref())?;
        Ok(Merger {
            tree: Tree::new(),
            versions: BTreeMap::new(),
            sandbox,
            diagnostics: Vec::new(),
            entries_seen: 0,
            budget,
            options,
        })
    }

    /// Streams layer `index` to its end and applies it. Returns the layer as the inventory
    /// reports it, with the unpacked size measured here.
    pub(crate) fn apply_layer(
        &mut self,
        index: usize,
        layer_count: usize,
        descriptor: &LayerDescriptor,
        stream: Box<dyn Read + Send + '_>,
    ) -> Result<LayerInfo, ImageError> {
        let read = Rc::new(Cell::new(0u64));
        let metered = Metered {
            inner: stream,
            layer: index,
            read: Rc::clone(&read),
            hasher: descriptor.diff_id.is_none().then(Sha256::new),
            framing: TarEnd::default(),
        };
        let mut archive = tar::Archive::new(metered);
        let mut reported = 0u64;
        {
            let entries = archive
                .entries()
                .map_err(|e| layer_error(index, e, "reading the tar stream"))?;
            for entry in entries {
                let mut entry = entry.map_err(|e| layer_error(index, e, "reading a tar header"))?;
                self.apply_entry(index, &mut entry)?;
                if read.get().saturating_sub(reported) >= PROGRESS_STEP {
                    reported = read.get();
                    self.report(index, layer_count, reported);
                }
            }
        }
        // The tar ends at its first zero block; the rest (second zero block, record padding)
        // must still be read so the source can check the layer's digests at end of stream.
        let mut rest = archive.into_inner();
        io::copy(&mut rest, &mut io::sink())
            .map_err(|e| layer_error(index, e, "reading the end of the layer"))?;
        self.report(index, layer_count, read.get());
        let diff_id = match (&descriptor.diff_id, rest.hasher.take()) {
            (Some(known), _) => known.clone(),
            (None, Some(hasher)) => Digest::sha256_from_bytes(&hasher.finalize().into()),
            (None, None) => descriptor.digest.clone(),
        };
        Ok(LayerInfo {
            index,
            digest: descriptor.digest.clone(),
            diff_id,
            size: descriptor.size,
            unpacked_size: read.get(),
            media_type: descriptor.media_type.clone(),
            created_by: descriptor.created_by.clone(),
        })
    }

    fn report(&mut self, layer: usize, layer_count: usize, bytes_read: u64) {
        if let Some(progress) = self.options.progress.as_mut() {
            progress(Progress {
                layer,
                layer_count,
                bytes_read,
            });
        }
    }

    fn diagnose(&mut self, code: ErrorCode, path: Option<&str>, message: String) {
        tracing::debug!(%code, ?path, "{message}");
        self.diagnostics.push(Diagnostic {
            code,
            message,
            path: path.map(|p| format!("/{p}")),
        });
    }

    fn count_entry(&mut self) -> Result<(), ImageError> {
        self.entries_seen += 1;
        let max = self.options.limits.max_entries;
        if self.entries_seen > max || self.tree.len() as u64 > max {
            return Err(ImageError::Oversized(format!(
                "image has more than {max} entries (max_entries)"
            )));
        }
        Ok(())
    }

    fn apply_entry<R: Read>(
        &mut self,
        layer: usize,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<(), ImageError> {
        self.count_entry()?;
        let name = entry_name(&entry.path_bytes());
        if let Err(raw) = &name {
            self.diagnose(
                ErrorCode::UnsafeLayerEntry,
                None,
                format!("layer {layer}: entry name {raw:?} is not UTF-8; read lossily"),
            );
        }
        let name = name.unwrap_or_else(|lossy| lossy);
        let path = ImagePath::parse(&name).map_err(|e| unsafe_entry(layer, &name, &e))?;

        let file_name = path.file_name();
        if let Some(hidden) = file_name.strip_prefix(WHITEOUT_PREFIX) {
            return self.apply_whiteout(layer, &path, &name, hidden);
        }

        let header = entry.header();
        let sparse = header.entry_type() == tar::EntryType::GNUSparse;
        let kind = match entry_kind(header.entry_type()) {
            EntryKind::Skip(what) => {
                if what != "pax-global" {
                    self.diagnose(
                        ErrorCode::CorruptLayer,
                        Some(path.as_str()),
                        format!("layer {layer}: entry {name:?} has {what}; skipped"),
                    );
                }
                return Ok(());
            }
            kind => kind,
        };
        let corrupt = |e: io::Error| ImageError::CorruptLayer {
            layer,
            reason: format!("entry {name:?}: {e}"),
        };
        let mut meta = FileMeta {
            kind: FileKind::Regular,
            mode: header.mode().map_err(corrupt)? & 0o7777,
            size: 0,
            uid: header.uid().map_err(corrupt)?,
            gid: header.gid().map_err(corrupt)?,
            mtime: header.mtime().map_err(corrupt)?,
            link_target: None,
            layer,
        };
        let link_name = entry
            .link_name_bytes()
            .map(|b| String::from_utf8_lossy(&b).into_owned());

        if path.is_root() {
            if matches!(kind, EntryKind::File(FileKind::Dir)) {
                meta.kind = FileKind::Dir;
                self.tree.set_root_meta(meta.clone());
            }
            self.visit(layer, &path, Some(&path), &meta, &mut io::empty());
            return Ok(());
        }

        if let EntryKind::HardLink = kind {
            return self.apply_hard_link(layer, &path, &name, link_name.as_deref(), meta);
        }
        if let EntryKind::File(file_kind) = kind {
            meta.kind = file_kind;
        }
        match meta.kind {
            FileKind::Regular => meta.size = entry.size(),
            FileKind::Symlink => meta.link_target = Some(link_name.unwrap_or_default()),
            _ => {}
        }

        let placed = self.place(layer, &path, &name)?;
        let mut content = Content::Absent;
        if let Some(at) = &placed {
            if meta.kind == FileKind::Regular && (self.options.wants)(at, &meta) {
                if meta.size > self.options.limits.max_captured_file {
                    self.diagnose(
                        ErrorCode::ImageOversized,
                        Some(at.as_str()),
                        format!(
                            "layer {layer}: {at} is {} bytes, more than max_captured_file ({}); not read",
                            meta.size, self.options.limits.max_captured_file
                        ),
                    );
                } else {
                    let mut expanded = Expanded {
                        inner: entry,
                        budget: sparse.then(|| self.budget.clone()),
                    };
                    let id = self.sandbox.capture(&mut expanded).map_err(|e| match e {
                        CaptureError::Read(e) => layer_error(layer, e, "reading a file"),
                        CaptureError::Write(e) => e,
                    })?;
                    content = Content::Sandbox(id);
                }
            }
            self.put(at.clone(), &meta, content);
        }

        match content {
            Content::Sandbox(id) => match self.sandbox.open(id) {
                Ok(mut file) => self.visit(layer, &path, placed.as_ref(), &meta, &mut file),
                Err(e) => return Err(ImageError::io("reopening a sandbox file", e)),
            },
            _ if meta.kind == FileKind::Regular => {
                let mut expanded = Expanded {
                    inner: entry,
                    budget: sparse.then(|| self.budget.clone()),
                };
                self.visit(layer, &path, placed.as_ref(), &meta, &mut expanded)
            }
            _ => self.visit(layer, &path, placed.as_ref(), &meta, &mut io::empty()),
        }
        Ok(())
    }

    fn visit(
        &mut self,
        layer: usize,
        path: &ImagePath,
        placed_at: Option<&ImagePath>,
        meta: &FileMeta,
        content: &mut dyn Read,
    ) {
        if let Some(visitor) = self.options.visitor.as_mut() {
            let entry = LayerEntry {
                layer,
                path,
                placed_at,
                meta,
            };
            LayerVisitor::visit(&mut **visitor, &entry, content);
        }
    }

    /// Where an entry lands: its parent directory resolved through symlinks inside the root,
    /// created if missing. `None` (with a diagnostic) when a runtime could not extract it either.
    fn place(
        &mut self,
        layer: usize,
        path: &ImagePath,
        name: &str,
    ) -> Result<Option<ImagePath>, ImageError> {
        let parent = path.parent().unwrap_or_else(ImagePath::root);
        let dir = match self.tree.resolve(&parent, true) {
            Ok(dir) => dir,
            Err(why) => {
                self.diagnose(
                    ErrorCode::UnsafeLayerEntry,
                    Some(path.as_str()),
                    format!("layer {layer}: entry {name:?} skipped: {why}"),
                );
                return Ok(None);
            }
        };
        if let Some(existing) = self.tree.meta(&dir) {
            if existing.kind != FileKind::Dir {
                self.diagnose(
                    ErrorCode::UnsafeLayerEntry,
                    Some(path.as_str()),
                    format!("layer {layer}: entry {name:?} skipped: {dir} is not a directory"),
                );
                return Ok(None);
            }
        }
        self.ensure_dirs(layer, &dir)?;
        match dir.join_component(path.file_name()) {
            Ok(at) => Ok(Some(at)),
            Err(e) => Err(unsafe_entry(layer, name, &e)),
        }
    }

    /// Creates the missing directories of `dir` (which holds no symlink), as `mkdir -p` would.
    fn ensure_dirs(&mut self, layer: usize, dir: &ImagePath) -> Result<(), ImageError> {
        let mut current = ImagePath::root();
        for component in dir.components() {
            let Ok(next) = current.join_component(component) else {
                break;
            };
            if self.tree.get(&next).is_none() {
                self.tree.insert(next.clone(), implicit_dir(layer));
                if self.tree.len() as u64 > self.options.limits.max_entries {
                    return Err(ImageError::Oversized(format!(
                        "image has more than {} entries (max_entries)",
                        self.options.limits.max_entries
                    )));
                }
            }
            current = next;
        }
        Ok(())
    }

    /// Puts an entry at `at`, replacing what was there the way extraction would: a directory
    /// over a directory merges, anything else replaces (a replaced directory loses its tree).
    fn put(&mut self, at: ImagePath, meta: &FileMeta, content: Content) {
        let replaces_dir = self
            .tree
            .get(&at)
            .is_some_and(|old| old.meta.kind == FileKind::Dir);
        if replaces_dir && meta.kind != FileKind::Dir {
            for gone in self.tree.descendants_where(&at, |_| true) {
                self.tree.remove(&gone);
                self.versions.remove(&gone);
            }
        }
        match (meta.kind, content) {
            (FileKind::Regular, Content::Absent) => {}
            (FileKind::Regular, content) => {
                self.versions.entry(at.clone()).or_default().push(Version {
                    layer: meta.layer,
                    size: meta.size,
                    content,
                })
            }
            _ => {
                self.versions.remove(&at);
            }
        }
        self.tree.insert(
            at,
            Node {
                meta: meta.clone(),
                content,
            },
        );
    }

    fn apply_whiteout(
        &mut self,
        layer: usize,
        path: &ImagePath,
        name: &str,
        hidden: &str,
    ) -> Result<(), ImageError> {
        let parent = path.parent().unwrap_or_else(ImagePath::root);
        let opaque = path.file_name() == OPAQUE_MARKER;
        if !opaque && hidden.starts_with(WHITEOUT_PREFIX) {
            // Other `.wh..wh.*` names are AUFS bookkeeping (`.wh..wh.plnk`), not deletions.
            return Ok(());
        }
        if !opaque && (hidden.is_empty() || hidden == "." || hidden == "..") {
            self.diagnose(
                ErrorCode::UnsafeLayerEntry,
                Some(path.as_str()),
                format!("layer {layer}: whiteout {name:?} names no file; ignored"),
            );
            return Ok(());
        }
        let dir = match self.tree.resolve(&parent, true) {
            Ok(dir) => dir,
            Err(why) => {
                self.diagnose(
                    ErrorCode::UnsafeLayerEntry,
                    Some(path.as_str()),
                    format!("layer {layer}: whiteout {name:?} ignored: {why}"),
                );
                return Ok(());
            }
        };
        if opaque {
            self.hide(layer, &dir, false);
        } else if let Ok(victim) = dir.join_component(hidden) {
            self.hide(layer, &victim, true);
        }
        Ok(())
    }

    /// Removes what lower layers put below `top` (and `top` itself when `include_top`). Entries
    /// of `layer` itself stay whatever their order in the tar relative to the whiteout, and the
    /// lower directories holding them stay too, now as this layer's directories.
    fn hide(&mut self, layer: usize, top: &ImagePath, include_top: bool) {
        let mut lower = Vec::new();
        let mut keep: HashSet<ImagePath> = HashSet::new();
        for (path, node) in self.tree.descendants(top) {
            if node.meta.layer < layer {
                lower.push(path.clone());
                continue;
            }
            // Mark the ancestors of a surviving entry; stop at the first already marked, so
            // the whole pass stays linear in the size of the subtree.
            let mut up = path.parent();
            while let Some(dir) = up {
                if !dir.starts_with(top) || !keep.insert(dir.clone()) {
                    break;
                }
                up = dir.parent();
            }
        }
        if include_top && self.tree.get(top).is_some_and(|n| n.meta.layer < layer) {
            lower.push(top.clone());
        }
        for path in lower {
            if keep.contains(&path) {
                self.tree.insert(path.clone(), implicit_dir(layer));
            } else {
                self.tree.remove(&path);
            }
        }
        // Captured versions from lower layers belong to the deleted files, not to what this
        // layer puts in their place.
        let mut scope: Vec<ImagePath> = match top.join_component("\u{1}") {
            Ok(start) => self
                .versions
                .range(start..)
                .map(|(p, _)| p)
                .take_while(|p| p.starts_with(top))
                .cloned()
                .collect(),
            Err(_) => self.versions.keys().cloned().collect(),
        };
        if include_top {
            scope.push(top.clone());
        }
        for path in scope {
            if let Some(list) = self.versions.get_mut(&path) {
                list.retain(|v| v.layer >= layer);
                if list.is_empty() {
                    self.versions.remove(&path);
                }
            }
        }
    }

    fn apply_hard_link(
        &mut self,
        layer: usize,
        path: &ImagePath,
        name: &str,
        link_name: Option<&str>,
        meta: FileMeta,
    ) -> Result<(), ImageError> {
        let raw_target = link_name.unwrap_or_default();
        let target = ImagePath::parse(raw_target).map_err(|e| ImageError::UnsafeEntry {
            layer,
            reason: format!("hard link {name:?} -> {raw_target:?}: {e}"),
        })?;
        let placed = self.place(layer, path, name)?;
        let Some(at) = placed else {
            self.visit(layer, path, None, &meta, &mut io::empty());
            return Ok(());
        };
        let resolved = self.tree.resolve(&target, false);
        let linked = match &resolved {
            Ok(resolved) => self.tree.get(resolved).cloned(),
            Err(_) => None,
        };
        let Some(linked) = linked.filter(|n| n.meta.kind != FileKind::Dir) else {
            let why = match resolved {
                Err(why) => why.to_string(),
                Ok(p) if self.tree.get(&p).is_some() => format!("{p} is a directory"),
                Ok(p) => format!("{p} is not in this or a lower layer"),
            };
            self.diagnose(
                ErrorCode::UnsafeLayerEntry,
                Some(at.as_str()),
                format!("layer {layer}: hard link {name:?} -> {raw_target:?} skipped: {why}"),
            );
            self.visit(layer, path, Some(&at), &meta, &mut io::empty());
            return Ok(());
        };
        let meta = FileMeta {
            layer,
            ..linked.meta
        };
        if meta.kind == FileKind::Regular
            && (self.options.wants)(&at, &meta)
            && linked.content == Content::Absent
        {
            self.diagnose(
                ErrorCode::CatalogFailed,
                Some(at.as_str()),
                format!(
                    "layer {layer}: {at} is wanted but is a hard link to {target}, whose content was not kept"
                ),
            );
        }
        self.put(at.clone(), &meta, linked.content);
        self.visit(layer, path, Some(&at), &meta, &mut io::empty());
        Ok(())
    }
}

/// An entry's name as text; `Err` carries the lossy form when the bytes are not UTF-8.
fn entry_name(bytes: &[u8]) -> Result<String, String> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => Err(String::from_utf8_lossy(bytes).into_owned()),
    }
}

fn entry_kind(t: tar::EntryType) -> EntryKind {
    use tar::EntryType as T;
    match t {
        T::Regular | T::Continuous | T::GNUSparse => EntryKind::File(FileKind::Regular),
        T::Directory => EntryKind::File(FileKind::Dir),
        T::Symlink => EntryKind::File(FileKind::Symlink),
        T::Char => EntryKind::File(FileKind::CharDevice),
        T::Block => EntryKind::File(FileKind::BlockDevice),
        T::Fifo => EntryKind::File(FileKind::Fifo),
        T::Link => EntryKind::HardLink,
        T::XGlobalHeader => EntryKind::Skip("pax-global"),
        _ => EntryKind::Skip("an unsupported entry type"),
    }
}

fn implicit_dir(layer: usize) -> Node {
    Node {
        meta: FileMeta {
            kind: FileKind::Dir,
            mode: 0o755,
            size: 0,
            uid: 0,
            gid: 0,
            mtime: 0,
            link_target: None,
            layer,
        },
        content: Content::Absent,
    }
}

fn unsafe_entry(layer: usize, name: &str, why: &ImagePathError) -> ImageError {
    ImageError::UnsafeEntry {
        layer,
        reason: format!("entry {name:?} refused: {why}"),
    }
}

/// The error a layer stream's [`io::Error`] stands for. Errors raised by the source (digest
/// mismatch, budget exceeded) travel inside the `io::Error` and come out unchanged; anything
/// else met while parsing the tar means the layer is corrupt.
pub(crate) fn layer_error(layer: usize, error: io::Error, context: &str) -> ImageError {
    if error
        .get_ref()
        .is_some_and(|inner| inner.is::<ImageError>())
    {
        if let Some(Ok(found)) = error
            .into_inner()
            .map(|inner| inner.downcast::<ImageError>())
        {
            return *found;
        }
        return ImageError::CorruptLayer {
            layer,
            reason: format!("{context}: unreadable error"),
        };
    }
    ImageError::CorruptLayer {
        layer,
        reason: format!("{context}: {error}"),
    }
}
