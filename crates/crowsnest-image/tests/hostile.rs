//! Hostile layers, built byte by byte: names that climb out of the root, absolute names, links
//! to the host, symlink-then-write, devices, bombs (gzip, pax, sparse), lying sizes and absurdly
//! long names.
//!
//! Each test merges into a sandbox created inside an [`Arena`]: a temporary directory that also
//! holds a canary directory with a secret file. The absolute host path of that canary is what
//! the hostile links and names aim at, so a merge that wrote or read through an image-derived
//! name would touch it. After every merge the arena must hold exactly the canary (unchanged)
//! and sequence-numbered sandbox files, and the merge must either succeed with the entry
//! neutralised or fail with a stable code; a panic fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up helpers outside #[test] fns

mod merge_support;

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crowsnest_image::merge::MergeOptions;
use crowsnest_image::source::UnpackBudget;
use crowsnest_image::{open_source, ImageError, ImageSource, LayerDescriptor, Limits, MergedFs};
use crowsnest_model::SourceInfo;
use crowsnest_model::{ErrorCode, FileKind, FileMeta, ImageConfigSummary, ImageFs, ImagePath};
use merge_support::{assert_sandbox_is_sequence_numbered, list_tree, sha256, Layer, MemorySource};
use serde_json::json;
use sha2::{Digest as _, Sha256};

const SECRET: &[u8] = b"host secret, never to be read through an image\n";

fn p(s: &str) -> ImagePath {
    ImagePath::parse(s).unwrap()
}

fn all(_: &ImagePath, _: &FileMeta) -> bool {
    true
}

fn nothing(_: &ImagePath, _: &FileMeta) -> bool {
    false
}

fn read(fs: &MergedFs, path: &str) -> String {
    let mut s = String::new();
    fs.open(&p(path))
        .unwrap_or_else(|e| panic!("open {path}: {e}"))
        .read_to_string(&mut s)
        .unwrap();
    s
}

fn code<T>(result: Result<T, ImageError>) -> ErrorCode {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.code(),
    }
}

/// A temporary directory holding the merge's sandbox parent (`work/`) and a canary
/// (`canary/secret`) that hostile entries aim at by absolute path.
struct Arena {
    dir: tempfile::TempDir,
}

impl Arena {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("work")).unwrap();
        fs::create_dir(dir.path().join("canary")).unwrap();
        fs::write(dir.path().join("canary/secret"), SECRET).unwrap();
        Arena { dir }
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// The canary directory's absolute host path, as text for tar names and link targets.
    fn canary(&self) -> String {
        self.dir.path().join("canary").to_str().unwrap().to_owned()
    }

    fn secret(&self) -> String {
        format!("{}/secret", self.canary())
    }

    /// The canary as an image path (where an absolute entry naming it lands in the view).
    fn canary_in_image(&self) -> ImagePath {
        p(&self.canary())
    }

    fn merge_with(
        &self,
        source: &dyn ImageSource,
        wants: &dyn Fn(&ImagePath, &FileMeta) -> bool,
        limits: &Limits,
    ) -> Result<MergedFs, ImageError> {
        let result = MergeOptions::new(wants, limits)
            .sandbox_in(self.work())
            .merge(source);
        match &result {
            Ok(fs) => self.assert_untouched(Some(fs)),
            Err(_) => self.assert_untouched(None),
        }
        result
    }

    fn merge(&self, tars: Vec<Vec<u8>>) -> Result<MergedFs, ImageError> {
        self.merge_with(&MemorySource::new(tars), &all, &Limits::default())
    }

    /// Nothing but the canary and the sandbox's numbered files exist in the arena, the secret
    /// is unchanged, and nothing in the arena is a device, fifo or link.
    fn assert_untouched(&self, fs: Option<&MergedFs>) {
        let sandbox_name = fs.map(|fs| {
            let dir = fs.sandbox_dir().unwrap();
            assert_eq!(
                dir.parent().unwrap(),
                self.work(),
                "sandbox outside its parent"
            );
            assert_sandbox_is_sequence_numbered(dir);
            format!("work/{}", dir.file_name().unwrap().to_str().unwrap())
        });
        for entry in list_tree(self.dir.path()) {
            let allowed = matches!(entry.as_str(), "canary" | "canary/secret" | "work")
                || sandbox_name.as_deref().is_some_and(|s| {
                    entry == s
                        || entry
                            .strip_prefix(s)
                            .and_then(|rest| rest.strip_prefix('/'))
                            .is_some_and(|n| n.parse::<u64>().is_ok())
                });
            assert!(allowed, "unexpected {entry:?} in the arena");
            let kind = fs::symlink_metadata(self.dir.path().join(&entry))
                .unwrap()
                .file_type();
            assert!(kind.is_file() || kind.is_dir(), "{entry} is {kind:?}");
        }
        assert_eq!(fs::read(self.secret()).unwrap(), SECRET);
    }
}

/// A tar header block with `name`, `size` and `kind`, written by hand so the size can lie.
fn header_block(name: &str, kind: tar::EntryType, size: u64) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_700_000_000);
    header.set_size(size);
    header.set_cksum();
    header.as_bytes().to_vec()
}

#[test]
fn names_climbing_above_the_root_are_refused() {
    let arena = Arena::new();
    for name in [
        "../../etc/x",
        "a/../../x",
        "./../x",
        "a/b/../../../x",
        "../../canary/evil",
        "../../../canary/evil",
        "..",
    ] {
        let base = Layer::new().file("etc/ok", b"fine").finish();
        let hostile = Layer::new()
            .raw(name.as_bytes(), tar::EntryType::Regular, 0o644, None, b"x")
            .finish();
        let err = arena.merge(vec![base, hostile]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::UnsafeLayerEntry, "{name}: {err}");
        assert!(
            matches!(err, ImageError::UnsafeEntry { layer: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("climbs above"), "{name}: {err}");
    }
    // A directory entry and a symlink named that way are refused the same.
    for kind in [tar::EntryType::Directory, tar::EntryType::Symlink] {
        let hostile = Layer::new()
            .raw(b"../x", kind, 0o755, Some(b"/"), b"")
            .finish();
        assert_eq!(
            code(arena.merge(vec![hostile])),
            ErrorCode::UnsafeLayerEntry
        );
    }
}

#[test]
fn absolute_names_land_inside_the_root() {
    let arena = Arena::new();
    let host_passwd = fs::read("/etc/passwd").ok();
    let canary_evil = format!("{}/evil", arena.canary());
    let fs = arena
        .merge(vec![Layer::new()
            .file("/etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
            .file(&canary_evil, b"landed in the image")
            .finish()])
        .unwrap();
    assert_eq!(read(&fs, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
    let inside = arena.canary_in_image().join_component("evil").unwrap();
    assert_eq!(read(&fs, inside.as_str()), "landed in the image");
    assert!(!Path::new(&canary_evil).exists());
    assert_eq!(fs::read("/etc/passwd").ok(), host_passwd);
}

#[test]
fn symlink_then_write_stays_inside_the_root() {
    let arena = Arena::new();
    let links = Layer::new()
        .symlink("link", "/")
        .symlink("up", "../../..")
        .symlink("host", &arena.canary())
        .symlink("deep/er/up", "../../../../../../../../..")
        .finish();
    // The writes come in a later layer and in the same layer as their link.
    let writes = Layer::new()
        .file("link/etc/evil", b"one")
        .file("up/etc/evil2", b"two")
        .file("host/evil", b"three")
        .file("deep/er/up/etc/evil4", b"four")
        .symlink("same", &arena.canary())
        .file("same/evil5", b"five")
        .dir("host/sub/")
        .file("host/sub/evil6", b"six")
        .finish();
    let fs = arena.merge(vec![links, writes]).unwrap();
    assert_eq!(read(&fs, "etc/evil"), "one");
    assert_eq!(read(&fs, "link/etc/evil"), "one");
    assert_eq!(read(&fs, "etc/evil2"), "two");
    assert_eq!(read(&fs, "etc/evil4"), "four");
    let canary = arena.canary_in_image();
    let inside = |name: &str| format!("{}/{name}", canary.as_str());
    assert_eq!(read(&fs, &inside("evil")), "three");
    assert_eq!(read(&fs, "host/evil"), "three");
    assert_eq!(read(&fs, &inside("evil5")), "five");
    assert_eq!(read(&fs, &inside("sub/evil6")), "six");
    assert_eq!(
        fs.metadata(&canary).unwrap().kind,
        FileKind::Dir,
        "the link's target became a directory inside the image"
    );
    for name in ["evil", "evil5", "sub"] {
        assert!(!Path::new(&arena.canary()).join(name).exists(), "{name}");
    }
}

#[test]
fn symlinks_to_host_files_never_read_the_host() {
    let arena = Arena::new();
    let depth = arena.secret().matches('/').count();
    let relative = format!("{}{}", "../".repeat(depth + 3), arena.secret());
    let fs = arena
        .merge(vec![Layer::new()
            .symlink("hostname", "/etc/hostname")
            .symlink("passwd", "/etc/passwd")
            .symlink("secret", &arena.secret())
            .symlink("a/b/relative", &relative)
            .symlink("proc-self", "/proc/self/root/etc/passwd")
            .file("etc/passwd", b"image passwd\n")
            .finish()])
        .unwrap();
    for link in ["hostname", "secret", "a/b/relative", "proc-self"] {
        let err = fs.open(&p(link)).err().expect(link);
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{link}: {err}");
        assert_eq!(fs.resolve(&p(link)), None, "{link}");
        assert!(fs.captured_versions(&p(link)).is_empty());
        assert_eq!(fs.metadata(&p(link)).unwrap().kind, FileKind::Symlink);
    }
    // A link to a path the image has reads the image's file, not the host's.
    assert_eq!(read(&fs, "passwd"), "image passwd\n");
    assert_eq!(fs.resolve(&p("passwd")), Some(p("etc/passwd")));
}

#[test]
fn hard_links_climbing_above_the_root_are_refused() {
    let arena = Arena::new();
    for target in ["../../etc/passwd", "a/../../x", "../../canary/secret"] {
        let layer = Layer::new()
            .file("etc/passwd", b"image")
            .hardlink("h", target)
            .finish();
        let err = arena.merge(vec![layer]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::UnsafeLayerEntry, "{target}: {err}");
    }
}

#[test]
fn hard_links_to_host_paths_link_inside_the_image_or_nothing() {
    let arena = Arena::new();
    let fs = arena
        .merge(vec![Layer::new()
            .hardlink("h-passwd", "/etc/passwd")
            .hardlink("h-secret", &arena.secret())
            .hardlink("h-hostname", "/etc/hostname")
            .finish()])
        .unwrap();
    for link in ["h-passwd", "h-secret", "h-hostname"] {
        assert!(fs.metadata(&p(link)).is_none(), "{link} was created");
        assert!(fs.open(&p(link)).is_err(), "{link} opened");
        assert!(
            fs.diagnostics()
                .iter()
                .any(|d| d.code == ErrorCode::UnsafeLayerEntry
                    && d.path.as_deref() == Some(&format!("/{link}"))),
            "{link}: {:?}",
            fs.diagnostics()
        );
    }
    // When the image has the file, the absolute target names the image's copy.
    drop(fs);
    let fs = arena
        .merge(vec![Layer::new()
            .file("etc/passwd", b"image passwd")
            .hardlink("h", "/etc/passwd")
            .finish()])
        .unwrap();
    assert_eq!(read(&fs, "h"), "image passwd");
}

#[test]
fn hard_link_to_a_symlink_pointing_outside_stays_a_link_inside() {
    let arena = Arena::new();
    let fs = arena
        .merge(vec![
            Layer::new()
                .symlink("s", &arena.secret())
                .symlink("up", "../../../../..")
                .finish(),
            Layer::new()
                .hardlink("h", "s")
                .hardlink("h-up", "up")
                .file("h-up/etc/evil", b"inside")
                .hardlink("dir/h", "s")
                .finish(),
        ])
        .unwrap();
    for link in ["h", "dir/h"] {
        let meta = fs.metadata(&p(link)).unwrap();
        assert_eq!(meta.kind, FileKind::Symlink, "{link}");
        assert_eq!(meta.link_target.as_deref(), Some(arena.secret().as_str()));
        assert_eq!(
            fs.open(&p(link)).err().unwrap().kind(),
            io::ErrorKind::NotFound
        );
    }
    assert_eq!(read(&fs, "etc/evil"), "inside");
}

#[test]
fn devices_and_fifos_are_metadata_only() {
    let arena = Arena::new();
    let fs = arena
        .merge(vec![Layer::new()
            .node("dev/null", tar::EntryType::Char)
            .node("dev/sda", tar::EntryType::Block)
            .node("run/fifo", tar::EntryType::Fifo)
            // Wanted names, and devices whose headers carry data: still never opened.
            .node("etc/os-release", tar::EntryType::Fifo)
            .raw(
                b"dev/tty",
                tar::EntryType::Char,
                0o666,
                None,
                b"data after a device",
            )
            .raw(b"var/pipe", tar::EntryType::Fifo, 0o600, None, &[7u8; 1500])
            .file("etc/real", b"the one regular file")
            .hardlink("dev/null2", "dev/null")
            .finish()])
        .unwrap();
    let kinds = [
        ("dev/null", FileKind::CharDevice),
        ("dev/null2", FileKind::CharDevice),
        ("dev/tty", FileKind::CharDevice),
        ("dev/sda", FileKind::BlockDevice),
        ("run/fifo", FileKind::Fifo),
        ("etc/os-release", FileKind::Fifo),
        ("var/pipe", FileKind::Fifo),
    ];
    for (path, kind) in kinds {
        let meta = fs.metadata(&p(path)).unwrap();
        assert_eq!(meta.kind, kind, "{path}");
        assert_eq!(meta.size, 0, "{path}");
        let err = fs.open(&p(path)).err().expect(path);
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{path}");
        assert!(fs.captured_versions(&p(path)).is_empty());
    }
    assert_eq!(read(&fs, "etc/real"), "the one regular file");
    let sandbox = fs.sandbox_dir().unwrap();
    assert_eq!(fs::read_dir(sandbox).unwrap().count(), 1);
    for item in fs::read_dir(sandbox).unwrap() {
        let kind = item.unwrap().file_type().unwrap();
        assert!(
            !(kind.is_char_device() || kind.is_block_device() || kind.is_fifo()),
            "a device node was created"
        );
    }
}

#[test]
fn a_size_that_lies_is_a_corrupt_layer_not_an_allocation() {
    let arena = Arena::new();
    let cases: [(&str, u64); 3] = [
        ("etc/big", 1 << 30),
        // Past max_captured_file: not captured, then the skip runs out of data.
        ("etc/bigger", 5 << 30),
        ("etc/huge", 1 << 62),
    ];
    for (name, size) in cases {
        let layer = Layer::new()
            .file("etc/before", b"ok")
            .bytes(&header_block(name, tar::EntryType::Regular, size))
            .bytes(&[b'a'; 1000])
            .unfinished();
        for wants in [&all as &dyn Fn(&ImagePath, &FileMeta) -> bool, &nothing] {
            let err = arena
                .merge_with(
                    &MemorySource::new(vec![layer.clone()]),
                    wants,
                    &Limits::default(),
                )
                .unwrap_err();
            assert_eq!(err.code(), ErrorCode::CorruptLayer, "{name}: {err}");
        }
    }
    // A size that overflows when rounded up to the block size.
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..1].copy_from_slice(b"x");
    header.as_old_mut().size = [0xff; 12];
    header.set_cksum();
    let layer = Layer::new().bytes(header.as_bytes()).finish();
    assert_eq!(code(arena.merge(vec![layer])), ErrorCode::CorruptLayer);
}

#[test]
fn absurdly_long_names_are_refused_without_recursion() {
    let arena = Arena::new();
    let ten_thousand = "a/".repeat(10_000) + "x";
    let sixty_four_k = "n".repeat(64 << 10);
    let many_dots = "./".repeat(10_000) + "x";
    for (what, name) in [
        ("10,000 components", &ten_thousand),
        ("64 KiB name", &sixty_four_k),
        ("10,000 dot components", &many_dots),
    ] {
        let pax = Layer::new()
            .pax(&[("path", name.as_bytes())])
            .file("placeholder", b"x")
            .finish();
        let err = arena.merge(vec![pax]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::UnsafeLayerEntry, "{what}: {err}");
        if name.starts_with("./") {
            continue; // tar::Builder normalises the dots away before writing a GNU long name.
        }
        let gnu = Layer::new().long_file(name, b"x").finish();
        let err = arena.merge(vec![gnu]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::UnsafeLayerEntry, "{what}: {err}");
    }
    // A 64 KiB link target is kept as text and resolves inside the root.
    let fs = arena
        .merge(vec![Layer::new()
            .pax(&[("linkpath", ten_thousand.as_bytes())])
            .symlink("long-link", "placeholder")
            .finish()])
        .unwrap();
    let meta = fs.metadata(&p("long-link")).unwrap();
    assert_eq!(meta.link_target.as_deref(), Some(ten_thousand.as_str()));
    assert!(fs.open(&p("long-link")).is_err());
}

#[test]
fn the_longest_accepted_path_merges_in_reasonable_time() {
    // 2,047 one-letter components: as deep as PATH_MAX allows.
    let arena = Arena::new();
    let deep = "d/".repeat(2046) + "f";
    assert!(deep.len() <= ImagePath::MAX_LEN);
    let mut layer = Layer::new();
    for i in 0..50 {
        layer = layer
            .pax(&[("path", format!("{deep}{i}").as_bytes())])
            .file("x", b"deep");
    }
    let started = std::time::Instant::now();
    let fs = arena.merge(vec![layer.finish()]).unwrap();
    assert_eq!(read(&fs, &format!("{deep}49")), "deep");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// A gzip-compressed layer written as a stream (never whole in memory): `write` produces the
/// uncompressed tar. Returns the blob and the tar's diff id.
fn gz_layer(path: &Path, write: impl FnOnce(&mut dyn Write)) -> (PathBuf, String) {
    struct Tee<W> {
        inner: W,
        hasher: Sha256,
    }
    impl<W: Write> Write for Tee<W> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = self.inner.write(buf)?;
            self.hasher.update(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.inner.flush()
        }
    }
    let file = io::BufWriter::new(fs::File::create(path).unwrap());
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tee = Tee {
        inner: gz,
        hasher: Sha256::new(),
    };
    write(&mut tee);
    let diff_id = format!("sha256:{:x}", tee.hasher.finalize());
    tee.inner.finish().unwrap().flush().unwrap();
    (path.to_path_buf(), diff_id)
}

/// Writes an OCI layout at `dir` whose layers are the given gzip blobs and diff ids.
fn write_layout(dir: &Path, layers: &[(PathBuf, String)]) {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let d = sha256(bytes);
        fs::write(blobs.join(d.hex()), bytes).unwrap();
        (d.to_string(), bytes.len())
    };
    let mut descriptors = Vec::new();
    for (path, _) in layers {
        let mut hasher = Sha256::new();
        let mut file = fs::File::open(path).unwrap();
        let size = io::copy(&mut file, &mut hasher).unwrap();
        let digest = format!("sha256:{:x}", hasher.finalize());
        fs::copy(path, blobs.join(&digest[7..])).unwrap();
        descriptors.push(json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest, "size": size}));
    }
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| &l.1).collect::<Vec<_>>()},
    }))
    .unwrap();
    let (config_digest, config_size) = put(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": descriptors,
    }))
    .unwrap();
    let (manifest_digest, manifest_size) = put(&manifest);
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest, "size": manifest_size,
        "annotations": {"org.opencontainers.image.ref.name": "hostile"}}]});
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// The layout at `layout`, and the same packed as an oci-archive next to it.
fn layout_and_archive(layout: &Path) -> [PathBuf; 2] {
    let archive = layout.with_extension("tar");
    let mut builder = tar::Builder::new(fs::File::create(&archive).unwrap());
    builder.append_dir_all(".", layout).unwrap();
    builder.finish().unwrap();
    [layout.to_path_buf(), archive]
}

fn small_layer(blobs: &Path, name: &str, tar: &[u8]) -> (PathBuf, String) {
    gz_layer(&blobs.join(name), |w| w.write_all(tar).unwrap())
}

#[test]
fn hostile_layers_through_a_layout_and_an_oci_archive() {
    let arena = Arena::new();
    let build = tempfile::tempdir().unwrap();
    let base = small_layer(
        build.path(),
        "base.gz",
        &Layer::new()
            .dir("etc/")
            .file("etc/os-release", b"ID=hostile\n")
            .finish(),
    );
    let links = small_layer(
        build.path(),
        "links.gz",
        &Layer::new()
            .symlink("link", "/")
            .symlink("host", &arena.canary())
            .symlink("secret", &arena.secret())
            .hardlink("h", "/etc/os-release")
            .node("dev/null", tar::EntryType::Char)
            .file("/abs/file", b"abs")
            .finish(),
    );
    let writes = small_layer(
        build.path(),
        "writes.gz",
        &Layer::new()
            .file("link/etc/evil", b"one")
            .file("host/evil", b"two")
            .finish(),
    );
    let layout = build.path().join("ok");
    write_layout(&layout, &[base.clone(), links, writes]);
    for reference in layout_and_archive(&layout) {
        let limits = Limits::default();
        let source = open_source(reference.to_str().unwrap(), &limits).unwrap();
        let fs = arena.merge_with(source.as_ref(), &all, &limits).unwrap();
        assert_eq!(read(&fs, "etc/evil"), "one");
        assert_eq!(read(&fs, &format!("{}/evil", arena.canary())), "two");
        assert_eq!(read(&fs, "h"), "ID=hostile\n");
        assert_eq!(read(&fs, "abs/file"), "abs");
        assert!(fs.open(&p("secret")).is_err());
        assert_eq!(
            fs.metadata(&p("dev/null")).unwrap().kind,
            FileKind::CharDevice
        );
        assert_eq!(fs.layers().len(), 3);
    }

    let climbing = small_layer(
        build.path(),
        "climb.gz",
        &Layer::new()
            .raw(
                b"a/../../canary/evil",
                tar::EntryType::Regular,
                0o644,
                None,
                b"x",
            )
            .finish(),
    );
    let layout = build.path().join("climb");
    write_layout(&layout, &[base, climbing]);
    for reference in layout_and_archive(&layout) {
        let limits = Limits::default();
        let source = open_source(reference.to_str().unwrap(), &limits).unwrap();
        let err = arena
            .merge_with(source.as_ref(), &all, &limits)
            .unwrap_err();
        assert!(
            matches!(err, ImageError::UnsafeEntry { layer: 1, .. }),
            "{err}"
        );
    }
}

/// A source that counts the uncompressed bytes the merge pulls from its layer streams.
struct Counting {
    inner: Box<dyn ImageSource>,
    pulled: Arc<AtomicU64>,
}

struct CountingStream<'a> {
    inner: Box<dyn Read + Send + 'a>,
    pulled: Arc<AtomicU64>,
}

impl Read for CountingStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pulled.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl ImageSource for Counting {
    fn info(&self) -> &SourceInfo {
        self.inner.info()
    }
    fn config(&self) -> Option<&ImageConfigSummary> {
        self.inner.config()
    }
    fn layers(&self) -> &[LayerDescriptor] {
        self.inner.layers()
    }
    fn open_layer(
        &self,
        index: usize,
        budget: &UnpackBudget,
    ) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        Ok(Box::new(CountingStream {
            inner: self.inner.open_layer(index, budget)?,
            pulled: Arc::clone(&self.pulled),
        }))
    }
}

/// Merges the layout and its archive under `limits`, expecting `image_oversized`; returns the
/// most uncompressed bytes one merge pulled from the layer streams.
fn merge_expecting_oversized(arena: &Arena, layout: &Path, limits: &Limits) -> u64 {
    let mut most = 0u64;
    for reference in layout_and_archive(layout) {
        for wants in [&all as &dyn Fn(&ImagePath, &FileMeta) -> bool, &nothing] {
            let source = Counting {
                inner: open_source(reference.to_str().unwrap(), limits).unwrap(),
                pulled: Arc::new(AtomicU64::new(0)),
            };
            let err = arena
                .merge_with(&source, wants, limits)
                .map(|_| ())
                .unwrap_err();
            assert_eq!(err.code(), ErrorCode::ImageOversized, "{err}");
            most = most.max(source.pulled.load(Ordering::Relaxed));
        }
    }
    most
}

#[test]
fn gzip_bomb_layer_stops_the_merge_at_the_unpack_limit() {
    let arena = Arena::new();
    let build = tempfile::tempdir().unwrap();
    let size: u64 = 40 << 20;
    let bomb = gz_layer(&build.path().join("bomb.gz"), |w| {
        w.write_all(&header_block(
            "usr/lib/zeros",
            tar::EntryType::Regular,
            size,
        ))
        .unwrap();
        io::copy(&mut io::repeat(0).take(size + 1024), w).unwrap();
    });
    assert!(fs::metadata(&bomb.0).unwrap().len() < size / 100);
    let layout = build.path().join("layout");
    write_layout(&layout, &[bomb]);
    let limits = Limits {
        max_unpacked_bytes: 8 << 20,
        ..Limits::default()
    };
    let most = merge_expecting_oversized(&arena, &layout, &limits);
    assert!(most <= 9 << 20, "read {most} bytes");
}

#[test]
fn sparse_file_bomb_counts_against_the_unpack_limit() {
    // One 512-byte chunk at the end of a file that claims to be 900 MiB: the holes would be
    // written to the sandbox as zeros.
    let real: u64 = 900 << 20;
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..11].copy_from_slice(b"etc/sparse1");
    header.set_entry_type(tar::EntryType::GNUSparse);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_700_000_000);
    header.set_size(512);
    {
        let gnu = header.as_gnu_mut().unwrap();
        gnu.sparse[0].set_offset(real - 512);
        gnu.sparse[0].set_length(512);
        gnu.set_real_size(real);
    }
    header.set_cksum();
    let mut layer = Layer::new();
    for i in 1..=3u8 {
        let mut h = header.clone();
        h.as_old_mut().name[10] = b'0' + i;
        h.set_cksum();
        layer = layer.bytes(h.as_bytes()).bytes(&[1u8; 512]);
    }
    let tar = layer.finish();
    let arena = Arena::new();
    let limits = Limits {
        max_unpacked_bytes: 64 << 20,
        ..Limits::default()
    };
    let source = MemorySource::new(vec![tar.clone()]);
    let err = arena.merge_with(&source, &all, &limits).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ImageOversized, "{err}");
    // Within the limit, the sparse file reads back as holes and its data.
    let limits = Limits {
        max_unpacked_bytes: 4 << 30,
        ..Limits::default()
    };
    let small_real = 8192u64;
    let mut h = header.clone();
    {
        let gnu = h.as_gnu_mut().unwrap();
        gnu.sparse[0].set_offset(small_real - 512);
        gnu.set_real_size(small_real);
    }
    h.set_cksum();
    let tar = Layer::new().bytes(h.as_bytes()).bytes(&[1u8; 512]).finish();
    let fs = arena
        .merge_with(&MemorySource::new(vec![tar]), &all, &limits)
        .unwrap();
    let mut content = Vec::new();
    fs.open(&p("etc/sparse1"))
        .unwrap()
        .read_to_end(&mut content)
        .unwrap();
    assert_eq!(content.len() as u64, small_real);
    assert!(content[..7680].iter().all(|b| *b == 0));
    assert!(content[7680..].iter().all(|b| *b == 1));
}

#[test]
fn oversized_extension_headers_are_refused_before_they_are_buffered() {
    // A pax header or GNU long name of 4 MiB (one byte repeated, so the blob is small): the
    // tar reader would buffer it whole in memory, as it would one of gigabytes.
    let arena = Arena::new();
    let build = tempfile::tempdir().unwrap();
    let size: u64 = 4 << 20;
    for (name, kind) in [
        ("pax.gz", tar::EntryType::XHeader),
        ("longname.gz", tar::EntryType::GNULongName),
        ("longlink.gz", tar::EntryType::GNULongLink),
    ] {
        let bomb = gz_layer(&build.path().join(name), |w| {
            w.write_all(&header_block("././@LongLink", kind, size))
                .unwrap();
            io::copy(&mut io::repeat(b'a').take(size), w).unwrap();
            w.write_all(&header_block("x", tar::EntryType::Regular, 0))
                .unwrap();
            w.write_all(&[0u8; 1024]).unwrap();
        });
        let layout = build.path().join(name).with_extension("layout");
        write_layout(&layout, &[bomb]);
        // Under the default limits (8 GiB unpacked) the header alone must not be read.
        let most = merge_expecting_oversized(&arena, &layout, &Limits::default());
        assert!(most < 1 << 20, "{name}: read {most} bytes");
    }
}
