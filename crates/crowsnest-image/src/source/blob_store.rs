//! Where an image's files live: an OCI layout directory, or the members of a tar archive that is
//! indexed once and never extracted.
//!
//! An archive is read in one pass over its tar headers that records each member's data offset and
//! size; afterwards every blob is read with positional reads of that range, so several layer
//! streams can be open at once on one file handle, and nothing is copied to disk (except the
//! decompressed copy of a gzip/zstd-wrapped archive, which must be seekable).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crowsnest_model::Digest;

use super::compression::{self, Compression};
use super::content_hash::{self, ContentHasher};
use crate::{ImageError, Limits};

/// Symbolic links are followed at most this deep (docker save links repeated layers once).
const MAX_LINK_DEPTH: usize = 8;

/// The files of one image source.
pub(crate) enum BlobStore {
    /// An OCI layout directory.
    Directory(PathBuf),
    /// An indexed tar archive.
    Archive(ArchiveIndex),
}

/// The members of a tar archive by normalised name.
pub(crate) struct ArchiveIndex {
    file: File,
    display: String,
    members: HashMap<String, Member>,
}

enum Member {
    File {
        offset: u64,
        size: u64,
    },
    /// A symbolic or hard link, its target already made archive-relative.
    Link(String),
}

/// A located file: where its bytes are and how many there are.
#[derive(Clone, Debug)]
pub(crate) struct BlobLocation {
    /// Size in bytes.
    pub(crate) size: u64,
    place: Place,
    /// The name it was looked up by, for messages.
    pub(crate) name: String,
}

#[derive(Clone, Debug)]
enum Place {
    Path(PathBuf),
    Range { offset: u64 },
}

impl BlobStore {
    /// An OCI layout directory (the caller checked for `oci-layout`).
    pub(crate) fn directory(path: PathBuf) -> Self {
        BlobStore::Directory(path)
    }

    /// Opens and indexes a tar archive, undoing gzip or zstd outer compression first.
    pub(crate) fn archive(path: &Path, limits: &Limits) -> Result<Self, ImageError> {
        let display = path.display().to_string();
        let mut file =
            File::open(path).map_err(|e| ImageError::io(format!("opening {display}"), e))?;
        let mut head = [0u8; 8];
        let got = compression::read_head(&mut file, &mut head)
            .map_err(|e| ImageError::io(format!("reading {display}"), e))?;
        let head = head.get(..got).unwrap_or_default();
        if let Some(name) = Compression::unsupported(head) {
            return Err(ImageError::Invalid(format!(
                "{display} is {name}-compressed, which is not supported; decompress it first"
            )));
        }
        let file = match Compression::sniff(head) {
            Compression::None => file,
            compressed => {
                let shown = &display;
                tracing::debug!(archive = %shown, ?compressed, "decompressing outer archive");
                let file = File::open(path)
                    .map_err(|e| ImageError::io(format!("opening {display}"), e))?;
                compression::decompress_to_temp(file, compressed, limits)?
            }
        };
        let index = ArchiveIndex::build(file, display, limits)?;
        Ok(BlobStore::Archive(index))
    }

    /// True when the store holds a regular file called `name`.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.locate(name).is_ok()
    }

    /// Finds the file called `name` (archive-relative, `/`-separated).
    pub(crate) fn locate(&self, name: &str) -> Result<BlobLocation, ImageError> {
        match self {
            BlobStore::Directory(root) => {
                let normal = normalize_name(name.as_bytes()).ok_or_else(|| {
                    ImageError::Invalid(format!("{name:?} is not a safe relative path"))
                })?;
                let path = root.join(&normal);
                match std::fs::metadata(&path) {
                    // Only regular files: a FIFO or device would block or never end.
                    Ok(meta) if meta.is_file() => Ok(BlobLocation {
                        size: meta.len(),
                        place: Place::Path(path),
                        name: normal,
                    }),
                    Ok(_) => Err(ImageError::Invalid(format!(
                        "{} is not a regular file",
                        path.display()
                    ))),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ImageError::NotFound(
                        format!("{} does not exist", path.display()),
                    )),
                    Err(e) => Err(ImageError::io(format!("reading {}", path.display()), e)),
                }
            }
            BlobStore::Archive(index) => index.locate(name),
        }
    }

    /// Finds the blob named by `digest` under `blobs/<algorithm>/<hex>`.
    pub(crate) fn locate_blob(&self, digest: &Digest) -> Result<BlobLocation, ImageError> {
        let text = digest.to_string();
        let algorithm = text.split(':').next().unwrap_or_default();
        self.locate(&format!("blobs/{algorithm}/{}", digest.hex()))
    }

    /// Streams the bytes of `location`.
    pub(crate) fn open(
        &self,
        location: &BlobLocation,
    ) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        match (&location.place, self) {
            (Place::Path(path), _) => {
                let file = File::open(path)
                    .map_err(|e| ImageError::io(format!("opening {}", path.display()), e))?;
                Ok(Box::new(Section::new(file, 0, location.size)))
            }
            (Place::Range { offset }, BlobStore::Archive(index)) => {
                Ok(Box::new(Section::new(&index.file, *offset, location.size)))
            }
            (Place::Range { .. }, BlobStore::Directory(_)) => Err(ImageError::Invalid(format!(
                "{} was located in an archive, not this directory",
                location.name
            ))),
        }
    }

    /// Reads a small document (index, manifest, config) whole, refusing anything larger than
    /// `limit` bytes and checking `expected` (digest and size) when a descriptor names them.
    pub(crate) fn read_document(
        &self,
        location: &BlobLocation,
        expected: Option<(&Digest, u64)>,
        limit: u64,
    ) -> Result<Vec<u8>, ImageError> {
        if location.size > limit {
            return Err(ImageError::Oversized(format!(
                "{} is {} bytes, more than max_json_bytes ({limit})",
                location.name, location.size
            )));
        }
        if let Some((_, size)) = expected {
            if size != location.size {
                return Err(ImageError::Invalid(format!(
                    "{} is {} bytes but its descriptor says {size}",
                    location.name, location.size
                )));
            }
        }
        let mut bytes = Vec::with_capacity(usize::try_from(location.size).unwrap_or(0));
        self.open(location)?
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| ImageError::io(format!("reading {}", location.name), e))?;
        if bytes.len() as u64 != location.size {
            return Err(ImageError::Invalid(format!(
                "{} changed size while being read",
                location.name
            )));
        }
        if let Some((digest, _)) = expected {
            content_hash::verify_bytes(&location.name, digest, &bytes)?;
        }
        Ok(bytes)
    }

    /// The sha256 digest of the bytes at `location`, for blobs no descriptor names a digest for.
    pub(crate) fn hash(&self, location: &BlobLocation) -> Result<Digest, ImageError> {
        let seed = Digest::sha256_from_bytes(&[0; 32]);
        let mut hasher = ContentHasher::for_digest(&seed);
        let mut reader = self.open(location)?;
        let mut buf = vec![0u8; super::LAYER_BUFFER_BYTES];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ImageError::io(format!("reading {}", location.name), e)),
            };
            hasher.update(buf.get(..n).unwrap_or_default());
        }
        Ok(hasher.finish())
    }

    /// The first bytes of `location` (up to `buf.len()`), to sniff compression.
    pub(crate) fn head(
        &self,
        location: &BlobLocation,
        buf: &mut [u8],
    ) -> Result<usize, ImageError> {
        let mut reader = self.open(location)?;
        compression::read_head(&mut reader, buf)
            .map_err(|e| ImageError::io(format!("reading {}", location.name), e))
    }
}

impl ArchiveIndex {
    fn build(mut file: File, display: String, limits: &Limits) -> Result<Self, ImageError> {
        let archive_len = file
            .metadata()
            .map_err(|e| ImageError::io(format!("reading {display}"), e))?
            .len();
        check_tar_magic(&mut file, archive_len, &display)?;
        // Sniffing the compression read the first bytes through this handle; the tar reader
        // must start from the first header.
        file.seek(SeekFrom::Start(0))
            .map_err(|e| ImageError::io(format!("reading {display}"), e))?;
        let invalid = |e: io::Error| ImageError::Invalid(format!("{display}: broken tar: {e}"));
        let mut members = HashMap::new();
        let mut skipped = 0usize;
        {
            let mut archive = tar::Archive::new(&file);
            let mut seen: u64 = 0;
            for entry in archive.entries_with_seek().map_err(invalid)? {
                let entry = entry.map_err(invalid)?;
                seen += 1;
                if seen > limits.max_entries {
                    return Err(ImageError::Oversized(format!(
                        "{display} has more than {} members (max_entries)",
                        limits.max_entries
                    )));
                }
                // Names that are absolute, climb with `..` or are not UTF-8 never name anything
                // an image format refers to, and nothing is extracted, so they are left out.
                let Some(name) = normalize_name(&entry.path_bytes()) else {
                    skipped += 1;
                    continue;
                };
                let member = match entry.header().entry_type() {
                    tar::EntryType::Regular | tar::EntryType::Continuous => {
                        let offset = entry.raw_file_position();
                        let size = entry.size();
                        if offset.checked_add(size).is_none_or(|end| end > archive_len) {
                            return Err(ImageError::Invalid(format!(
                                "{display} is truncated: member {name} runs past its end"
                            )));
                        }
                        Member::File { offset, size }
                    }
                    tar::EntryType::Symlink => {
                        let Some(target) = entry.link_name_bytes() else {
                            continue;
                        };
                        let parent = name.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                        match resolve_link(parent, &target) {
                            Some(t) => Member::Link(t),
                            None => {
                                skipped += 1;
                                continue;
                            }
                        }
                    }
                    tar::EntryType::Link => {
                        let Some(target) = entry.link_name_bytes() else {
                            continue;
                        };
                        match normalize_name(&target) {
                            Some(t) => Member::Link(t),
                            None => {
                                skipped += 1;
                                continue;
                            }
                        }
                    }
                    _ => continue,
                };
                if members.insert(name.clone(), member).is_some() {
                    return Err(ImageError::Invalid(format!(
                        "{display} holds {name} twice, so which one is meant is ambiguous"
                    )));
                }
            }
        }
        let shown = &display;
        tracing::debug!(archive = %shown, members = members.len(), skipped, "indexed archive");
        Ok(ArchiveIndex {
            file,
            display,
            members,
        })
    }

    fn locate(&self, name: &str) -> Result<BlobLocation, ImageError> {
        let not_found = || ImageError::NotFound(format!("{} holds no {name}", self.display));
        let mut current = normalize_name(name.as_bytes()).ok_or_else(not_found)?;
        for _ in 0..=MAX_LINK_DEPTH {
            match self.members.get(&current) {
                Some(Member::File { offset, size }) => {
                    return Ok(BlobLocation {
                        size: *size,
                        place: Place::Range { offset: *offset },
                        name: current,
                    })
                }
                Some(Member::Link(target)) => current = target.clone(),
                None => return Err(not_found()),
            }
        }
        Err(ImageError::Invalid(format!(
            "{}: links to {name} nest more than {MAX_LINK_DEPTH} deep",
            self.display
        )))
    }
}

/// Refuses files that are not tar archives before the tar reader is let loose on them, so a
/// random file gets a clear message.
fn check_tar_magic(file: &mut File, archive_len: u64, display: &str) -> Result<(), ImageError> {
    let mut header = [0u8; 512];
    // Bounded by the file's length: a short file is "not a tar", not an I/O failure.
    let got = compression::read_head(
        &mut Section::new(&*file, 0, archive_len.min(512)),
        &mut header,
    )
    .map_err(|e| ImageError::io(format!("reading {display}"), e))?;
    let magic = header.get(257..262).unwrap_or_default();
    if got < 512 || magic != b"ustar" {
        return Err(ImageError::Invalid(format!(
            "{display} is not a tar archive (nor a gzip/zstd-compressed one), so not an \
             oci-archive or docker save archive"
        )));
    }
    Ok(())
}

/// `raw` as a `/`-separated relative name without `.` or empty components, or `None` when it is
/// absolute, climbs with `..`, is empty or is not UTF-8.
pub(crate) fn normalize_name(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?;
    if text.starts_with('/') || text.contains('\0') {
        return None;
    }
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

/// The archive-relative name a symbolic link in directory `parent` points at, when it stays
/// inside the archive.
fn resolve_link(parent: &str, target: &[u8]) -> Option<String> {
    let target = std::str::from_utf8(target).ok()?;
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = parent.split('/').filter(|p| !p.is_empty()).collect();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

/// A byte range of a file read with positional reads, so ranges of one shared handle can be
/// streamed independently.
struct Section<F> {
    file: F,
    position: u64,
    end: u64,
}

impl<F: Borrow<File>> Section<F> {
    fn new(file: F, offset: u64, size: u64) -> Self {
        Section {
            file,
            position: offset,
            end: offset.saturating_add(size),
        }
    }
}

impl<F: Borrow<File>> Read for Section<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let remaining = self.end.saturating_sub(self.position);
        if remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = usize::try_from(remaining).map_or(buf.len(), |r| r.min(buf.len()));
        let window = buf.get_mut(..want).unwrap_or_default();
        let n = read_at(self.file.borrow(), window, self.position)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file ended before the recorded end of a blob (was it truncated while open?)",
            ));
        }
        self.position += n as u64;
        Ok(n)
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_or_refused() {
        assert_eq!(
            normalize_name(b"./blobs//sha256/ab").as_deref(),
            Some("blobs/sha256/ab")
        );
        assert_eq!(normalize_name(b"index.json").as_deref(), Some("index.json"));
        assert_eq!(normalize_name(b"/etc/passwd"), None);
        assert_eq!(normalize_name(b"a/../../b"), None);
        assert_eq!(normalize_name(b"./"), None);
        assert_eq!(normalize_name(b"\xff"), None);
    }

    #[test]
    fn docker_save_layer_links_resolve_inside_the_archive() {
        assert_eq!(
            resolve_link("abc", b"../def/layer.tar").as_deref(),
            Some("def/layer.tar")
        );
        assert_eq!(resolve_link("abc", b"../../x"), None);
        assert_eq!(resolve_link("abc", b"/x"), None);
    }
}
