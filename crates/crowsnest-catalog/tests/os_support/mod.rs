//! Test scaffolding shared by the OS cataloger tests: an in-memory [`ImageFs`] holding the
//! input files, and a way to run one cataloger on one of them.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{self, Cursor};

use crowsnest_catalog::{CatalogContext, CatalogError, Cataloger, FileInput};
use crowsnest_model::{FileKind, FileMeta, ImageFs, ImagePath, Package, ReadSeek};

/// A merged filesystem made of regular files given as bytes.
#[derive(Default)]
pub struct MemFs {
    files: BTreeMap<ImagePath, (FileMeta, Vec<u8>)>,
}

pub fn meta(size: usize) -> FileMeta {
    FileMeta {
        kind: FileKind::Regular,
        mode: 0o644,
        size: size as u64,
        uid: 0,
        gid: 0,
        mtime: 0,
        link_target: None,
        layer: 0,
    }
}

impl MemFs {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, path: &str, bytes: impl Into<Vec<u8>>) -> Self {
        self.insert(path, bytes);
        self
    }

    pub fn insert(&mut self, path: &str, bytes: impl Into<Vec<u8>>) {
        let bytes = bytes.into();
        self.files
            .insert(ImagePath::parse(path).unwrap(), (meta(bytes.len()), bytes));
    }

    pub fn bytes(&self, path: &str) -> &[u8] {
        &self.files[&ImagePath::parse(path).unwrap()].1
    }
}

impl ImageFs for MemFs {
    fn metadata(&self, path: &ImagePath) -> Option<FileMeta> {
        self.files.get(path).map(|(m, _)| m.clone())
    }

    fn resolve(&self, path: &ImagePath) -> Option<ImagePath> {
        self.files.contains_key(path).then(|| path.clone())
    }

    fn open(&self, path: &ImagePath) -> io::Result<Box<dyn ReadSeek + '_>> {
        match self.files.get(path) {
            Some((_, bytes)) => Ok(Box::new(Cursor::new(bytes.as_slice()))),
            None => Err(io::ErrorKind::NotFound.into()),
        }
    }

    fn entries(&self) -> Box<dyn Iterator<Item = (&ImagePath, &FileMeta)> + '_> {
        Box::new(self.files.iter().map(|(p, (m, _))| (p, m)))
    }

    fn read_dir(&self, dir: &ImagePath) -> Vec<ImagePath> {
        self.files
            .keys()
            .filter(|p| p.parent().as_ref() == Some(dir))
            .cloned()
            .collect()
    }
}

/// Largest input the tests let a cataloger read whole.
pub const MAX_IN_MEMORY: u64 = 64 << 20;

/// Runs `cataloger` on `path` of `fs` as the engine would, after checking it wants the file.
pub fn catalog(
    cataloger: &dyn Cataloger,
    fs: &MemFs,
    path: &str,
) -> Result<Vec<Package>, CatalogError> {
    let path = ImagePath::parse(path).unwrap();
    let meta = fs.metadata(&path).expect("file is in the test fs");
    assert!(
        cataloger.wants(&path, &meta),
        "{} must want {path}",
        cataloger.name()
    );
    let mut reader = fs.open(&path).unwrap();
    let cx = CatalogContext {
        fs,
        distro: None,
        max_in_memory: MAX_IN_MEMORY,
    };
    cataloger.catalog(
        FileInput {
            path: &path,
            meta: &meta,
            reader: &mut reader,
        },
        &cx,
    )
}

/// Runs `cataloger` on bytes placed at `path` in an otherwise empty filesystem.
pub fn catalog_bytes(
    cataloger: &dyn Cataloger,
    path: &str,
    bytes: &[u8],
) -> Result<Vec<Package>, CatalogError> {
    let fs = MemFs::new().with(path, bytes.to_vec());
    catalog(cataloger, &fs, path)
}
