//! [`ImagePath`]: a path inside an image, normalised and proven not to leave the image root.
//!
//! Layer tar entries, link targets and catalogers' queries all become `ImagePath`s before they
//! are used. The only way to build one is [`ImagePath::parse`], which rejects what could escape
//! (`..` above the root), so code holding an `ImagePath` never has to check again.

use std::fmt;

use serde::{Serialize, Serializer};

/// A normalised path inside an image, relative to its root: no leading `/`, no `.` or `..`
/// components, no empty components, no NUL. The root itself is the empty path.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImagePath(String);

/// Why a raw path from an image cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImagePathError {
    /// `..` would climb above the image root.
    #[error("path {0:?} climbs above the image root")]
    EscapesRoot(String),
    /// The path holds a NUL byte or is not valid UTF-8 after lossless decoding.
    #[error("path {0:?} contains a NUL byte")]
    Nul(String),
    /// The path is longer than [`ImagePath::MAX_LEN`].
    #[error("path of {0} bytes is longer than the limit")]
    TooLong(usize),
}

impl ImagePath {
    /// Longest path accepted, in bytes (Linux's PATH_MAX).
    pub const MAX_LEN: usize = 4096;

    /// The image root.
    pub fn root() -> Self {
        ImagePath(String::new())
    }

    /// Normalises a raw path as found in a tar entry or a query. Leading `/` and `./` are
    /// dropped (tar writers use both), `.` components vanish, `a/..` cancels, and a `..` that
    /// would climb above the root is an error: such an entry is hostile, never clamped.
    pub fn parse(raw: &str) -> Result<Self, ImagePathError> {
        if raw.len() > Self::MAX_LEN {
            return Err(ImagePathError::TooLong(raw.len()));
        }
        if raw.contains('\0') {
            return Err(ImagePathError::Nul(raw.to_owned()));
        }
        let mut parts: Vec<&str> = Vec::new();
        for part in raw.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(ImagePathError::EscapesRoot(raw.to_owned()));
                    }
                }
                other => parts.push(other),
            }
        }
        Ok(ImagePath(parts.join("/")))
    }

    /// Resolves `target` the way the kernel would inside a chroot at the image root: an absolute
    /// target starts at the root, a relative one at `self`'s parent directory, and `..` at the
    /// root stays at the root. Used for symlink targets, which may legally contain `..` past the
    /// root and must still never leave it.
    pub fn resolve_link_target(&self, target: &str) -> ImagePath {
        let parent = self.parent().unwrap_or_else(ImagePath::root);
        let mut parts: Vec<&str> = if target.starts_with('/') {
            Vec::new()
        } else {
            parent.components().collect()
        };
        for part in target.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        ImagePath(parts.join("/"))
    }

    /// The path as stored, without a leading `/` (empty for the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the image root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The components, outermost first.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// The last component, or `""` for the root.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    /// The containing directory, or `None` for the root.
    pub fn parent(&self) -> Option<ImagePath> {
        if self.is_root() {
            return None;
        }
        Some(match self.0.rfind('/') {
            Some(i) => ImagePath(self.0[..i].to_owned()),
            None => ImagePath::root(),
        })
    }

    /// `self/name`, where `name` is one component (no `/`, not `.` or `..`).
    pub fn join_component(&self, name: &str) -> Result<ImagePath, ImagePathError> {
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(ImagePathError::EscapesRoot(name.to_owned()));
        }
        if name.contains('\0') {
            return Err(ImagePathError::Nul(name.to_owned()));
        }
        Ok(if self.is_root() {
            ImagePath(name.to_owned())
        } else {
            ImagePath(format!("{}/{}", self.0, name))
        })
    }

    /// True when `self` is `dir` or lies below it.
    pub fn starts_with(&self, dir: &ImagePath) -> bool {
        dir.is_root()
            || self.0 == dir.0
            || (self.0.starts_with(&dir.0) && self.0.as_bytes().get(dir.0.len()) == Some(&b'/'))
    }
}

impl fmt::Display for ImagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.0)
    }
}

impl fmt::Debug for ImagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImagePath(/{})", self.0)
    }
}

impl Serialize for ImagePath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ImagePath {
        ImagePath::parse(s).unwrap()
    }

    #[test]
    fn normalises_tar_spellings() {
        assert_eq!(p("./etc/os-release").as_str(), "etc/os-release");
        assert_eq!(p("/etc//passwd").as_str(), "etc/passwd");
        assert_eq!(p("usr/lib/../bin/./sh").as_str(), "usr/bin/sh");
        assert!(p("./").is_root());
    }

    #[test]
    fn dotdot_above_root_is_refused() {
        assert!(matches!(
            ImagePath::parse("../etc/passwd"),
            Err(ImagePathError::EscapesRoot(_))
        ));
        assert!(matches!(
            ImagePath::parse("a/../../x"),
            Err(ImagePathError::EscapesRoot(_))
        ));
        assert!(matches!(
            ImagePath::parse("a\0b"),
            Err(ImagePathError::Nul(_))
        ));
    }

    #[test]
    fn link_targets_are_clamped_at_root() {
        let link = p("usr/lib/x");
        assert_eq!(
            link.resolve_link_target("../../../../etc/shadow").as_str(),
            "etc/shadow"
        );
        assert_eq!(
            link.resolve_link_target("/etc/passwd").as_str(),
            "etc/passwd"
        );
        assert_eq!(link.resolve_link_target("y/z").as_str(), "usr/lib/y/z");
    }

    #[test]
    fn parent_and_prefix() {
        assert_eq!(p("a/b/c").parent().unwrap().as_str(), "a/b");
        assert_eq!(p("a").parent().unwrap(), ImagePath::root());
        assert!(p("a/b").starts_with(&p("a")));
        assert!(!p("ab/c").starts_with(&p("a")));
        assert_eq!(p("a").join_component("b").unwrap().as_str(), "a/b");
        assert!(p("a").join_component("..").is_err());
    }
}
