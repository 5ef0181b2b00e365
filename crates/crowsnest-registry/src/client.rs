//! [`RegistryClient`]: the OCI distribution API over blocking HTTP.
//!
//! Blocking, because layer streams are [`std::io::Read`]ers the scan engine pulls from on its own
//! thread (as it does from a file); an async client would need a runtime bridge per read.
//!
//! Every request goes through [`RegistryClient::send`], which adds credentials, answers an auth
//! challenge once (Basic, or Bearer with a token fetched from the challenge's realm for the
//! request's scope, cached per scope), and retries connection failures, 429 and 5xx with
//! exponential backoff. Timeouts bound connecting and every read, so a registry that stops
//! answering ends in `download_failed` instead of a hang.

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use crowsnest_model::Digest;
use reqwest::blocking::{Client, Response};
use reqwest::header::{
    HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LINK, RANGE, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use crate::RegistryError;

/// What the manifest endpoint is asked to return, best first. Schema 1 is accepted so that it
/// can be recognised and reported as `schema_v1_not_support` rather than as a missing manifest.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.v1+prettyjws;q=0.5, \
    application/vnd.docker.distribution.manifest.v1+json;q=0.5";

/// Pages followed at most per listing: a `Link` loop must not run forever.
const MAX_PAGES: usize = 100_000;

/// A user name and password (or token as password).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or access token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password, even in debug logs.
        write!(f, "Credentials({:?}, ***)", self.username)
    }
}

/// How to reach a registry.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Credentials; `None` for anonymous access.
    pub credentials: Option<Credentials>,
    /// Speak plain HTTP (a local registry without TLS).
    pub plain_http: bool,
    /// Accept any TLS certificate (self-signed test registries). Off by default.
    pub insecure_tls: bool,
    /// Extra trusted CA certificate (PEM) for a registry with a private CA.
    pub ca_cert_pem: Option<String>,
    /// Bound on connecting and on each read. Default 30 s.
    pub timeout: Duration,
    /// Retries after a connection failure, 429 or 5xx. Default 3.
    pub retries: u32,
    /// First backoff; doubles each retry. Default 200 ms.
    pub backoff: Duration,
    /// Page size asked of `_catalog` and `tags/list`. Default 100.
    pub page_size: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            credentials: None,
            plain_http: false,
            insecure_tls: false,
            ca_cert_pem: None,
            timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Duration::from_millis(200),
            page_size: 100,
        }
    }
}

/// The auth scheme a registry asked for, learnt from its first challenge.
#[derive(Clone, Debug, Default)]
enum Scheme {
    #[default]
    Unknown,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

#[derive(Default)]
struct AuthState {
    scheme: Scheme,
    /// Bearer tokens by scope.
    tokens: HashMap<String, String>,
}

/// Manifest facts from a HEAD or GET.
#[derive(Clone, Debug)]
pub struct ManifestHead {
    /// `Docker-Content-Digest`, when the registry sent it.
    pub digest: Option<Digest>,
    /// `Content-Type`.
    pub media_type: Option<String>,
    /// `Content-Length`.
    pub size: Option<u64>,
}

/// A manifest as fetched.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The digest of the bytes (checked against `Docker-Content-Digest` when sent).
    pub digest: Digest,
    /// `Content-Type`.
    pub media_type: Option<String>,
}

/// A connection to one registry. Safe to share between threads.
pub struct RegistryClient {
    http: Client,
    base: String,
    options: ClientOptions,
    auth: Mutex<AuthState>,
    requests: AtomicU64,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("base", &self.base)
            .finish()
    }
}

impl RegistryClient {
    /// A client for `registry`: a `host[:port]`, or a URL (`https://…`, `http://…`) whose scheme
    /// then wins over `options.plain_http`. `docker.io` means Docker Hub's API host.
    pub fn new(registry: &str, options: ClientOptions) -> Result<Self, RegistryError> {
        let base = base_url(registry, options.plain_http)?;
        let mut builder = Client::builder()
            .connect_timeout(options.timeout)
            .timeout(options.timeout)
            .user_agent(concat!("crowsnest/", env!("CARGO_PKG_VERSION")))
            .danger_accept_invalid_certs(options.insecure_tls);
        if let Some(pem) = &options.ca_cert_pem {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| RegistryError::InvalidInput(format!("CA certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| RegistryError::InvalidInput(format!("HTTP client: {e}")))?;
        Ok(RegistryClient {
            http,
            base,
            options,
            auth: Mutex::new(AuthState::default()),
            requests: AtomicU64::new(0),
        })
    }

    /// The base URL requests go to (`https://host:port`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// HTTP requests sent so far (retries and token fetches included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// `GET /v2/`: checks the registry speaks the distribution API and the credentials work.
    pub fn ping(&self) -> Result<(), RegistryError> {
        let response = self.send(Method::GET, "/v2/", "", &[])?;
        expect_success(response, "/v2/").map(drop)
    }

    /// Every repository `_catalog` lists, following `Link` pages. `Ok(None)` when the registry
    /// does not offer a catalog (404, or a 401/403 that credentials do not lift, as Docker Hub
    /// and several managed registries answer): then repositories must be configured.
    pub fn catalog(&self) -> Result<Option<Vec<String>>, RegistryError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            repositories: Option<Vec<String>>,
        }
        let first = format!("/v2/_catalog?n={}", self.options.page_size.max(1));
        match self.paged::<Page>(&first, "registry:catalog:*", |p| {
            p.repositories.unwrap_or_default()
        }) {
            Ok(names) => Ok(Some(names)),
            Err(RegistryError::NotFound(_)) | Err(RegistryError::Authentication(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every tag of `repository`, following `Link` pages.
    pub fn tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let first = format!(
            "/v2/{repository}/tags/list?n={}",
            self.options.page_size.max(1)
        );
        self.paged::<Page>(&first, &pull_scope(repository), |p| {
            p.tags.unwrap_or_default()
        })
    }

    /// `HEAD` of a manifest: its digest without its body, for cheap change checks.
    pub fn head_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<ManifestHead, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let response = self.send(
            Method::HEAD,
            &path,
            &pull_scope(repository),
            &[(ACCEPT.as_str(), MANIFEST_ACCEPT)],
        )?;
        let response = expect_success(response, &path)?;
        Ok(ManifestHead {
            digest: header_digest(response.headers()),
            media_type: header_text(response.headers(), CONTENT_TYPE.as_str()),
            size: response.content_length(),
        })
    }

    /// `GET` of a manifest or index, at most `limit` bytes, digest-checked: against `reference`
    /// when it is a digest, and against `Docker-Content-Digest` when the registry sends one.
    pub fn manifest(
        &self,
        repository: &str,
        reference: &str,
        limit: u64,
    ) -> Result<Manifest, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let response = self.send(
            Method::GET,
            &path,
            &pull_scope(repository),
            &[(ACCEPT.as_str(), MANIFEST_ACCEPT)],
        )?;
        let response = expect_success(response, &path)?;
        let claimed = header_digest(response.headers());
        let media_type = header_text(response.headers(), CONTENT_TYPE.as_str());
        let bytes = read_limited(response, limit, &path)?;
        let digest = crowsnest_image::source::document_digest(&bytes);
        if media_type
            .as_deref()
            .is_some_and(|m| m.contains("manifest.v1+"))
        {
            // A signed schema 1 manifest is named by the digest of its payload without the
            // signatures, which only the registry computes; keep its name, the caller refuses
            // schema 1 anyway.
            return Ok(Manifest {
                bytes,
                digest: reference
                    .parse::<Digest>()
                    .ok()
                    .or(claimed)
                    .unwrap_or(digest),
                media_type,
            });
        }
        let expected = reference.parse::<Digest>().ok().or(claimed);
        if let Some(expected) = expected {
            // Only sha256 is computed here; a sha512 name is checked by the image source.
            if expected.algorithm() == digest.algorithm() && expected != digest {
                return Err(RegistryError::Transport(format!(
                    "{path}: manifest bytes hash to {digest}, not {expected}"
                )));
            }
        }
        Ok(Manifest {
            bytes,
            digest,
            media_type,
        })
    }

    /// A blob read whole (configs), at most `limit` bytes. Not digest-checked here.
    pub fn blob_bytes(
        &self,
        repository: &str,
        digest: &Digest,
        limit: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let path = format!("/v2/{repository}/blobs/{digest}");
        let response = self.send(Method::GET, &path, &pull_scope(repository), &[])?;
        let response = expect_success(response, &path)?;
        read_limited(response, limit, &path)
    }

    /// A blob streamed (layers): a reader that resumes with a `Range` request when the
    /// connection breaks, at most `retries` times, and never yields more than `size` bytes.
    pub fn blob_stream<'a>(
        &'a self,
        repository: &str,
        digest: &Digest,
        size: u64,
    ) -> Result<BlobReader<'a>, RegistryError> {
        let path = format!("/v2/{repository}/blobs/{digest}");
        let mut reader = BlobReader {
            client: self,
            scope: pull_scope(repository),
            path,
            size,
            position: 0,
            response: None,
            resumes_left: self.options.retries,
        };
        reader.response = Some(reader.open()?);
        Ok(reader)
    }

    /// Follows `Link: <…>; rel="next"` from `first`, collecting what `items` takes from each page.
    fn paged<P: for<'de> Deserialize<'de>>(
        &self,
        first: &str,
        scope: &str,
        items: impl Fn(P) -> Vec<String>,
    ) -> Result<Vec<String>, RegistryError> {
        let mut out = Vec::new();
        let mut next = Some(first.to_owned());
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(RegistryError::Protocol(format!(
                    "{first}: more than {MAX_PAGES} pages"
                )));
            }
            let response = self.send(Method::GET, &path, scope, &[])?;
            let response = expect_success(response, &path)?;
            next = next_link(response.headers());
            let bytes = read_limited(response, 64 << 20, &path)?;
            let page: P = serde_json::from_slice(&bytes)
                .map_err(|e| RegistryError::Protocol(format!("{path}: {e}")))?;
            out.extend(items(page));
        }
        Ok(out)
    }

    /// Sends one request with auth, answering one challenge and retrying transient failures.
    /// `path` is absolute on the registry (`/v2/…`) or a full URL (a `Link` may give one).
    pub(crate) fn send(
        &self,
        method: Method,
        path: &str,
        scope: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, RegistryError> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        self.prefetch_token(scope);
        let mut attempt = 0u32;
        let mut challenged = false;
        loop {
            let mut request = self.http.request(method.clone(), &url);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if let Some(value) = self.authorization(scope) {
                request = request.header(AUTHORIZATION, value);
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            let failure = match request.send() {
                Ok(response) => {
                    let status = response.status();
                    if status == StatusCode::UNAUTHORIZED && !challenged {
                        challenged = true;
                        self.answer_challenge(response.headers(), scope)?;
                        continue;
                    }
                    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                        return Err(RegistryError::Authentication(format!(
                            "{method} {path}: the registry answered {status}"
                        )));
                    }
                    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                        format!("{method} {path}: {status}")
                    } else {
                        return Ok(response);
                    }
                }
                Err(e) => format!("{method} {path}: {}", error_chain(&e)),
            };
            if attempt >= self.options.retries {
                return Err(RegistryError::Transport(format!(
                    "{failure} (after {} attempts)",
                    attempt + 1
                )));
            }
            let wait = self.options.backoff.saturating_mul(1 << attempt.min(10));
            tracing::debug!(%failure, ?wait, "retrying registry request");
            std::thread::sleep(wait);
            attempt += 1;
        }
    }

    /// Once a registry has shown it wants Bearer tokens, fetches the token for a new scope
    /// before the request, saving the 401 round trip per repository. A failure here is left
    /// to the challenge that follows.
    fn prefetch_token(&self, scope: &str) {
        let wanted = match self.auth.lock() {
            Ok(state) => match &state.scheme {
                Scheme::Bearer { realm, service } if !state.tokens.contains_key(scope) => {
                    Some((realm.clone(), service.clone()))
                }
                _ => None,
            },
            Err(_) => None,
        };
        if let Some((realm, service)) = wanted {
            if let Ok(token) = self.fetch_token(&realm, service.as_deref(), scope) {
                if let Ok(mut state) = self.auth.lock() {
                    state.tokens.insert(scope.to_owned(), token);
                }
            }
        }
    }

    /// The `Authorization` value for a request in `scope`, if any is known.
    fn authorization(&self, scope: &str) -> Option<String> {
        let state = self.auth.lock().ok()?;
        match &state.scheme {
            Scheme::Unknown => None,
            Scheme::Basic => self.options.credentials.as_ref().map(basic),
            Scheme::Bearer { .. } => state.tokens.get(scope).map(|t| format!("Bearer {t}")),
        }
    }

    /// Learns the scheme from a 401's `WWW-Authenticate`, fetching a Bearer token for `scope`.
    fn answer_challenge(&self, headers: &HeaderMap, scope: &str) -> Result<(), RegistryError> {
        let challenge = header_text(headers, WWW_AUTHENTICATE.as_str()).ok_or_else(|| {
            RegistryError::Authentication("401 without a WWW-Authenticate challenge".into())
        })?;
        let (scheme, params) = parse_challenge(&challenge);
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => {
                if self.options.credentials.is_none() {
                    return Err(RegistryError::Authentication(
                        "the registry requires credentials and none were given".into(),
                    ));
                }
                if let Ok(mut state) = self.auth.lock() {
                    state.scheme = Scheme::Basic;
                }
                Ok(())
            }
            "bearer" => {
                let realm = params.get("realm").cloned().ok_or_else(|| {
                    RegistryError::Authentication("Bearer challenge without realm".into())
                })?;
                let service = params.get("service").cloned();
                // The challenge's scope is what this request needs; ours is the fallback.
                let wanted = params
                    .get("scope")
                    .cloned()
                    .unwrap_or_else(|| scope.to_owned());
                let token = self.fetch_token(&realm, service.as_deref(), &wanted)?;
                if let Ok(mut state) = self.auth.lock() {
                    state.scheme = Scheme::Bearer { realm, service };
                    state.tokens.insert(scope.to_owned(), token);
                }
                Ok(())
            }
            other => Err(RegistryError::Authentication(format!(
                "unsupported auth scheme {other:?}"
            ))),
        }
    }

    /// Asks the token service at `realm` for a token covering `scope`.
    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<String, RegistryError> {
        #[derive(Deserialize)]
        struct TokenReply {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
        }
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(s) = service {
            query.push(("service", s));
        }
        if !scope.is_empty() {
            query.push(("scope", scope));
        }
        let mut request = self.http.get(realm).query(&query);
        if let Some(c) = &self.options.credentials {
            request = request.header(AUTHORIZATION, basic(c));
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = request.send().map_err(|e| {
            RegistryError::Transport(format!("token service {realm}: {}", error_chain(&e)))
        })?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(RegistryError::Authentication(format!(
                "token service {realm} answered {status}"
            )));
        }
        if !status.is_success() {
            return Err(RegistryError::Transport(format!(
                "token service {realm} answered {status}"
            )));
        }
        let bytes = read_limited(response, 1 << 20, realm)?;
        let reply: TokenReply = serde_json::from_slice(&bytes)
            .map_err(|e| RegistryError::Protocol(format!("token service {realm}: {e}")))?;
        reply
            .token
            .or(reply.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::Protocol(format!("token service {realm} sent no token")))
    }
}

/// A blob body that resumes after a broken connection. See [`RegistryClient::blob_stream`].
pub struct BlobReader<'a> {
    client: &'a RegistryClient,
    scope: String,
    path: String,
    size: u64,
    position: u64,
    response: Option<Response>,
    resumes_left: u32,
}

impl BlobReader<'_> {
    /// Requests the blob from `position` on (a `Range` request after the first byte).
    fn open(&self) -> Result<Response, RegistryError> {
        let range = format!("bytes={}-", self.position);
        let headers: Vec<(&str, &str)> = if self.position > 0 {
            vec![(RANGE.as_str(), range.as_str())]
        } else {
            Vec::new()
        };
        let response = self
            .client
            .send(Method::GET, &self.path, &self.scope, &headers)?;
        let partial = response.status() == StatusCode::PARTIAL_CONTENT;
        let mut response = expect_success(response, &self.path)?;
        if self.position > 0 && !partial {
            // The registry ignored the range: skip what was already read.
            let skipped = io::copy(&mut (&mut response).take(self.position), &mut io::sink())
                .map_err(|e| RegistryError::Transport(format!("{}: {e}", self.path)))?;
            if skipped != self.position {
                return Err(RegistryError::Transport(format!(
                    "{}: blob shrank on resume",
                    self.path
                )));
            }
        }
        Ok(response)
    }

    fn resume(&mut self, why: &str) -> io::Result<()> {
        if self.resumes_left == 0 {
            return Err(io::Error::other(RegistryError::Transport(format!(
                "{}: {why} at byte {} of {}",
                self.path, self.position, self.size
            ))));
        }
        self.resumes_left -= 1;
        tracing::debug!(path = %self.path, position = self.position, why, "resuming blob");
        self.response = None;
        let response = self.open().map_err(io::Error::other)?;
        self.response = Some(response);
        Ok(())
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let remaining = self.size.saturating_sub(self.position);
            if remaining == 0 || buf.is_empty() {
                // Bytes past the manifest's size are never handed on; the digest decides.
                return Ok(0);
            }
            let want = usize::try_from(remaining).map_or(buf.len(), |r| r.min(buf.len()));
            let window = buf.get_mut(..want).unwrap_or_default();
            let Some(response) = self.response.as_mut() else {
                self.resume("no open response")?;
                continue;
            };
            match response.read(window) {
                Ok(0) => self.resume("the connection ended early")?,
                Ok(n) => {
                    self.position += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.resume(&e.to_string())?,
            }
        }
    }
}

fn basic(c: &Credentials) -> String {
    let raw = format!("{}:{}", c.username, c.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

fn base_url(registry: &str, plain_http: bool) -> Result<String, RegistryError> {
    let trimmed = registry.trim_end_matches('/');
    if trimmed.starts_with("https://") || trimmed.starts_with("http://") {
        return Ok(trimmed.to_owned());
    }
    if !crate::reference::looks_like_host(trimmed) {
        return Err(RegistryError::InvalidInput(format!(
            "{registry:?} is not a registry host or URL"
        )));
    }
    let host = match trimmed {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        other => other,
    };
    let scheme = if plain_http { "http" } else { "https" };
    Ok(format!("{scheme}://{host}"))
}

/// Maps a non-success answer to an error; 404 is [`RegistryError::NotFound`].
fn expect_success(response: Response, what: &str) -> Result<Response, RegistryError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = read_limited(response, 4096, what).unwrap_or_default();
    let detail = String::from_utf8_lossy(&body);
    let detail = detail.trim();
    if status == StatusCode::NOT_FOUND {
        return Err(RegistryError::NotFound(format!("{what}: {detail}")));
    }
    Err(RegistryError::Protocol(format!(
        "{what}: {status}: {detail}"
    )))
}

fn read_limited(response: Response, limit: u64, what: &str) -> Result<Vec<u8>, RegistryError> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(RegistryError::Oversized(format!(
            "{what} is larger than {limit} bytes"
        )));
    }
    let mut bytes = Vec::new();
    response
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| RegistryError::Transport(format!("{what}: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(RegistryError::Oversized(format!(
            "{what} is larger than {limit} bytes"
        )));
    }
    Ok(bytes)
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_owned)
}

fn header_digest(headers: &HeaderMap) -> Option<Digest> {
    header_text(headers, "docker-content-digest")?
        .trim()
        .parse()
        .ok()
}

/// The target of `Link: <…>; rel="next"`.
fn next_link(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(LINK) {
        let text = value.to_str().ok()?;
        for link in text.split(',') {
            let (target, params) = link.split_once(';').unwrap_or((link, ""));
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            if params
                .split(';')
                .any(|p| p.trim().replace(' ', "") == "rel=\"next\"" || p.trim() == "rel=next")
            {
                return Some(target.to_owned());
            }
        }
    }
    None
}

/// Splits `Bearer realm="…",service="…",scope="…"` into the scheme and its parameters. Quoted
/// values may hold commas (scopes list actions as `pull,push`).
fn parse_challenge(text: &str) -> (String, HashMap<String, String>) {
    let text = text.trim();
    let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => break,
                    other => value.push(other),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                value.push(*c);
                chars.next();
            }
        }
        params.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    (scheme.to_owned(), params)
}

/// The error and its causes in one line (reqwest hides "connection refused" in its sources).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    let mut depth = 0;
    while let Some(cause) = source {
        depth += 1;
        if depth > 8 {
            break;
        }
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_with_commas_in_quotes() {
        let (scheme, p) = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(scheme, "Bearer");
        assert_eq!(p["realm"], "https://auth.example/token");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
        let (scheme, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(scheme, "Basic");
        assert_eq!(p["realm"], "Registry Realm");
    }

    #[test]
    fn next_links_are_found() {
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            r#"</v2/_catalog?last=b&n=2>; rel="next""#.parse().unwrap(),
        );
        assert_eq!(next_link(&h).as_deref(), Some("/v2/_catalog?last=b&n=2"));
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn base_urls() {
        assert_eq!(
            base_url("127.0.0.1:5000", true).unwrap(),
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            base_url("docker.io", false).unwrap(),
            "https://registry-1.docker.io"
        );
        assert_eq!(
            base_url("https://r.example/", true).unwrap(),
            "https://r.example"
        );
        assert!(base_url("not a host", false).is_err());
    }
}
