//! Image sources over real images: the fixtures, conversions of them made by skopeo, and
//! variants built here (zstd and uncompressed layers, corrupt and hostile blobs).
//!
//! Expectations never come from `open_source` itself: they are read independently from the
//! archives with the `tar` crate and serde_json, or come from skopeo.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up helpers outside #[test] fns

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use crowsnest_image::source::{image_error_from_io, into_image_error, UnpackBudget};
use crowsnest_image::{open_source, ImageError, ImageSource, Limits};
use crowsnest_model::{Digest, ErrorCode, SourceKind};
use crowsnest_testkit::{fixture, require_tool};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

const ACME: &str = "images/acme-shop.oci.tar";

fn sha256(bytes: &[u8]) -> Digest {
    Digest::sha256_from_bytes(&Sha256::digest(bytes).into())
}

/// Every regular member of a (possibly gzip-compressed) tar, read whole.
fn tar_members(path: &Path) -> Vec<(String, Vec<u8>)> {
    let file = fs::File::open(path).unwrap();
    let mut head = [0u8; 2];
    fs::File::open(path).unwrap().read_exact(&mut head).unwrap();
    let reader: Box<dyn Read> = if head == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut archive = tar::Archive::new(reader);
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.push((name, data));
    }
    out
}

fn member<'a>(members: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    &members.iter().find(|(n, _)| n == name).unwrap().1
}

/// The fixture image as its own files say it is.
struct Expected {
    manifest_digest: Digest,
    config_bytes: Vec<u8>,
    config: Value,
    /// (digest, size, media type, blob bytes) per layer.
    layers: Vec<(Digest, u64, String, Vec<u8>)>,
}

fn acme_expected() -> Expected {
    let members = tar_members(&fixture(ACME));
    let index: Value = serde_json::from_slice(member(&members, "index.json")).unwrap();
    let manifest_digest: Digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let blob = |d: &str| member(&members, &format!("blobs/sha256/{}", &d[7..])).to_vec();
    let manifest: Value = serde_json::from_slice(&blob(&manifest_digest.to_string())).unwrap();
    let config_bytes = blob(manifest["config"]["digest"].as_str().unwrap());
    let config: Value = serde_json::from_slice(&config_bytes).unwrap();
    let layers = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let d = l["digest"].as_str().unwrap();
            (
                d.parse().unwrap(),
                l["size"].as_u64().unwrap(),
                l["mediaType"].as_str().unwrap().to_owned(),
                blob(d),
            )
        })
        .collect();
    Expected {
        manifest_digest,
        config_bytes,
        config,
        layers,
    }
}

fn diff_ids(config: &Value) -> Vec<Digest> {
    config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().parse().unwrap())
        .collect()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Reads every layer to the end; returns the uncompressed size of each.
fn read_all_layers(source: &dyn ImageSource, limits: &Limits) -> Result<Vec<u64>, ImageError> {
    let budget = UnpackBudget::new(limits);
    let mut sizes = Vec::new();
    for index in 0..source.layers().len() {
        let mut stream = source.open_layer(index, &budget)?;
        let n = io::copy(&mut stream, &mut io::sink())
            .map_err(|e| into_image_error(e, "reading layer"))?;
        sizes.push(n);
    }
    Ok(sizes)
}

fn open(reference: impl AsRef<Path>) -> Result<Box<dyn ImageSource>, ImageError> {
    open_source(reference.as_ref().to_str().unwrap(), &Limits::default())
}

fn code_of<T>(result: Result<T, ImageError>) -> ErrorCode {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.code(),
    }
}

#[test]
fn acme_shop_oci_archive_matches_its_own_files() {
    let expected = acme_expected();
    let source = open(fixture(ACME)).unwrap();
    let info = source.info();
    assert_eq!(info.kind, SourceKind::OciArchive);
    assert_eq!(info.tags, vec!["acme-shop".to_owned()]);
    assert_eq!(
        info.manifest_digest.as_ref(),
        Some(&expected.manifest_digest)
    );
    assert_eq!(info.image_id, Some(sha256(&expected.config_bytes)));
    assert_eq!(
        info.architecture.as_deref(),
        expected.config["architecture"].as_str()
    );
    assert_eq!(info.os.as_deref(), expected.config["os"].as_str());

    let layers = source.layers();
    assert_eq!(layers.len(), expected.layers.len());
    let diffs = diff_ids(&expected.config);
    let history: Vec<&Value> = expected.config["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["empty_layer"] != json!(true))
        .collect();
    for (i, layer) in layers.iter().enumerate() {
        let (digest, size, media_type, blob) = &expected.layers[i];
        assert_eq!(&layer.digest, digest);
        assert_eq!(layer.size, *size);
        assert_eq!(&layer.media_type, media_type);
        assert_eq!(layer.diff_id.as_ref(), Some(&diffs[i]));
        assert_eq!(sha256(blob), *digest, "fixture blob {i} hashes to its name");
        assert_eq!(
            layer.created_by.as_deref(),
            history[i]["created_by"].as_str()
        );
    }

    let config = source.config().unwrap();
    let run = &expected.config["config"];
    assert_eq!(config.user, run["User"].as_str().unwrap_or(""));
    let env: Vec<String> = serde_json::from_value(run["Env"].clone()).unwrap();
    assert_eq!(config.env, env);
    let mut ports: Vec<String> = run["ExposedPorts"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    ports.sort();
    assert_eq!(config.exposed_ports, ports);
    assert!(!config.has_healthcheck);
    assert_eq!(
        config.created.as_deref(),
        expected.config["created"].as_str()
    );

    let sizes = read_all_layers(source.as_ref(), &Limits::default()).unwrap();
    for (i, size) in sizes.iter().enumerate() {
        assert_eq!(
            *size,
            gunzip(&expected.layers[i].3).len() as u64,
            "layer {i}"
        );
    }
}

#[test]
fn layers_read_through_a_tar_reader_verify_without_reading_to_eof() {
    // tar::Archive stops at the end-of-archive block; the stream must still finish and verify.
    let source = open(fixture(ACME)).unwrap();
    let budget = UnpackBudget::new(&Limits::default());
    let mut entries = 0;
    for index in 0..source.layers().len() {
        let stream = source.open_layer(index, &budget).unwrap();
        let mut archive = tar::Archive::new(stream);
        for entry in archive.entries().unwrap() {
            entry.unwrap();
            entries += 1;
        }
    }
    assert!(entries > 1000, "only {entries} entries");
    let total: u64 = acme_expected()
        .layers
        .iter()
        .map(|l| gunzip(&l.3).len() as u64)
        .sum();
    assert_eq!(
        budget.used(),
        total,
        "every byte, trailing padding too, was drained"
    );
}

fn alpine_expected(name: &str) -> (Vec<String>, Vec<u8>, Vec<Digest>) {
    let members = tar_members(&fixture(name));
    let manifest: Value = serde_json::from_slice(member(&members, "manifest.json")).unwrap();
    let config_bytes = member(&members, manifest[0]["Config"].as_str().unwrap()).to_vec();
    let config: Value = serde_json::from_slice(&config_bytes).unwrap();
    let tags = serde_json::from_value(manifest[0]["RepoTags"].clone()).unwrap();
    // Diff ids recomputed from the layer files themselves, not taken from the config.
    let layer_digests = manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| sha256(member(&members, l.as_str().unwrap())))
        .collect::<Vec<_>>();
    assert_eq!(layer_digests, diff_ids(&config));
    (tags, config_bytes, layer_digests)
}

#[test]
fn gzip_compressed_docker_save_archives_open_and_verify() {
    for name in ["images/alpine-310.tar.gz", "images/alpine-311.tar.gz"] {
        let (tags, config_bytes, diffs) = alpine_expected(name);
        let source = open(fixture(name)).unwrap();
        let info = source.info();
        assert_eq!(info.kind, SourceKind::DockerArchive);
        assert_eq!(info.tags, tags);
        assert_eq!(info.image_id, Some(sha256(&config_bytes)));
        assert_eq!(info.manifest_digest, None);
        assert_eq!(info.os.as_deref(), Some("linux"));
        let layers = source.layers();
        assert_eq!(layers.len(), diffs.len());
        for (layer, diff) in layers.iter().zip(&diffs) {
            assert_eq!(layer.diff_id.as_ref(), Some(diff));
            assert_eq!(
                &layer.digest, diff,
                "an uncompressed layer's digest is its diff id"
            );
        }
        read_all_layers(source.as_ref(), &Limits::default()).unwrap();

        // The tag picks the image; a tag the archive lacks is not_found.
        let tagged = format!("{}:{}", fixture(name).display(), tags[0]);
        let source = open_source(&tagged, &Limits::default()).unwrap();
        assert_eq!(source.info().reference, tagged);
        let missing = format!("{}:alpine:9.99", fixture(name).display());
        assert_eq!(
            code_of(open_source(&missing, &Limits::default())),
            ErrorCode::NotFound
        );
    }
}

#[test]
fn tag_selects_in_oci_archive_and_missing_tag_is_not_found() {
    let path = fixture(ACME);
    let ok = open_source(&format!("{}:acme-shop", path.display()), &Limits::default()).unwrap();
    assert_eq!(ok.layers().len(), 3);
    let err = open_source(&format!("{}:nope", path.display()), &Limits::default());
    assert_eq!(code_of(err), ErrorCode::NotFound);
    assert_eq!(
        code_of(open_source("/nonexistent/image.tar", &Limits::default())),
        ErrorCode::NotFound
    );
}

/// Summary of what a source says about an image, for comparing sources of the same image.
fn identity(source: &dyn ImageSource) -> (Vec<Option<Digest>>, Option<Digest>, String) {
    (
        source.layers().iter().map(|l| l.diff_id.clone()).collect(),
        source.info().image_id.clone(),
        format!("{:?}", source.config()),
    )
}

#[test]
fn skopeo_conversions_agree_with_the_oci_archive() {
    if !require_tool("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let archive = format!("oci-archive:{}:acme-shop", fixture(ACME).display());
    let docker = dir.path().join("acme.docker.tar");
    let layout = dir.path().join("layout");
    for dest in [
        format!("docker-archive:{}:acme-shop:latest", docker.display()),
        format!("oci:{}:acme-shop", layout.display()),
    ] {
        let status = Command::new("skopeo")
            .args(["copy", "-q", &archive, &dest])
            .status()
            .unwrap();
        assert!(status.success(), "skopeo copy to {dest}");
    }
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw", &archive])
        .output()
        .unwrap();
    assert!(raw.status.success());
    let config = Command::new("skopeo")
        .args(["inspect", "--config", &archive])
        .output()
        .unwrap();
    assert!(config.status.success());
    let config: Value = serde_json::from_slice(&config.stdout).unwrap();

    let original = open(fixture(ACME)).unwrap();
    assert_eq!(original.info().manifest_digest, Some(sha256(&raw.stdout)));
    let wanted: Vec<Option<Digest>> = diff_ids(&config).into_iter().map(Some).collect();
    assert_eq!(identity(original.as_ref()).0, wanted);

    let from_docker = open_source(
        &format!("{}:acme-shop", docker.display()),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(from_docker.info().kind, SourceKind::DockerArchive);
    assert_eq!(identity(from_docker.as_ref()), identity(original.as_ref()));
    let from_layout = open(&layout).unwrap();
    assert_eq!(from_layout.info().kind, SourceKind::OciLayout);
    assert_eq!(identity(from_layout.as_ref()), identity(original.as_ref()));
    assert_eq!(
        from_layout.info().manifest_digest,
        original.info().manifest_digest
    );

    let sizes = read_all_layers(original.as_ref(), &Limits::default()).unwrap();
    assert_eq!(
        read_all_layers(from_docker.as_ref(), &Limits::default()).unwrap(),
        sizes
    );
    assert_eq!(
        read_all_layers(from_layout.as_ref(), &Limits::default()).unwrap(),
        sizes
    );

    // skopeo's zstd output is a second, independent zstd encoder.
    let zstd_layout = dir.path().join("zstd");
    let status = Command::new("skopeo")
        .args(["copy", "-q", "--dest-compress-format", "zstd", &archive])
        .arg(format!("oci:{}:acme-shop", zstd_layout.display()))
        .status()
        .unwrap();
    assert!(status.success());
    let from_zstd = open(&zstd_layout).unwrap();
    assert!(from_zstd
        .layers()
        .iter()
        .all(|l| l.media_type.ends_with("+zstd")));
    assert_eq!(identity(from_zstd.as_ref()).0, wanted);
    assert_eq!(
        read_all_layers(from_zstd.as_ref(), &Limits::default()).unwrap(),
        sizes
    );
}

/// Writes an OCI layout with the given config and layer blobs (bytes as stored, media type).
fn write_layout(dir: &Path, config: &[u8], layers: &[(Vec<u8>, &str)], tag: &str) -> Digest {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let d = sha256(bytes);
        fs::write(blobs.join(d.hex()), bytes).unwrap();
        d
    };
    let config_digest = put(config);
    let layer_descriptors: Vec<Value> = layers
        .iter()
        .map(|(bytes, media_type)| {
            json!({"mediaType": media_type, "digest": put(bytes).to_string(), "size": bytes.len()})
        })
        .collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest.to_string(), "size": config.len()},
        "layers": layer_descriptors,
    }))
    .unwrap();
    let manifest_digest = put(&manifest);
    write_index(
        dir,
        &manifest_digest,
        manifest.len(),
        "application/vnd.oci.image.manifest.v1+json",
        tag,
    );
    manifest_digest
}

fn write_index(dir: &Path, digest: &Digest, size: usize, media_type: &str, tag: &str) {
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": media_type, "digest": digest.to_string(), "size": size,
        "annotations": {"org.opencontainers.image.ref.name": tag}}]});
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}

/// Packs `dir` into a tar at `to` (names relative to `dir`).
fn tar_dir(dir: &Path, to: &Path) {
    let mut builder = tar::Builder::new(fs::File::create(to).unwrap());
    builder.append_dir_all(".", dir).unwrap();
    builder.finish().unwrap();
}

#[test]
fn zstd_and_uncompressed_layers_in_layouts_and_archives() {
    let expected = acme_expected();
    let tars: Vec<Vec<u8>> = expected.layers.iter().map(|l| gunzip(&l.3)).collect();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    // The media types deliberately understate: compression is sniffed, not believed.
    write_layout(
        &layout,
        &expected.config_bytes,
        &[
            (
                zstd(&tars[0]),
                "application/vnd.oci.image.layer.v1.tar+zstd",
            ),
            (tars[1].clone(), "application/vnd.oci.image.layer.v1.tar"),
            (zstd(&tars[2]), "application/vnd.oci.image.layer.v1.tar"),
        ],
        "mixed",
    );
    let source = open(&layout).unwrap();
    assert_eq!(source.info().kind, SourceKind::OciLayout);
    assert_eq!(source.info().tags, vec!["mixed".to_owned()]);
    let sizes = read_all_layers(source.as_ref(), &Limits::default()).unwrap();
    assert_eq!(
        sizes,
        tars.iter().map(|t| t.len() as u64).collect::<Vec<_>>()
    );

    // The same layout as an oci-archive, and that archive zstd-compressed as a whole.
    let archive = dir.path().join("mixed.tar");
    tar_dir(&layout, &archive);
    let source = open(&archive).unwrap();
    assert_eq!(source.info().kind, SourceKind::OciArchive);
    read_all_layers(source.as_ref(), &Limits::default()).unwrap();
    let compressed = dir.path().join("mixed.tar.anything");
    fs::write(&compressed, zstd(&fs::read(&archive).unwrap())).unwrap();
    let source = open(&compressed).unwrap();
    assert_eq!(source.info().kind, SourceKind::OciArchive);
    assert_eq!(
        read_all_layers(source.as_ref(), &Limits::default()).unwrap(),
        sizes
    );
}

/// A layout with the fixture's config and the given layer blobs in place of its own.
fn layout_with_layers(dir: &Path, layers: &[(Vec<u8>, &str)]) -> PathBuf {
    let expected = acme_expected();
    let layout = dir.join("layout");
    write_layout(&layout, &expected.config_bytes, layers, "t");
    layout
}

fn fixture_layers_gz() -> Vec<(Vec<u8>, &'static str)> {
    acme_expected()
        .layers
        .into_iter()
        .map(|l| (l.3, "application/vnd.oci.image.layer.v1.tar+gzip"))
        .collect()
}

fn first_layer_error(source: &dyn ImageSource) -> ImageError {
    read_all_layers(source, &Limits::default()).unwrap_err()
}

#[test]
fn flipped_byte_in_a_layer_blob_is_a_digest_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let mut layers = fixture_layers_gz();
    let layout = layout_with_layers(dir.path(), &layers);
    // Byte 9 of a gzip header is the OS field: decoders ignore it, only the digest notices.
    let blob_path = layout.join("blobs/sha256").join(sha256(&layers[2].0).hex());
    layers[2].0[9] ^= 0x01;
    fs::write(&blob_path, &layers[2].0).unwrap();
    let source = open(&layout).unwrap();
    let err = first_layer_error(source.as_ref());
    assert_eq!(err.code(), ErrorCode::DigestMismatch, "{err}");
    assert_eq!(err.code().as_str(), "digest_mismatch");

    // Through a tar reader that stops at the end block, the mismatch still surfaces.
    let budget = UnpackBudget::new(&Limits::default());
    let mut archive = tar::Archive::new(source.open_layer(2, &budget).unwrap());
    let failure = archive
        .entries()
        .unwrap()
        .find_map(|e| e.err())
        .expect("the tar reader sees the mismatch");
    let inner = image_error_from_io(&failure).unwrap();
    assert_eq!(inner.code(), ErrorCode::DigestMismatch);
}

#[test]
fn wrong_diff_id_is_a_digest_mismatch() {
    let expected = acme_expected();
    let mut config = expected.config.clone();
    config["rootfs"]["diff_ids"][1] = json!(sha256(b"something else").to_string());
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    write_layout(
        &layout,
        &serde_json::to_vec(&config).unwrap(),
        &fixture_layers_gz(),
        "t",
    );
    let source = open(&layout).unwrap();
    let err = first_layer_error(source.as_ref());
    assert!(
        matches!(&err, ImageError::DigestMismatch { what, .. } if what.contains("diff id")),
        "{err}"
    );
}

#[test]
fn truncated_gzip_layer_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let mut layers = fixture_layers_gz();
    let len = layers[1].0.len();
    layers[1].0.truncate(len / 2);
    // The manifest names the truncated blob, so only the decoder can notice.
    let layout = layout_with_layers(dir.path(), &layers);
    let source = open(&layout).unwrap();
    let err = first_layer_error(source.as_ref());
    assert_eq!(err.code(), ErrorCode::CorruptLayer, "{err}");
    assert!(matches!(err, ImageError::CorruptLayer { layer: 1, .. }));
}

/// Writes a gzip of a tar holding one file of `size` zero bytes, streamed (never in memory).
fn write_zero_bomb(path: &Path, size: u64) {
    let file = io::BufWriter::new(fs::File::create(path).unwrap());
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut header = tar::Header::new_gnu();
    header.set_path("zeros").unwrap();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    gz.write_all(header.as_bytes()).unwrap();
    io::copy(&mut io::repeat(0).take(size + 1024), &mut gz).unwrap();
    gz.finish().unwrap().flush().unwrap();
}

#[test]
fn gzip_bomb_stops_at_the_unpack_limit() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.gz");
    write_zero_bomb(&bomb, 300 << 20);
    let blob = fs::read(&bomb).unwrap();
    assert!(blob.len() < 4 << 20, "zeros compress well");
    let mut layers = fixture_layers_gz();
    layers.truncate(2);
    layers.push((blob, "application/vnd.oci.image.layer.v1.tar+gzip"));
    let layout = layout_with_layers(dir.path(), &layers);
    let limits = Limits {
        max_unpacked_bytes: 64 << 20,
        ..Limits::default()
    };
    let source = open_source(layout.to_str().unwrap(), &limits).unwrap();
    let budget = UnpackBudget::new(&limits);
    let mut stream = source.open_layer(2, &budget).unwrap();
    let err = io::copy(&mut stream, &mut io::sink()).unwrap_err();
    let err = into_image_error(err, "bomb");
    assert_eq!(err.code(), ErrorCode::ImageOversized, "{err}");
    // Stopped within one buffer of the limit, not after unpacking 300 MB.
    assert!(
        budget.used() < (64 << 20) + (1 << 20),
        "used {}",
        budget.used()
    );
}

#[test]
fn gzip_bomb_as_the_outer_archive_is_oversized() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.tar.gz");
    write_zero_bomb(&bomb, 100 << 20);
    let limits = Limits {
        max_unpacked_bytes: 16 << 20,
        ..Limits::default()
    };
    let err = open_source(bomb.to_str().unwrap(), &limits);
    assert_eq!(code_of(err), ErrorCode::ImageOversized);
}

#[test]
fn schema1_manifest_is_refused_with_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 1, "name": "library/old", "tag": "latest", "architecture": "amd64",
        "fsLayers": [{"blobSum": sha256(b"x").to_string()}],
        "history": [{"v1Compatibility": "{}"}],
    }))
    .unwrap();
    let digest = sha256(&manifest);
    fs::write(layout.join("blobs/sha256").join(digest.hex()), &manifest).unwrap();
    write_index(
        &layout,
        &digest,
        manifest.len(),
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "old",
    );
    let err = open(&layout);
    assert_eq!(code_of(err), ErrorCode::SchemaV1NotSupport);
}

#[test]
fn things_that_are_not_images_are_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.tar");
    fs::write(&text, "just some text, not a tar at all\n".repeat(40)).unwrap();
    assert_eq!(code_of(open(&text)), ErrorCode::InvalidImage);
    // A real zip file.
    assert_eq!(
        code_of(open(fixture("osv/PyPI/all.zip"))),
        ErrorCode::InvalidImage
    );
    // A tar that holds files but no image.
    let plain = dir.path().join("plain.tar");
    let src = dir.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("hello.txt"), "hi").unwrap();
    tar_dir(&src, &plain);
    assert_eq!(code_of(open(&plain)), ErrorCode::InvalidImage);
    // A directory without oci-layout is a root filesystem, for the other path.
    match open(&src) {
        Err(e @ ImageError::Invalid(_)) => assert!(e.to_string().contains("--rootfs"), "{e}"),
        Err(e) => panic!("unexpected {e}"),
        Ok(_) => panic!("a plain directory opened as an image"),
    }
    // An empty file.
    let empty = dir.path().join("empty");
    fs::write(&empty, b"").unwrap();
    assert_eq!(code_of(open(&empty)), ErrorCode::InvalidImage);
}

#[test]
fn reference_with_colon_in_the_path_still_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("with:colon.tar");
    fs::copy(fixture(ACME), &odd).unwrap();
    let whole = open(&odd).unwrap();
    assert!(whole.info().tags.contains(&"acme-shop".to_owned()));
    let tagged = format!("{}:acme-shop", odd.display());
    assert_eq!(
        open_source(&tagged, &Limits::default())
            .unwrap()
            .layers()
            .len(),
        3
    );
}

#[test]
fn oversized_json_documents_are_refused() {
    let limits = Limits {
        max_json_bytes: 300,
        ..Limits::default()
    };
    let err = open_source(fixture(ACME).to_str().unwrap(), &limits);
    assert_eq!(code_of(err), ErrorCode::ImageOversized);
}
