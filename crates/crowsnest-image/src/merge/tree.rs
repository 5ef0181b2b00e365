//! The in-memory index of a merged view: every entry's metadata, keyed by [`ImagePath`], and the
//! symlink resolution that both placing layer entries and answering queries rely on.
//!
//! Resolution is chroot-like: a link target is resolved against the link's directory with
//! [`ImagePath::resolve_link_target`], so `..` stops at the root and an absolute target starts
//! there. `..` inside a target is applied lexically (before the components it follows are looked
//! up), which differs from the kernel only when a component before the `..` is itself a link.

use std::collections::BTreeMap;
use std::ops::Bound;

use crowsnest_model::{FileKind, FileMeta, ImagePath};

/// How many symlinks one resolution may follow, as Linux's `MAXSYMLINKS`.
pub(crate) const MAX_LINK_HOPS: usize = 40;

/// Where the content of an entry can be read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Content {
    /// Not kept: not wanted, too large, or not a regular file.
    Absent,
    /// Captured into the sandbox under this sequence number.
    Sandbox(u64),
    /// A file of a root directory, opened in place; the inode seen during the walk guards
    /// against the file being swapped between the walk and the open.
    Host {
        /// Inode number recorded by the walk.
        ino: u64,
    },
}

/// One entry of the view.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) meta: FileMeta,
    pub(crate) content: Content,
}

/// Why a path could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResolveError {
    /// More than [`MAX_LINK_HOPS`] links were followed (a loop, or a hostile chain).
    TooManyLinks,
    /// A component other than the last is neither a directory nor a link.
    NotADirectory(ImagePath),
    /// A link with an empty target, which the kernel refuses too.
    EmptyLink(ImagePath),
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::TooManyLinks => {
                write!(f, "more than {MAX_LINK_HOPS} symbolic links (a loop?)")
            }
            ResolveError::NotADirectory(p) => write!(f, "{p} is not a directory"),
            ResolveError::EmptyLink(p) => write!(f, "symbolic link {p} has an empty target"),
        }
    }
}

/// The index: metadata of every entry but the root, in path order.
#[derive(Debug)]
pub(crate) struct Tree {
    root: FileMeta,
    nodes: BTreeMap<ImagePath, Node>,
}

impl Tree {
    /// An empty view whose root directory has the usual `0755 root:root`.
    pub(crate) fn new() -> Self {
        Tree {
            root: FileMeta {
                kind: FileKind::Dir,
                mode: 0o755,
                size: 0,
                uid: 0,
                gid: 0,
                mtime: 0,
                link_target: None,
                layer: 0,
            },
            nodes: BTreeMap::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Replaces the root directory's metadata (a layer's `./` entry), keeping it a directory.
    pub(crate) fn set_root_meta(&mut self, meta: FileMeta) {
        self.root = FileMeta {
            kind: FileKind::Dir,
            ..meta
        };
    }

    pub(crate) fn get(&self, path: &ImagePath) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Metadata of `path`, the root included.
    pub(crate) fn meta(&self, path: &ImagePath) -> Option<&FileMeta> {
        if path.is_root() {
            return Some(&self.root);
        }
        self.nodes.get(path).map(|n| &n.meta)
    }

    pub(crate) fn insert(&mut self, path: ImagePath, node: Node) {
        self.nodes.insert(path, node);
    }

    pub(crate) fn remove(&mut self, path: &ImagePath) -> Option<Node> {
        self.nodes.remove(path)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&ImagePath, &Node)> {
        self.nodes.iter()
    }

    /// Every entry strictly below `dir`, in path order.
    pub(crate) fn descendants<'a>(
        &'a self,
        dir: &ImagePath,
    ) -> Box<dyn Iterator<Item = (&'a ImagePath, &'a Node)> + 'a> {
        if dir.is_root() {
            return Box::new(self.nodes.iter());
        }
        // All paths below `dir` share the prefix `dir/`, so they are contiguous in byte order;
        // `dir/\u{1}` sorts before every one of them (NUL cannot occur in a name).
        let Ok(start) = dir.join_component("\u{1}") else {
            return Box::new(std::iter::empty());
        };
        let dir = dir.clone();
        Box::new(
            self.nodes
                .range((Bound::Included(start), Bound::Unbounded))
                .take_while(move |(p, _)| p.starts_with(&dir)),
        )
    }

    /// The paths strictly below `dir` for which `pred` holds.
    pub(crate) fn descendants_where(
        &self,
        dir: &ImagePath,
        mut pred: impl FnMut(&Node) -> bool,
    ) -> Vec<ImagePath> {
        self.descendants(dir)
            .filter(|(_, n)| pred(n))
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// The immediate children of `dir` (already resolved), in name order.
    pub(crate) fn children(&self, dir: &ImagePath) -> Vec<ImagePath> {
        let depth = dir.components().count() + 1;
        self.descendants(dir)
            .filter(|(p, _)| p.components().count() == depth)
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Walks `path` component by component, following every symlink met on the way (and the
    /// last component's too when `follow_last`), and returns the path with no link left in it.
    /// Components that do not exist are kept as they are, so the result may name nothing.
    pub(crate) fn resolve(
        &self,
        path: &ImagePath,
        follow_last: bool,
    ) -> Result<ImagePath, ResolveError> {
        // A stack of the components still to walk, next one on top.
        let mut rest: Vec<String> = path.components().map(str::to_owned).collect();
        rest.reverse();
        let mut current = ImagePath::root();
        let mut hops = 0usize;
        while let Some(component) = rest.pop() {
            let Ok(next) = current.join_component(&component) else {
                // Components come from ImagePaths, so they are always valid names.
                continue;
            };
            let is_last = rest.is_empty();
            match self.nodes.get(&next) {
                Some(node) if node.meta.kind == FileKind::Symlink && (follow_last || !is_last) => {
                    hops += 1;
                    if hops > MAX_LINK_HOPS {
                        return Err(ResolveError::TooManyLinks);
                    }
                    let raw = node.meta.link_target.as_deref().unwrap_or("");
                    if raw.is_empty() {
                        return Err(ResolveError::EmptyLink(next));
                    }
                    let target = next.resolve_link_target(raw);
                    let parts: Vec<&str> = target.components().collect();
                    rest.extend(parts.into_iter().rev().map(str::to_owned));
                    current = ImagePath::root();
                }
                Some(node) if !is_last && node.meta.kind != FileKind::Dir => {
                    return Err(ResolveError::NotADirectory(next));
                }
                _ => current = next,
            }
        }
        Ok(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ImagePath {
        ImagePath::parse(s).unwrap()
    }

    fn meta(kind: FileKind, target: Option<&str>) -> Node {
        Node {
            meta: FileMeta {
                kind,
                mode: 0o755,
                size: 0,
                uid: 0,
                gid: 0,
                mtime: 0,
                link_target: target.map(str::to_owned),
                layer: 0,
            },
            content: Content::Absent,
        }
    }

    #[test]
    fn descendants_skip_siblings_that_sort_between() {
        let mut t = Tree::new();
        for name in ["a", "a-x", "a-x/z", "a.y", "a/b", "a/b/c", "a0"] {
            t.insert(p(name), meta(FileKind::Dir, None));
        }
        let below: Vec<_> = t.descendants(&p("a")).map(|(p, _)| p.as_str()).collect();
        assert_eq!(below, ["a/b", "a/b/c"]);
        assert_eq!(t.children(&p("a")), [p("a/b")]);
        assert_eq!(
            t.children(&ImagePath::root()),
            [p("a"), p("a-x"), p("a.y"), p("a0")]
        );
    }

    #[test]
    fn resolve_follows_intermediate_links_and_clamps() {
        let mut t = Tree::new();
        t.insert(p("usr"), meta(FileKind::Dir, None));
        t.insert(p("usr/lib"), meta(FileKind::Dir, None));
        t.insert(p("lib"), meta(FileKind::Symlink, Some("usr/lib")));
        t.insert(p("up"), meta(FileKind::Symlink, Some("../../../..")));
        t.insert(p("loop1"), meta(FileKind::Symlink, Some("loop2")));
        t.insert(p("loop2"), meta(FileKind::Symlink, Some("/loop1")));
        assert_eq!(t.resolve(&p("lib/x.so"), false).unwrap(), p("usr/lib/x.so"));
        assert_eq!(t.resolve(&p("lib"), false).unwrap(), p("lib"));
        assert_eq!(t.resolve(&p("lib"), true).unwrap(), p("usr/lib"));
        assert_eq!(t.resolve(&p("up/etc"), true).unwrap(), p("etc"));
        assert_eq!(
            t.resolve(&p("loop1/x"), true),
            Err(ResolveError::TooManyLinks)
        );
        assert_eq!(t.resolve(&p("loop1"), false).unwrap(), p("loop1"));
    }
}
