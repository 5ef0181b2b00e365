//! The per-entry hook: lets risk analyzers (secrets, malware) see every layer's files while the
//! layers stream, including files a later layer deletes, without reading an image twice.

use std::io::Read;

use crowsnest_model::{FileMeta, ImagePath};

/// One entry of one layer, as [`LayerVisitor::visit`] sees it.
#[derive(Debug)]
pub struct LayerEntry<'a> {
    /// Index of the layer, 0 for the base.
    pub layer: usize,
    /// The entry's path as the layer names it (normalised).
    pub path: &'a ImagePath,
    /// Where the entry landed in the merged view, which differs from `path` when a parent
    /// directory is a symlink; `None` when it could not be placed (a diagnostic says why).
    pub placed_at: Option<&'a ImagePath>,
    /// The entry's metadata (`layer` is this layer).
    pub meta: &'a FileMeta,
}

/// Sees every entry of every layer while the layers stream.
///
/// Called for each entry except whiteout markers, base layer first, in tar order. `content`
/// yields a regular file's bytes; it is empty for other kinds and for hard links (whose bytes
/// were visited under the link's target). A visitor may read as much of `content` as it likes;
/// the merge reads whatever is left. A visitor reports its own findings and problems: nothing
/// it does can fail the merge.
pub trait LayerVisitor {
    /// Looks at one entry.
    fn visit(&mut self, entry: &LayerEntry<'_>, content: &mut dyn Read);
}
