//! Docker Engine, through its API on the unix socket (`/var/run/docker.sock`): `GET
//! /images/json`, `GET /containers/json?all=1`, and `GET /images/{id}/get` (the `docker
//! save` stream) for scanning.
//!
//! Docker keeps layers in its own graph driver directories, whose layout is private to the
//! engine; the API is the stable way in. The saved stream goes to a temporary file (the
//! docker-archive reader needs to seek) that is removed after the scan.
//!
//! The HTTP client is a small HTTP/1.1 one over `std::os::unix::net::UnixStream` (one request
//! per connection, `Connection: close`, chunked or length-delimited bodies): reqwest does not
//! speak unix sockets, and three GETs do not warrant another HTTP stack.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crowsnest_model::Inventory;
use crowsnest_scan::Scanner;
use serde::Deserialize;

use super::{image_type, pod_from_labels, split_reference, Container, Discovery, LocalImage};
use crate::AgentError;

/// The API version asked for: Docker 20.10 and later answer it.
const API: &str = "/v1.41";
/// JSON answers larger than this are refused.
const MAX_JSON_BYTES: u64 = 64 << 20;
/// How long one API call may stall.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A Docker Engine reached through a unix socket.
pub struct DockerEngine {
    socket: PathBuf,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApiImage {
    id: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    repo_digests: Option<Vec<String>>,
    #[serde(default)]
    size: i64,
    #[serde(default)]
    created: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApiContainer {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    image: String,
    #[serde(default, rename = "ImageID")]
    image_id: String,
    #[serde(default)]
    created: i64,
    #[serde(default)]
    state: String,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

fn protocol(what: impl Into<String>) -> AgentError {
    AgentError::Runtime(format!("docker API: {}", what.into()))
}

impl DockerEngine {
    /// The engine behind `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> DockerEngine {
        DockerEngine {
            socket: socket.into(),
        }
    }

    /// Sends `GET path` and copies the body (status 200 only) into `sink`.
    fn get(&self, path: &str, sink: &mut dyn Write, limit: u64) -> Result<(), AgentError> {
        let mut stream =
            UnixStream::connect(&self.socket).map_err(|e| AgentError::io(&self.socket, e))?;
        stream
            .set_read_timeout(Some(TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
            .map_err(|e| AgentError::io(&self.socket, e))?;
        write!(
            stream,
            "GET {API}{path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: crowsnest-agent\r\n\
             Accept: application/json\r\nConnection: close\r\n\r\n"
        )
        .map_err(|e| AgentError::io(&self.socket, e))?;
        let mut reader = BufReader::new(stream);
        let io = |e| AgentError::io(Path::new("docker.sock"), e);
        let mut line = String::new();
        reader.read_line(&mut line).map_err(io)?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| protocol(format!("bad status line {line:?}")))?;
        let mut chunked = false;
        let mut length: Option<u64> = None;
        loop {
            line.clear();
            if reader.read_line(&mut line).map_err(io)? == 0 {
                return Err(protocol("connection closed inside the headers"));
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.eq_ignore_ascii_case("chunked");
                } else if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().ok();
                }
            }
        }
        let body: Box<dyn Read + '_> = if chunked {
            Box::new(Chunked {
                inner: &mut reader,
                left: 0,
                done: false,
            })
        } else if let Some(n) = length {
            Box::new((&mut reader).take(n))
        } else {
            Box::new(&mut reader)
        };
        if status != 200 {
            let mut text = String::new();
            let _ = body.take(4096).read_to_string(&mut text);
            return Err(protocol(format!(
                "GET {path}: HTTP {status}: {}",
                text.trim()
            )));
        }
        let copied = std::io::copy(&mut body.take(limit + 1), sink).map_err(io)?;
        if copied > limit {
            return Err(protocol(format!(
                "GET {path}: answer larger than {limit} bytes"
            )));
        }
        Ok(())
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, AgentError> {
        let mut body = Vec::new();
        self.get(path, &mut body, MAX_JSON_BYTES)?;
        serde_json::from_slice(&body).map_err(|e| protocol(format!("GET {path}: {e}")))
    }
}

/// A chunked transfer-encoded body.
struct Chunked<'a, R: BufRead> {
    inner: &'a mut R,
    left: u64,
    done: bool,
}

impl<R: BufRead> Read for Chunked<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut line = String::new();
            self.inner.read_line(&mut line)?;
            if line.trim().is_empty() {
                // The CRLF that ends the previous chunk.
                line.clear();
                self.inner.read_line(&mut line)?;
            }
            let size = line.trim().split(';').next().unwrap_or("");
            self.left = u64::from_str_radix(size, 16).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk size")
            })?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n as u64;
        Ok(n)
    }
}

impl super::Runtime for DockerEngine {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn discover(&self) -> Result<Discovery, AgentError> {
        let images: Vec<ApiImage> = self.get_json("/images/json")?;
        let containers: Vec<ApiContainer> = self.get_json("/containers/json?all=1")?;
        let mut found = Discovery::default();
        let mut digest_of = BTreeMap::new();
        for image in images {
            // The manifest digest exists only for pulled images; a built or loaded one is
            // known by its config digest (the image id).
            let digest = image
                .repo_digests
                .as_ref()
                .and_then(|d| d.first())
                .and_then(|d| d.split_once('@'))
                .map(|(_, d)| d.to_owned())
                .unwrap_or_else(|| image.id.clone());
            digest_of.insert(image.id.clone(), digest.clone());
            let tags = image
                .repo_tags
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| vec!["<none>:<none>".to_owned()]);
            for reference in tags {
                let (name, tag) = split_reference(&reference);
                found.images.push(LocalImage {
                    image_type: image_type(&name).to_owned(),
                    name,
                    tag,
                    digest: digest.clone(),
                    image_id: image.id.clone(),
                    size_bytes: image.size,
                    updated_ms: image.created.saturating_mul(1000),
                    runtime: self.name().to_owned(),
                    locator: image.id.clone(),
                });
            }
        }
        let mut pods = BTreeMap::new();
        for c in containers {
            let labels = c.labels.unwrap_or_default();
            let pod = pod_from_labels(&labels);
            found.containers.push(Container {
                name: c
                    .names
                    .first()
                    .map(|n| n.trim_start_matches('/').to_owned())
                    .unwrap_or_else(|| c.id.clone()),
                image_digest: digest_of.get(&c.image_id).cloned().unwrap_or_default(),
                image: c.image,
                id: c.id,
                status: c.state,
                created_ms: c.created.saturating_mul(1000),
                pod_uid: pod.as_ref().map(|p| p.uid.clone()).unwrap_or_default(),
            });
            if let Some(pod) = pod {
                pods.insert(pod.uid.clone(), pod);
            }
        }
        found.pods = pods.into_values().collect();
        Ok(found)
    }

    fn scan(&self, image: &LocalImage, scanner: &Scanner) -> Result<Inventory, AgentError> {
        let id = &image.locator;
        if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b':' || b == b'.')
        {
            return Err(AgentError::CorruptMetadata(format!(
                "{id:?} is not an image id"
            )));
        }
        let mut file =
            tempfile::NamedTempFile::new().map_err(|e| AgentError::io(Path::new("tempfile"), e))?;
        self.get(
            &format!("/images/{id}/get"),
            file.as_file_mut(),
            scanner.limits().max_unpacked_bytes,
        )?;
        let path = file.path().to_string_lossy().into_owned();
        let source = crowsnest_image::open_source(&path, scanner.limits())
            .map_err(|e| AgentError::Scan(e.code().as_str().to_owned(), e.to_string()))?;
        let mut inventory = scanner
            .scan_source(source.as_ref(), &mut |_| {})
            .map_err(|e| AgentError::Scan(e.code().as_str().to_owned(), e.to_string()))?;
        inventory.source.reference = format!("docker:{}:{}", image.name, image.tag);
        Ok(inventory)
    }
}
