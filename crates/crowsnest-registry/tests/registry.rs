//! Against a real registry (Debian's `docker-registry`, htpasswd auth) filled with `skopeo`:
//! the client's protocol, streaming scans (compared with scanning the same archive from disk),
//! multi-arch platform choice, schema 1, and every failure path ending in its seed code
//! without hanging.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crowsnest_image::source::{Platform, RemoteDocument, SourceOptions, UnpackBudget};
use crowsnest_image::Limits;
use crowsnest_registry::{
    failure_code, open_image, ClientOptions, Credentials, ImageReference, RegistryClient,
};
use crowsnest_scan::Scanner;
use crowsnest_testkit::registry::{TestRegistry, PASSWORD, USER};

fn options(password: Option<&str>) -> ClientOptions {
    ClientOptions {
        credentials: password.map(|p| Credentials {
            username: USER.into(),
            password: p.into(),
        }),
        plain_http: true,
        timeout: Duration::from_secs(10),
        retries: 2,
        backoff: Duration::from_millis(50),
        ..ClientOptions::default()
    }
}

fn client(registry: &TestRegistry) -> Arc<RegistryClient> {
    Arc::new(RegistryClient::new(&registry.host(), options(Some(PASSWORD))).unwrap())
}

fn acme() -> String {
    format!(
        "oci-archive:{}",
        crowsnest_testkit::fixture("images/acme-shop.oci.tar").display()
    )
}

fn alpine(version: &str) -> String {
    crowsnest_testkit::registry::docker_archive(&format!("images/alpine-{version}.tar.gz"))
}

fn reference(registry: &TestRegistry, rest: &str) -> ImageReference {
    ImageReference::parse(&format!("{}/{rest}", registry.host())).unwrap()
}

#[test]
fn a_pushed_image_scans_from_the_registry_as_it_does_from_the_archive() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    registry.push(&acme(), "acme/shop:1.0", &[]);
    registry.push(&alpine("310"), "library/alpine:3.10", &[]);
    registry.push(&alpine("311"), "library/alpine:3.11", &[]);
    let client = Arc::new(
        RegistryClient::new(
            &registry.host(),
            ClientOptions {
                // One entry per page, so the Link pagination is really followed.
                page_size: 1,
                ..options(Some(PASSWORD))
            },
        )
        .unwrap(),
    );
    client.ping().unwrap();
    let catalog = client
        .catalog()
        .unwrap()
        .expect("the registry has a catalog");
    assert_eq!(catalog, vec!["acme/shop", "library/alpine"]);
    assert_eq!(client.tags("library/alpine").unwrap(), vec!["3.10", "3.11"]);

    let scanner = Scanner::new(Limits::default());
    let started = Instant::now();
    let from_disk = scanner
        .scan_image(
            crowsnest_testkit::fixture("images/acme-shop.oci.tar")
                .to_str()
                .unwrap(),
            &mut |_| {},
        )
        .unwrap();
    let disk_time = started.elapsed();
    let requests_before = client.requests();
    let started = Instant::now();
    let source = open_image(
        Arc::clone(&client),
        &reference(&registry, "acme/shop:1.0"),
        &Limits::default(),
        &SourceOptions::default(),
    )
    .unwrap();
    let from_registry = scanner.scan_source(source.as_ref(), &mut |_| {}).unwrap();
    let registry_time = started.elapsed();
    eprintln!(
        "acme-shop: archive scan {disk_time:?}, registry scan {registry_time:?} ({} requests)",
        client.requests() - requests_before
    );
    assert!(!from_disk.packages.is_empty());
    assert_eq!(from_registry.packages, from_disk.packages);
    assert_eq!(from_registry.distro, from_disk.distro);
    assert_eq!(from_registry.source.image_id, from_disk.source.image_id);
    assert_eq!(
        from_registry.source.manifest_digest,
        from_disk.source.manifest_digest
    );

    // HEAD gives the same digest the GET hashes to, and a digest reference opens the same image.
    let head = client.head_manifest("acme/shop", "1.0").unwrap();
    assert_eq!(head.digest, from_disk.source.manifest_digest);
    let digest = head.digest.unwrap();
    let by_digest = open_image(
        Arc::clone(&client),
        &reference(&registry, &format!("acme/shop@{digest}")),
        &Limits::default(),
        &SourceOptions::default(),
    )
    .unwrap();
    assert_eq!(by_digest.info().image_id, from_disk.source.image_id);
}

#[test]
fn wrong_or_missing_credentials_are_authentication_failed() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    registry.push(&alpine("310"), "library/alpine:3.10", &[]);
    for password in [Some("wrong"), None] {
        let client = Arc::new(RegistryClient::new(&registry.host(), options(password)).unwrap());
        let err = client.ping().unwrap_err();
        assert_eq!(err.code(), "authentication_failed", "{err}");
        let err = open_image(
            client,
            &reference(&registry, "library/alpine:3.10"),
            &Limits::default(),
            &SourceOptions::default(),
        )
        .err()
        .expect("no image without credentials");
        assert_eq!(failure_code(&err), "authentication_failed", "{err}");
    }
}

/// A registry with `auth: token` sends every client to a separate token service (a real one,
/// started by the test, whose signing certificate the registry trusts): the client follows the
/// Bearer challenge, fetches a token per scope with the user's credentials, and pulls and scans
/// as with Basic auth; a wrong or missing password is refused by the token service and ends
/// `authentication_failed`.
#[test]
fn a_token_auth_registry_is_reached_through_the_bearer_challenge() {
    let Some(registry) = TestRegistry::start_with_token_auth() else {
        return;
    };
    // skopeo goes through the same token service to push.
    registry.push(&alpine("310"), "library/alpine:3.10", &[]);
    let tokens = registry.token_server().unwrap();
    let pushed_with = tokens.issued();
    assert!(pushed_with > 0, "skopeo pushed with tokens");

    let client = client(&registry);
    client.ping().unwrap();
    assert_eq!(
        client.catalog().unwrap().expect("a catalog"),
        vec!["library/alpine"]
    );
    assert_eq!(client.tags("library/alpine").unwrap(), vec!["3.10"]);
    let source = open_image(
        Arc::clone(&client),
        &reference(&registry, "library/alpine:3.10"),
        &Limits::default(),
        &SourceOptions::default(),
    )
    .unwrap();
    let scanned = Scanner::new(Limits::default())
        .scan_source(source.as_ref(), &mut |_| {})
        .unwrap();
    let from_disk = Scanner::new(Limits::default())
        .scan_image(
            crowsnest_testkit::registry::docker_archive("images/alpine-310.tar.gz")
                .trim_start_matches("docker-archive:"),
            &mut |_| {},
        )
        .unwrap();
    assert!(!scanned.packages.is_empty());
    assert_eq!(scanned.packages, from_disk.packages);
    // Ping, catalog, tags and the pull each needed a token of their own scope.
    assert!(
        tokens.issued() >= pushed_with + 3,
        "tokens issued: {} (push used {pushed_with})",
        tokens.issued()
    );
    assert_eq!(tokens.refused(), 0);

    for password in [Some("wrong"), None] {
        let refused = tokens.refused();
        let client = Arc::new(RegistryClient::new(&registry.host(), options(password)).unwrap());
        let err = client.ping().unwrap_err();
        assert_eq!(err.code(), "authentication_failed", "{err}");
        let err = open_image(
            client,
            &reference(&registry, "library/alpine:3.10"),
            &Limits::default(),
            &SourceOptions::default(),
        )
        .err()
        .expect("no image without the right password");
        assert_eq!(failure_code(&err), "authentication_failed", "{err}");
        assert!(tokens.refused() > refused, "the token service refused it");
    }
}

#[test]
fn a_missing_tag_or_repository_is_get_detail_info_not_found() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    registry.push(&alpine("310"), "library/alpine:3.10", &[]);
    for missing in ["library/alpine:9.9", "nobody/here:1"] {
        let err = open_image(
            client(&registry),
            &reference(&registry, missing),
            &Limits::default(),
            &SourceOptions::default(),
        )
        .err()
        .expect("nothing to open");
        assert_eq!(failure_code(&err), "get_detail_info_not_found", "{err}");
    }
}

#[test]
fn a_corrupted_blob_is_download_failed() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    registry.push(&alpine("310"), "library/alpine:3.10", &[]);
    let client = client(&registry);
    let manifest = client.manifest("library/alpine", "3.10", 1 << 20).unwrap();
    let RemoteDocument::Manifest { layers, .. } =
        RemoteDocument::parse(&manifest.bytes, manifest.media_type.as_deref(), "m").unwrap()
    else {
        panic!("not a manifest")
    };
    let (layer, size) = &layers[0];
    // Same length, different bytes: only the digest check can notice.
    let file = registry.blob_file(&layer.to_string());
    let mut bytes = std::fs::read(&file).unwrap();
    assert_eq!(bytes.len() as u64, *size);
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let source = open_image(
        Arc::clone(&client),
        &reference(&registry, "library/alpine:3.10"),
        &Limits::default(),
        &SourceOptions::default(),
    )
    .unwrap();
    let err = Scanner::new(Limits::default())
        .scan_source(source.as_ref(), &mut |_| {})
        .unwrap_err();
    let crowsnest_scan::ScanError::Image(image) = err;
    assert_eq!(failure_code(&image), "download_failed", "{image}");
}

#[test]
fn a_registry_that_dies_mid_pull_ends_in_download_failed_quickly() {
    let Some(mut registry) = TestRegistry::start() else {
        return;
    };
    registry.push(&acme(), "acme/shop:1.0", &[]);
    let client = client(&registry);
    let source = open_image(
        Arc::clone(&client),
        &reference(&registry, "acme/shop:1.0"),
        &Limits::default(),
        &SourceOptions::default(),
    )
    .unwrap();
    let budget = UnpackBudget::new(&Limits::default());
    let mut layer = source.open_layer(0, &budget).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    layer.read_exact(&mut buf).unwrap();
    registry.kill();
    let started = Instant::now();
    let err = std::io::copy(&mut layer, &mut std::io::sink()).unwrap_err();
    let elapsed = started.elapsed();
    let image = crowsnest_image::source::into_image_error(err, "layer 0");
    assert_eq!(failure_code(&image), "download_failed", "{image}");
    // Retries with backoff, then give up: seconds, not a hang.
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
}

/// Builds an OCI layout whose index holds alpine 3.10 as linux/amd64 and alpine 3.11 labelled
/// linux/arm64, so the platform chosen is visible in the scanned distro version.
fn multi_arch_layout(dir: &Path) -> String {
    let layout = dir.join("multi");
    let layout_text = layout.to_str().unwrap();
    for (version, tag) in [("310", "a"), ("311", "b")] {
        let status = std::process::Command::new("skopeo")
            .args(["copy", "--quiet"])
            .arg(alpine(version))
            .arg(format!("oci:{layout_text}:{tag}"))
            .status()
            .unwrap();
        assert!(status.success());
    }
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut manifests = Vec::new();
    for (entry, arch) in index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .zip(["amd64", "arm64"])
    {
        let mut entry = entry.clone();
        entry.as_object_mut().unwrap().remove("annotations");
        entry["platform"] = serde_json::json!({"os": "linux", "architecture": arch});
        manifests.push(entry);
    }
    let image_index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    let bytes = serde_json::to_vec(&image_index).unwrap();
    let digest = crowsnest_image::source::document_digest(&bytes);
    std::fs::write(layout.join("blobs/sha256").join(digest.hex()), &bytes).unwrap();
    let top = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest.to_string(),
            "size": bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi"}
        }]
    });
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    format!("oci:{layout_text}:multi")
}

#[test]
fn a_multi_arch_index_resolves_to_the_requested_platform() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    registry.push(&multi_arch_layout(dir.path()), "acme/multi:1", &["--all"]);
    let client = client(&registry);
    let index = client.manifest("acme/multi", "1", 1 << 20).unwrap();
    let RemoteDocument::Index(entries) =
        RemoteDocument::parse(&index.bytes, index.media_type.as_deref(), "i").unwrap()
    else {
        panic!("the registry did not keep the index")
    };
    let platforms: Vec<&str> = entries.iter().map(|e| e.platform.as_str()).collect();
    assert_eq!(platforms, vec!["linux/amd64", "linux/arm64"]);
    let scanner = Scanner::new(Limits::default());
    for (platform, version, entry) in [
        ("linux/amd64", "3.10", &entries[0]),
        ("linux/arm64", "3.11", &entries[1]),
    ] {
        let source = open_image(
            Arc::clone(&client),
            &reference(&registry, "acme/multi:1"),
            &Limits::default(),
            &SourceOptions {
                platform: Platform::parse(platform).unwrap(),
            },
        )
        .unwrap();
        assert_eq!(source.info().manifest_digest.as_ref(), Some(&entry.digest));
        let inventory = scanner.scan_source(source.as_ref(), &mut |_| {}).unwrap();
        let distro = inventory.distro.expect("alpine detected");
        let found = distro.version_id.clone().unwrap_or_default();
        assert!(found.starts_with(version), "{platform}: {distro:?}");
    }
    let err = open_image(
        client,
        &reference(&registry, "acme/multi:1"),
        &Limits::default(),
        &SourceOptions {
            platform: Platform::parse("linux/s390x").unwrap(),
        },
    )
    .err()
    .unwrap();
    assert_eq!(failure_code(&err), "get_detail_info_not_found", "{err}");
}

#[test]
fn a_schema_one_manifest_is_schema_v1_not_support() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let pushed = registry.try_push(&alpine("310"), "old/alpine:v1", &["--format", "v2s1"]);
    if !pushed.status.success() {
        // Recorded in the report: this registry build refuses schema 1 pushes.
        panic!(
            "the registry refused a schema 1 push: {}",
            String::from_utf8_lossy(&pushed.stderr)
        );
    }
    let client = client(&registry);
    let manifest = client.manifest("old/alpine", "v1", 1 << 20).unwrap();
    let err =
        RemoteDocument::parse(&manifest.bytes, manifest.media_type.as_deref(), "m").unwrap_err();
    assert_eq!(err.code().as_str(), "schema_v1_not_support");
    let err = open_image(
        client,
        &reference(&registry, "old/alpine:v1"),
        &Limits::default(),
        &SourceOptions::default(),
    )
    .err()
    .unwrap();
    assert_eq!(failure_code(&err), "schema_v1_not_support", "{err}");
}
