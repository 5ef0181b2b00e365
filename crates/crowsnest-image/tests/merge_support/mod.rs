//! Test scaffolding for the merge tests: layers built as tar bytes in the test, served by an
//! in-memory [`ImageSource`]. Headers are written byte by byte, so a test can put names in a
//! layer that `tar::Builder` would refuse (`..`, absolute link targets), as a hostile image does.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::io::{self, Cursor, Read};
use std::path::Path;

use crowsnest_image::{ImageError, ImageSource, LayerDescriptor};
use crowsnest_model::{Digest, ImageConfigSummary, SourceInfo, SourceKind};
use sha2::{Digest as _, Sha256};

/// One layer under construction.
pub struct Layer {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for Layer {
    fn default() -> Self {
        Self::new()
    }
}

impl Layer {
    pub fn new() -> Self {
        Layer {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    /// Appends an entry with exactly these name and link bytes (each at most 100 bytes).
    pub fn raw(
        mut self,
        name: &[u8],
        kind: tar::EntryType,
        mode: u32,
        link: Option<&[u8]>,
        content: &[u8],
    ) -> Self {
        let mut header = tar::Header::new_gnu();
        {
            let old = header.as_old_mut();
            old.name.fill(0);
            old.name[..name.len()].copy_from_slice(name);
            if let Some(link) = link {
                old.linkname.fill(0);
                old.linkname[..link.len()].copy_from_slice(link);
            }
        }
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        header.set_size(content.len() as u64);
        header.set_cksum();
        self.builder.append(&header, content).unwrap();
        self
    }

    pub fn dir(self, name: &str) -> Self {
        self.raw(name.as_bytes(), tar::EntryType::Directory, 0o755, None, b"")
    }

    pub fn file(self, name: &str, content: &[u8]) -> Self {
        self.raw(
            name.as_bytes(),
            tar::EntryType::Regular,
            0o644,
            None,
            content,
        )
    }

    pub fn file_mode(self, name: &str, content: &[u8], mode: u32) -> Self {
        self.raw(
            name.as_bytes(),
            tar::EntryType::Regular,
            mode,
            None,
            content,
        )
    }

    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.raw(
            name.as_bytes(),
            tar::EntryType::Symlink,
            0o777,
            Some(target.as_bytes()),
            b"",
        )
    }

    pub fn hardlink(self, name: &str, target: &str) -> Self {
        self.raw(
            name.as_bytes(),
            tar::EntryType::Link,
            0o644,
            Some(target.as_bytes()),
            b"",
        )
    }

    pub fn node(self, name: &str, kind: tar::EntryType) -> Self {
        self.raw(name.as_bytes(), kind, 0o660, None, b"")
    }

    /// Appends a PAX extended header (`x`) whose records apply to the next entry.
    pub fn pax(mut self, records: &[(&str, &[u8])]) -> Self {
        self.builder
            .append_pax_extensions(records.iter().map(|(k, v)| (*k, *v)))
            .unwrap();
        self
    }

    /// Appends a regular file whose name `tar::Builder` writes as a GNU long name (`L`) entry
    /// when it is longer than 100 bytes. The name must hold no `..`, which the builder refuses.
    pub fn long_file(mut self, name: &str, content: &[u8]) -> Self {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        header.set_size(content.len() as u64);
        self.builder
            .append_data(&mut header, name, content)
            .unwrap();
        self
    }

    /// Appends bytes as they are, outside any framing (a header block written by hand).
    pub fn bytes(mut self, bytes: &[u8]) -> Self {
        use std::io::Write;
        self.builder.get_mut().write_all(bytes).unwrap();
        self
    }

    /// The tar so far, without the end-of-archive blocks (a truncated layer).
    pub fn unfinished(self) -> Vec<u8> {
        let mut builder = self.builder;
        std::mem::take(builder.get_mut())
    }

    pub fn finish(self) -> Vec<u8> {
        self.builder.into_inner().unwrap()
    }
}

pub fn sha256(bytes: &[u8]) -> Digest {
    Digest::sha256_from_bytes(&Sha256::digest(bytes).into())
}

/// Serves in-memory layer tars as an image, the way a real source serves decompressed layers.
pub struct MemorySource {
    info: SourceInfo,
    descriptors: Vec<LayerDescriptor>,
    tars: Vec<Vec<u8>>,
    /// When set, layer `.0`'s stream fails with this error once its bytes are exhausted, as a
    /// real source does when a digest does not match at end of stream.
    fail_at_end: Option<(usize, fn() -> ImageError)>,
}

impl MemorySource {
    /// An image of these layers, base first; the descriptors name no diff ids, so the merge
    /// has to measure them.
    pub fn new(tars: Vec<Vec<u8>>) -> Self {
        let descriptors = tars
            .iter()
            .map(|t| LayerDescriptor {
                digest: sha256(t),
                diff_id: None,
                size: t.len() as u64,
                media_type: "application/vnd.oci.image.layer.v1.tar".into(),
                created_by: Some("test".into()),
            })
            .collect();
        MemorySource {
            info: SourceInfo {
                kind: SourceKind::OciLayout,
                reference: "memory".into(),
                image_id: None,
                manifest_digest: None,
                tags: Vec::new(),
                architecture: None,
                os: None,
            },
            descriptors,
            tars,
            fail_at_end: None,
        }
    }

    pub fn failing_at_end(mut self, layer: usize, error: fn() -> ImageError) -> Self {
        self.fail_at_end = Some((layer, error));
        self
    }
}

/// A stream that returns an error after its bytes, like a digest check at end of stream.
struct FailAtEnd {
    inner: Cursor<Vec<u8>>,
    error: fn() -> ImageError,
}

impl Read for FailAtEnd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::other((self.error)()));
        }
        Ok(n)
    }
}

impl ImageSource for MemorySource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn config(&self) -> Option<&ImageConfigSummary> {
        None
    }

    fn layers(&self) -> &[LayerDescriptor] {
        &self.descriptors
    }

    fn open_layer(
        &self,
        index: usize,
        budget: &crowsnest_image::source::UnpackBudget,
    ) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        let tar = self.tars[index].clone();
        budget.spend(tar.len() as u64)?;
        match self.fail_at_end {
            Some((layer, error)) if layer == index => Ok(Box::new(FailAtEnd {
                inner: Cursor::new(tar),
                error,
            })),
            _ => Ok(Box::new(Cursor::new(tar))),
        }
    }
}

/// Asserts the sandbox holds only regular files named by sequence numbers, owner-only.
pub fn assert_sandbox_is_sequence_numbered(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for item in std::fs::read_dir(dir).unwrap() {
        let item = item.unwrap();
        let name = item.file_name().into_string().unwrap();
        assert!(
            name.parse::<u64>().is_ok(),
            "sandbox holds {name:?}, which is not a sequence number"
        );
        let meta = std::fs::symlink_metadata(item.path()).unwrap();
        assert!(meta.is_file(), "sandbox entry {name} is not a regular file");
        assert_eq!(
            meta.permissions().mode() & 0o7777,
            0o600,
            "sandbox file {name}"
        );
    }
}

/// Every path below `dir`, relative, sorted; for checking that nothing else was written.
pub fn list_tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for item in std::fs::read_dir(&d).unwrap() {
            let item = item.unwrap();
            let path = item.path();
            out.push(path.strip_prefix(dir).unwrap().display().to_string());
            if std::fs::symlink_metadata(&path).unwrap().is_dir() {
                pending.push(path);
            }
        }
    }
    out.sort();
    out
}
