//! Synchronising a connected registry into the store, and scanning what it found.
//!
//! A sync lists repositories (`_catalog`, or the configured list when the registry has none),
//! keeps those the namespace filters allow, lists each repository's tags, and asks for each
//! tag's digest with a `HEAD`. Only a tag whose digest differs from the stored one costs a
//! manifest `GET` (and a config `GET` per image, for its creation time); an unchanged
//! registry costs one tag list per repository and one `HEAD` per tag. Tags and repositories
//! that disappeared are removed; each repository's newest image (by config creation time,
//! then the tag `latest`, then the greatest tag) is marked `latest_version`. Repositories are
//! walked by a bounded pool of threads.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crowsnest_image::source::{Platform, RemoteDocument, SourceOptions};
use crowsnest_image::{ImageError, Limits};
use crowsnest_model::Digest;
use crowsnest_scan::ScanOutput;
use crowsnest_store::{
    NewImage, NewRepository, NewTag, RegistryConnection, ScanRecord, Store, SyncEnd, SyncedTag,
    TenantId,
};
use serde::Deserialize;

use crate::client::{ClientOptions, Credentials, RegistryClient};
use crate::{ImageReference, RegistryError, ServerKey};

/// The registry types a record may have.
pub const REGISTRY_TYPES: &[&str] = &[
    "harbor",
    "quay",
    "jfrog",
    "acr",
    "swr",
    "docker-hub",
    "generic",
];

/// Index entries with this platform are attestations (buildx), not images.
const ATTESTATION_PLATFORM: &str = "unknown/unknown";

/// Config creation times already read in this sync, by config digest.
type ConfigTimes = Mutex<HashMap<Digest, i64>>;

/// Largest manifest or config read during a sync.
const MAX_DOCUMENT: u64 = 8 << 20;

/// How a sync runs.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// Repositories walked at once. Default 4.
    pub concurrency: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions { concurrency: 4 }
    }
}

/// What a sync did.
#[derive(Clone, Debug, Default)]
pub struct SyncReport {
    /// Repositories walked.
    pub repositories: usize,
    /// Tags seen.
    pub tags: usize,
    /// Tags that were new or pointed at a new digest.
    pub changed_tags: usize,
    /// Manifests fetched with GET (indexes, their children, images).
    pub manifests_fetched: usize,
    /// Tags removed because they disappeared.
    pub removed_tags: usize,
    /// Repositories removed because they disappeared.
    pub removed_repositories: usize,
    /// HTTP requests made.
    pub requests: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Per-repository or per-tag problems that did not stop the sync (`code: message`).
    pub problems: Vec<String>,
}

/// Builds a client for a stored connection, opening its sealed secret with `key`.
pub fn connect(
    connection: &RegistryConnection,
    key: &ServerKey,
    timeout: Duration,
) -> Result<RegistryClient, RegistryError> {
    let credentials = if connection.username.is_empty() && connection.secret_sealed.is_empty() {
        None
    } else {
        let password = if connection.secret_sealed.is_empty() {
            String::new()
        } else {
            key.open(&connection.uid, &connection.secret_sealed)?
        };
        Some(Credentials {
            username: connection.username.clone(),
            password,
        })
    };
    RegistryClient::new(
        &connection.url,
        ClientOptions {
            credentials,
            insecure_tls: connection.insecure_tls,
            ca_cert_pem: Some(connection.ca_cert_pem.clone()).filter(|p| !p.is_empty()),
            timeout,
            ..ClientOptions::default()
        },
    )
}

/// Splits a repository path into (namespace, name) as the store keeps them: the first
/// component is the namespace (`acme/shop` -> `acme`, `shop`); a one-component path has none.
pub fn split_repository(path: &str) -> (String, String) {
    match path.split_once('/') {
        Some((ns, name)) => (ns.to_owned(), name.to_owned()),
        None => (String::new(), path.to_owned()),
    }
}

fn join_repository(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}/{name}")
    }
}

fn namespace_allowed(filters: &[String], path: &str) -> bool {
    filters.is_empty()
        || filters
            .iter()
            .any(|f| path == f || path.starts_with(&format!("{}/", f.trim_end_matches('/'))))
}

/// One tag's outcome, for the latest-version choice.
struct SeenTag {
    repository_id: i64,
    tag: String,
    created_ms: i64,
}

/// Synchronises `connection` (owned by `tenant`) through `client`.
pub fn sync_registry(
    store: &Store,
    tenant: TenantId,
    connection: &RegistryConnection,
    client: &RegistryClient,
    options: &SyncOptions,
) -> Result<SyncReport, RegistryError> {
    let started = Instant::now();
    let requests_before = client.requests();
    let span = tracing::info_span!("sync", registry = %connection.uid);
    let _entered = span.enter();
    let listed = client.ping().and_then(|()| client.catalog());
    let catalog = match listed {
        Ok(c) => c,
        Err(e) => {
            let now = crowsnest_store::now_ms();
            let end = SyncEnd {
                synced_ms: now,
                error: e.to_string(),
                ..SyncEnd::default()
            };
            store.finish_registry_sync(tenant, connection.id, &end)?;
            return Err(e);
        }
    };
    let mut paths: Vec<String> = match catalog {
        Some(names) => names,
        None => connection.repositories.clone(),
    };
    // Configured repositories are walked even when the catalog omits them (a registry may
    // list only what the account owns).
    for extra in &connection.repositories {
        if !paths.contains(extra) {
            paths.push(extra.clone());
        }
    }
    paths.retain(|p| namespace_allowed(&connection.namespace_filters, p));
    paths.sort();
    paths.dedup();

    let previous = store.synced_tags(tenant, connection.id)?;
    let mut before: HashMap<String, HashMap<String, SyncedTag>> = HashMap::new();
    for t in previous {
        before
            .entry(join_repository(&t.namespace, &t.repository))
            .or_default()
            .insert(t.tag.clone(), t);
    }
    let before = Arc::new(before);

    // Config creation times by config digest: tags of one image across repositories share it.
    let configs = ConfigTimes::default();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<RepoOutcome>> = Mutex::new(Vec::new());
    let workers = options.concurrency.clamp(1, 64).min(paths.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = paths.get(i) else { break };
                let outcome =
                    sync_repository(store, connection, client, path, before.get(path), &configs);
                if let Ok(mut all) = results.lock() {
                    all.push(outcome);
                }
            });
        }
    });
    let outcomes = results.into_inner().unwrap_or_default();

    let mut report = SyncReport {
        repositories: paths.len(),
        ..SyncReport::default()
    };
    let mut gone_tags = Vec::new();
    let mut latest = Vec::new();
    for outcome in outcomes {
        report.tags += outcome.seen.len();
        report.changed_tags += outcome.changed;
        report.manifests_fetched += outcome.manifests;
        report.problems.extend(outcome.problems);
        if !outcome.listed {
            continue;
        }
        gone_tags.extend(outcome.gone.iter().cloned());
        if let Some(best) = pick_latest(&outcome.seen) {
            latest.push((best.repository_id, best.tag.clone()));
        }
    }
    report.removed_tags = gone_tags.len();
    let current: HashSet<&String> = paths.iter().collect();
    let repositories = store.registry_repositories(tenant, connection.id)?;
    let gone_repositories: Vec<i64> = repositories
        .iter()
        .filter(|(_, ns, name)| !current.contains(&join_repository(ns, name)))
        .map(|(id, _, _)| *id)
        .collect();
    report.removed_repositories = gone_repositories.len();
    let error = report
        .problems
        .first()
        .map(|p| format!("{} problem(s); first: {p}", report.problems.len()))
        .unwrap_or_default();
    let end = SyncEnd {
        gone_tags,
        gone_repositories,
        latest,
        synced_ms: crowsnest_store::now_ms(),
        error,
    };
    store.finish_registry_sync(tenant, connection.id, &end)?;
    report.requests = client.requests() - requests_before;
    report.elapsed = started.elapsed();
    tracing::info!(?report, "sync finished");
    Ok(report)
}

fn pick_latest(seen: &[SeenTag]) -> Option<&SeenTag> {
    seen.iter().max_by(|a, b| {
        a.created_ms
            .cmp(&b.created_ms)
            .then_with(|| (a.tag == "latest").cmp(&(b.tag == "latest")))
            .then_with(|| a.tag.cmp(&b.tag))
    })
}

#[derive(Default)]
struct RepoOutcome {
    /// The tag list was read (so absent tags are really gone).
    listed: bool,
    seen: Vec<SeenTag>,
    gone: Vec<(i64, String)>,
    changed: usize,
    manifests: usize,
    problems: Vec<String>,
}

fn sync_repository(
    store: &Store,
    connection: &RegistryConnection,
    client: &RegistryClient,
    path: &str,
    before: Option<&HashMap<String, SyncedTag>>,
    configs: &ConfigTimes,
) -> RepoOutcome {
    let mut out = RepoOutcome::default();
    let tags = match client.tags(path) {
        Ok(t) => t,
        // A repository in the catalog with no tags left answers 404 on some registries.
        Err(RegistryError::NotFound(_)) => Vec::new(),
        Err(e) => {
            out.problems.push(format!("{path}: {e}"));
            return out;
        }
    };
    out.listed = true;
    let (namespace, name) = split_repository(path);
    let repository_id = match store.upsert_repository(
        connection.id,
        &NewRepository {
            uid: format!("{}/{path}", connection.uid),
            namespace,
            name,
            repo_type: "private".into(),
            image_type: "private_image".into(),
        },
    ) {
        Ok(id) => id,
        Err(e) => {
            out.problems.push(format!("{path}: store: {e}"));
            return out;
        }
    };
    let current: HashSet<&String> = tags.iter().collect();
    if let Some(before) = before {
        for (tag, old) in before {
            if !current.contains(tag) {
                out.gone.push((old.repository_id, tag.clone()));
            }
        }
    }
    for tag in &tags {
        let old = before.and_then(|b| b.get(tag));
        match sync_tag(store, client, repository_id, path, tag, old, configs) {
            Ok(TagOutcome {
                created_ms,
                changed,
                manifests,
            }) => {
                out.changed += usize::from(changed);
                out.manifests += manifests;
                out.seen.push(SeenTag {
                    repository_id,
                    tag: tag.clone(),
                    created_ms,
                });
            }
            Err(e) => {
                // The tag stays as it was; it is not "gone", so it is not removed either.
                if let Some(old) = old {
                    out.seen.push(SeenTag {
                        repository_id,
                        tag: tag.clone(),
                        created_ms: old.created_ms,
                    });
                }
                out.problems.push(format!("{path}:{tag}: {e}"));
            }
        }
    }
    out
}

struct TagOutcome {
    created_ms: i64,
    changed: bool,
    manifests: usize,
}

fn sync_tag(
    store: &Store,
    client: &RegistryClient,
    repository_id: i64,
    path: &str,
    tag: &str,
    old: Option<&SyncedTag>,
    configs: &ConfigTimes,
) -> Result<TagOutcome, RegistryError> {
    let head = client.head_manifest(path, tag)?;
    if let (Some(digest), Some(old)) = (&head.digest, old) {
        if digest.to_string() == old.digest {
            return Ok(TagOutcome {
                created_ms: old.created_ms,
                changed: false,
                manifests: 0,
            });
        }
    }
    let mut manifests = 0;
    let (image_row, created_ms) =
        record_manifest(store, client, path, tag, &mut manifests, configs)?;
    let now = crowsnest_store::now_ms();
    store.put_tag(
        repository_id,
        image_row,
        &NewTag {
            tag: tag.to_owned(),
            updated_ms: now,
            synced_ms: now,
            scannable: true,
            ..NewTag::default()
        },
    )?;
    Ok(TagOutcome {
        created_ms,
        changed: true,
        manifests,
    })
}

/// Fetches the manifest `reference` names and records it (and, for an index, its children).
/// Returns the image row and its creation time.
fn record_manifest(
    store: &Store,
    client: &RegistryClient,
    path: &str,
    reference: &str,
    manifests: &mut usize,
    configs: &ConfigTimes,
) -> Result<(i64, i64), RegistryError> {
    let manifest = client.manifest(path, reference, MAX_DOCUMENT)?;
    *manifests += 1;
    let what = format!("{path}@{}", manifest.digest);
    match RemoteDocument::parse(&manifest.bytes, manifest.media_type.as_deref(), &what) {
        Ok(RemoteDocument::Manifest {
            config,
            config_size,
            layers,
        }) => {
            let created_ms = config_created_ms(client, path, &config, configs)?;
            let size = layers
                .iter()
                .fold(config_size, |s, (_, n)| s.saturating_add(*n));
            let row = store.upsert_image(&NewImage {
                digest: manifest.digest.clone(),
                config_digest: Some(config),
                size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
                created_ms,
                is_multiarch: false,
            })?;
            Ok((row, created_ms))
        }
        Ok(RemoteDocument::Index(entries)) => {
            let mut children = Vec::new();
            let mut created_ms = 0i64;
            let mut size = 0u64;
            for entry in entries
                .iter()
                .filter(|e| e.platform != ATTESTATION_PLATFORM)
            {
                let (child, child_created) = record_manifest(
                    store,
                    client,
                    path,
                    &entry.digest.to_string(),
                    manifests,
                    configs,
                )?;
                created_ms = created_ms.max(child_created);
                size = size.saturating_add(entry.size);
                children.push((child, entry.platform.clone()));
            }
            let row = store.upsert_image(&NewImage {
                digest: manifest.digest.clone(),
                config_digest: None,
                size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
                created_ms,
                is_multiarch: true,
            })?;
            for (child, platform) in children {
                store.add_image_child(row, child, &platform)?;
            }
            Ok((row, created_ms))
        }
        Err(ImageError::SchemaV1NotSupport(message)) => {
            // Listed like any image, with the failure the seed names, so users see why it
            // is never scanned.
            let row = store.upsert_image(&NewImage {
                digest: manifest.digest.clone(),
                config_digest: None,
                size_bytes: i64::try_from(manifest.bytes.len()).unwrap_or(i64::MAX),
                created_ms: 0,
                is_multiarch: false,
            })?;
            let now = crowsnest_store::now_ms();
            store.record_scan(row, &failed_scan("schema_v1_not_support", now))?;
            tracing::info!(%message, "schema 1 manifest recorded as not scannable");
            Ok((row, 0))
        }
        Err(e) => Err(RegistryError::Protocol(e.to_string())),
    }
}

/// The config's `created` as ms since the epoch (0 when absent or unreadable).
fn config_created_ms(
    client: &RegistryClient,
    path: &str,
    config: &Digest,
    configs: &ConfigTimes,
) -> Result<i64, RegistryError> {
    #[derive(Deserialize)]
    struct Created {
        #[serde(default)]
        created: Option<String>,
    }
    if let Some(known) = configs.lock().ok().and_then(|c| c.get(config).copied()) {
        return Ok(known);
    }
    let bytes = client.blob_bytes(path, config, MAX_DOCUMENT)?;
    let actual = crowsnest_image::source::document_digest(&bytes);
    if actual.algorithm() == config.algorithm() && &actual != config {
        return Err(RegistryError::Transport(format!(
            "{path}: config {config} hashes to {actual}"
        )));
    }
    let created = serde_json::from_slice::<Created>(&bytes)
        .ok()
        .and_then(|c| c.created);
    let created_ms = created.as_deref().and_then(parse_rfc3339_ms).unwrap_or(0);
    if let Ok(mut known) = configs.lock() {
        known.insert(config.clone(), created_ms);
    }
    Ok(created_ms)
}

/// Milliseconds of an RFC 3339 time (`2024-01-02T03:04:05.123Z`, offsets allowed).
fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

fn failed_scan(code: &str, now: i64) -> ScanRecord {
    ScanRecord::failed(code, now)
}

/// What the caller found in one scanned image: its matcher's vulnerabilities and the risk
/// analyzers' counts (`crowsnest_model::RiskSummary`).
#[derive(Clone, Debug, Default)]
pub struct ScanCounts {
    /// Vulnerabilities.
    pub vul_count: i64,
    /// Failed baseline checks (unsafe settings).
    pub baseline_count: i64,
    /// Files with a malware finding.
    pub malicious_count: i64,
    /// Malicious files plus secrets.
    pub alarm_count: i64,
    /// Security, Low, Medium, High.
    pub severity: String,
}

/// Limits of a registry scan beyond [`Limits`].
#[derive(Clone, Debug)]
pub struct ScanPolicy {
    /// The engine's limits.
    pub limits: Limits,
    /// More layers than this fails with `image_layer_over_sized`. Default 127 (Docker's own cap).
    pub max_layers: usize,
    /// More compressed bytes than this fails with `image_over_sized`. Default 8 GiB.
    pub max_image_bytes: u64,
}

impl Default for ScanPolicy {
    fn default() -> Self {
        ScanPolicy {
            limits: Limits::default(),
            max_layers: 127,
            max_image_bytes: 8 << 30,
        }
    }
}

/// One scanned (or failed) image of [`scan_unscanned`].
#[derive(Clone, Debug)]
pub struct ScanOutcome {
    /// `repository@digest`.
    pub image: String,
    /// The failure code, or `None` when the scan succeeded.
    pub failure_code: Option<String>,
    /// Packages found (0 when failed).
    pub packages: usize,
    /// Compressed bytes pulled.
    pub bytes: u64,
}

/// Scans every image of `connection` without a scan yet, streaming layers from the registry,
/// and records success (with what `assess` counts, given the digest scanned and the scan's
/// output, which it may store) or the seed's failure code. Multi-arch images scan each child;
/// the index records the children's sum, or the first failure.
pub fn scan_unscanned(
    store: &Store,
    tenant: TenantId,
    connection: &RegistryConnection,
    client: Arc<RegistryClient>,
    scanner: &crowsnest_scan::Scanner,
    policy: &ScanPolicy,
    assess: &mut dyn FnMut(&str, &ScanOutput) -> ScanCounts,
) -> Result<Vec<ScanOutcome>, RegistryError> {
    let host = connection
        .url
        .split_once("://")
        .map_or(connection.url.as_str(), |(_, h)| h)
        .to_owned();
    let mut outcomes = Vec::new();
    for image in store.registry_images_unscanned(tenant, connection.id)? {
        let (row, digest, multiarch) = (image.image_row, image.digest, image.is_multiarch);
        let (namespace, name) = (image.namespace, image.repository);
        let path = join_repository(&namespace, &name);
        let targets: Vec<(i64, String, String)> = if multiarch {
            store
                .image_children(&[row])?
                .iter()
                .map(|c| (c.image_row, c.digest.clone(), c.platform.clone()))
                .collect()
        } else {
            vec![(row, digest.clone(), String::new())]
        };
        let mut total = ScanCounts::default();
        let mut first_failure: Option<String> = None;
        let started = crowsnest_store::now_ms();
        for (target_row, target_digest, platform) in targets {
            let reference = ImageReference::parse(&format!("{host}/{path}@{target_digest}"))?;
            let options = SourceOptions {
                platform: Platform::parse(&platform).unwrap_or_default(),
            };
            let result = scan_one(Arc::clone(&client), &reference, scanner, policy, &options);
            let now = crowsnest_store::now_ms();
            match result {
                Ok((output, bytes)) => {
                    let counts = assess(&target_digest, &output);
                    store.record_scan(target_row, &succeeded_scan(&counts, started, now))?;
                    total.vul_count += counts.vul_count;
                    total.baseline_count += counts.baseline_count;
                    total.malicious_count += counts.malicious_count;
                    total.alarm_count += counts.alarm_count;
                    total.severity = worse(&total.severity, &counts.severity).to_owned();
                    outcomes.push(ScanOutcome {
                        image: format!("{path}@{target_digest}"),
                        failure_code: None,
                        packages: output.inventory.packages.len(),
                        bytes,
                    });
                }
                Err(code) => {
                    store.record_scan(target_row, &failed_scan(code, now))?;
                    first_failure.get_or_insert_with(|| code.to_owned());
                    outcomes.push(ScanOutcome {
                        image: format!("{path}@{target_digest}"),
                        failure_code: Some(code.to_owned()),
                        packages: 0,
                        bytes: 0,
                    });
                }
            }
        }
        if multiarch {
            let now = crowsnest_store::now_ms();
            let record = match &first_failure {
                Some(code) => failed_scan(code, now),
                None => succeeded_scan(&total, started, now),
            };
            store.record_scan(row, &record)?;
        }
    }
    Ok(outcomes)
}

fn succeeded_scan(counts: &ScanCounts, started: i64, now: i64) -> ScanRecord {
    ScanRecord {
        vul_count: counts.vul_count,
        baseline_count: counts.baseline_count,
        malicious_count: counts.malicious_count,
        alarm_count: counts.alarm_count,
        severity: if counts.severity.is_empty() {
            "Security".into()
        } else {
            counts.severity.clone()
        },
        ..ScanRecord::succeeded(started, now)
    }
}

fn worse<'a>(a: &'a str, b: &'a str) -> &'a str {
    let rank = |s: &str| match s {
        "High" => 3,
        "Medium" => 2,
        "Low" => 1,
        _ => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// Opens and scans one image (with the scanner's risk analyzers) and returns what it found and
/// the compressed bytes pulled; the error is the seed's failure code.
pub fn scan_one(
    client: Arc<RegistryClient>,
    reference: &ImageReference,
    scanner: &crowsnest_scan::Scanner,
    policy: &ScanPolicy,
    options: &SourceOptions,
) -> Result<(ScanOutput, u64), &'static str> {
    let source = crate::open_image(client, reference, &policy.limits, options)
        .map_err(|e| log_failure(reference, &e))?;
    if source.layers().len() > policy.max_layers {
        return Err("image_layer_over_sized");
    }
    let bytes: u64 = source.layers().iter().map(|l| l.size).sum();
    if bytes > policy.max_image_bytes {
        return Err("image_over_sized");
    }
    let output = scanner
        .scan_source_full(source.as_ref(), &mut |_| {})
        .map_err(|e| match e {
            crowsnest_scan::ScanError::Image(image) => log_failure(reference, &image),
        })?;
    Ok((output, bytes))
}

fn log_failure(reference: &ImageReference, error: &ImageError) -> &'static str {
    let code = crate::failure_code(error);
    tracing::warn!(image = %reference, %error, code, "registry image scan failed");
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_filters_match_whole_components() {
        let f = vec!["acme".to_owned()];
        assert!(namespace_allowed(&f, "acme/shop"));
        assert!(namespace_allowed(&f, "acme/team/app"));
        assert!(!namespace_allowed(&f, "acmex/shop"));
        assert!(namespace_allowed(&[], "anything"));
    }

    #[test]
    fn latest_prefers_newest_then_latest_tag() {
        let t = |tag: &str, created_ms| SeenTag {
            repository_id: 1,
            tag: tag.into(),
            created_ms,
        };
        let seen = vec![t("1.0", 5), t("latest", 9), t("2.0", 9)];
        assert_eq!(pick_latest(&seen).unwrap().tag, "latest");
        let seen = vec![t("1.0", 5), t("2.0", 3)];
        assert_eq!(pick_latest(&seen).unwrap().tag, "1.0");
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.5Z"), Some(1500));
    }
}
