//! Test scaffolding shared by the language cataloger tests: running one cataloger on one file
//! (on disk or in memory), and unpacking layers of the fixture image.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use crowsnest_catalog::{CatalogContext, CatalogError, Cataloger, FileInput};
use crowsnest_model::{FileKind, FileMeta, ImageFs, ImagePath, Package, ReadSeek};

/// The language catalogers never read neighbours, so their context holds an empty view.
pub struct NoNeighbours;

impl ImageFs for NoNeighbours {
    fn metadata(&self, _: &ImagePath) -> Option<FileMeta> {
        None
    }
    fn resolve(&self, _: &ImagePath) -> Option<ImagePath> {
        None
    }
    fn open(&self, _: &ImagePath) -> io::Result<Box<dyn ReadSeek + '_>> {
        Err(io::ErrorKind::NotFound.into())
    }
    fn entries(&self) -> Box<dyn Iterator<Item = (&ImagePath, &FileMeta)> + '_> {
        Box::new(std::iter::empty())
    }
    fn read_dir(&self, _: &ImagePath) -> Vec<ImagePath> {
        Vec::new()
    }
}

pub const MAX_IN_MEMORY: u64 = 64 << 20;

pub fn meta(size: u64, mode: u32) -> FileMeta {
    FileMeta {
        kind: FileKind::Regular,
        mode,
        size,
        uid: 0,
        gid: 0,
        mtime: 0,
        link_target: None,
        layer: 0,
    }
}

/// Runs `cataloger` on `bytes` as if they were the file `image_path` (mode 0755 so that
/// executable catalogers see it too), after checking that it wants the file.
pub fn catalog_bytes(
    cataloger: &dyn Cataloger,
    image_path: &str,
    bytes: &[u8],
) -> Result<Vec<Package>, CatalogError> {
    let path = ImagePath::parse(image_path).unwrap();
    let meta = meta(bytes.len() as u64, 0o755);
    assert!(
        cataloger.wants(&path, &meta),
        "{} does not want {image_path}",
        cataloger.name()
    );
    let mut reader = Cursor::new(bytes.to_vec());
    run(cataloger, &path, &meta, &mut reader)
}

/// Runs `cataloger` on the host file `file` as if it were `image_path`, if it wants it.
pub fn catalog_file(
    cataloger: &dyn Cataloger,
    image_path: &str,
    file: &Path,
) -> Option<Result<Vec<Package>, CatalogError>> {
    let path = ImagePath::parse(image_path).unwrap();
    let md = fs::symlink_metadata(file).unwrap();
    if !md.is_file() {
        return None;
    }
    use std::os::unix::fs::PermissionsExt;
    let meta = meta(md.len(), md.permissions().mode());
    if !cataloger.wants(&path, &meta) {
        return None;
    }
    let mut reader = File::open(file).unwrap();
    Some(run(cataloger, &path, &meta, &mut reader))
}

fn run(
    cataloger: &dyn Cataloger,
    path: &ImagePath,
    meta: &FileMeta,
    reader: &mut dyn ReadSeek,
) -> Result<Vec<Package>, CatalogError> {
    let cx = CatalogContext {
        fs: &NoNeighbours,
        distro: None,
        max_in_memory: MAX_IN_MEMORY,
    };
    let pkgs = cataloger.catalog(FileInput { path, meta, reader }, &cx)?;
    for p in &pkgs {
        assert_eq!(p.found_by, cataloger.name());
        assert!(p.purl.is_empty() && p.layer.is_none());
        assert!(p.location.starts_with(&path.to_string()), "{}", p.location);
    }
    Ok(pkgs)
}

/// Runs `cataloger` over every regular file below `root` (an unpacked image), as the engine
/// would: image paths are relative to `root`.
pub fn catalog_tree(cataloger: &dyn Cataloger, root: &Path) -> Vec<Package> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let md = fs::symlink_metadata(&p).unwrap();
            if md.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_owned();
                if let Some(r) = catalog_file(cataloger, &rel, &p) {
                    out.extend(r.unwrap_or_else(|e| panic!("{rel}: {e}")));
                }
            }
        }
    }
    out
}

/// The fixture image's layer blobs (gzip tar paths inside the OCI tar), in order.
fn layer_blobs(image: &mut tar::Archive<File>) -> Vec<Vec<u8>> {
    let mut blobs: HashMap<String, Vec<u8>> = HashMap::new();
    for entry in image.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        blobs.insert(name.trim_start_matches("./").to_owned(), bytes);
    }
    let blob = |digest: &str| {
        let path = format!("blobs/{}", digest.replace(':', "/"));
        blobs
            .get(&path)
            .unwrap_or_else(|| panic!("{path} missing"))
            .clone()
    };
    let index: serde_json::Value = serde_json::from_slice(&blobs["index.json"]).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| blob(l["digest"].as_str().unwrap()))
        .collect()
}

/// Layers `which` (0-based) of the acme-shop fixture unpacked in order, with the whiteouts of
/// later layers applied the way the merged view does. Unpacking is slow in a debug build, so
/// the result is kept in the test cache, keyed by the layer list; concurrent tests unpack into
/// their own temporary directory and the first to finish renames it into place.
pub fn unpack_fixture_layers(which: &[usize]) -> PathBuf {
    let key: Vec<String> = which.iter().map(usize::to_string).collect();
    let cache = crowsnest_testkit::cache_dir("acme-shop-layers");
    let done = cache.join(key.join("+"));
    if done.is_dir() {
        return done;
    }
    let dir = tempfile::tempdir_in(&cache).unwrap();
    unpack_into(which, dir.path());
    let staged = dir.keep();
    if fs::rename(&staged, &done).is_err() {
        let _ = fs::remove_dir_all(&staged);
    }
    done
}

fn unpack_into(which: &[usize], dir: &Path) {
    let oci = crowsnest_testkit::fixture("images/acme-shop.oci.tar");
    let blobs = layer_blobs(&mut tar::Archive::new(File::open(oci).unwrap()));
    for &i in which {
        let gz = flate2::read::GzDecoder::new(Cursor::new(blobs[i].clone()));
        let mut layer = tar::Archive::new(gz);
        for entry in layer.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().into_owned();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            match name.as_deref() {
                Some(".wh..wh..opq") => {
                    let d = dir.join(path.parent().unwrap());
                    let _ = fs::remove_dir_all(&d);
                    fs::create_dir_all(&d).unwrap();
                }
                Some(n) if n.starts_with(".wh.") => {
                    let target = dir
                        .join(path.parent().unwrap())
                        .join(n.trim_start_matches(".wh."));
                    let _ = fs::remove_dir_all(&target);
                    let _ = fs::remove_file(&target);
                }
                _ => {
                    entry.unpack_in(dir).unwrap();
                }
            }
        }
    }
}

/// A directory under the test cache named `name`, built once by `build` (which fills the empty
/// directory it is given). Tests racing to build it each build into their own temporary
/// directory and the first to finish renames it into place, so a half-built directory is never
/// seen; a failed build leaves nothing behind. Bump `name` when what `build` does changes.
pub fn cached_dir(name: &str, build: impl FnOnce(&Path)) -> PathBuf {
    let cache = crowsnest_testkit::cache_dir("lang");
    let done = cache.join(name);
    if done.is_dir() {
        return done;
    }
    let dir = tempfile::tempdir_in(&cache).unwrap();
    build(dir.path());
    let staged = dir.keep();
    if fs::rename(&staged, &done).is_err() {
        let _ = fs::remove_dir_all(&staged);
    }
    done
}

/// Runs `cmd`, panicking with its output unless it succeeds; returns its stdout.
pub fn run_ok(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Asserts that two sets are equal, listing only what differs.
#[track_caller]
pub fn assert_same<T: Ord + std::fmt::Debug>(
    got: &std::collections::BTreeSet<T>,
    expected: &std::collections::BTreeSet<T>,
) {
    let extra: Vec<&T> = got.difference(expected).collect();
    let missing: Vec<&T> = expected.difference(got).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "reported but not expected: {extra:?}\nexpected but not reported: {missing:?}"
    );
}
