//! `update` against a real HTTP server started by the test: a `TcpListener` thread that serves
//! the fixture zips the way osv.dev's bucket does (`<base>/<Ecosystem>/all.zip`, an ETag, and
//! `x-goog-hash: md5=` of the whole object), honours `Range`/`If-Range` and `If-None-Match`,
//! and can be told to cut responses short or to send wrong bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use common::{expected_per_ecosystem, zip_of};
use crowsnest_vulndb::{status, update, EcosystemUpdate, UpdateSummary};
use md5::Digest as _;

/// One object the server holds.
#[derive(Clone)]
struct Object {
    bytes: Vec<u8>,
    etag: String,
    /// Sent as `x-goog-hash: md5=…`; `None` sends no checksum header.
    md5: Option<String>,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Object>,
    /// `.sha256` sidecars by object path.
    sidecars: BTreeMap<String, String>,
    /// Responses to cut short: for each of the next N responses of a path, send only this many
    /// body bytes and close.
    cut: BTreeMap<String, (usize, usize)>,
    /// Bytes served instead of an object's own (its headers still describe the real one).
    tampered: BTreeMap<String, Vec<u8>>,
    /// (path, Range header, If-Range, If-None-Match, status) of every request.
    log: Vec<Logged>,
}

#[derive(Clone, Debug)]
struct Logged {
    path: String,
    range: Option<String>,
    if_range: Option<String>,
    if_none_match: Option<String>,
    status: u16,
}

struct Server {
    base: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let state = state.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                // Bounded: a test makes a few dozen requests at most.
                for stream in listener.incoming().take(1000) {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let _ = serve(stream, &state);
                    }
                }
            })
        };
        Server {
            base: format!("http://{addr}"),
            state,
            stop,
            addr,
            thread: Some(thread),
        }
    }

    fn put(&self, eco: &str, bytes: Vec<u8>) {
        let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&bytes));
        let etag = format!("\"{}\"", hex::encode(md5::Md5::digest(&bytes)));
        self.state.lock().unwrap().objects.insert(
            format!("/{eco}/all.zip"),
            Object {
                bytes,
                etag,
                md5: Some(md5),
            },
        );
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    fn log_for(&self, eco: &str) -> Vec<Logged> {
        let path = format!("/{eco}/all.zip");
        self.with(|s| s.log.iter().filter(|l| l.path == path).cloned().collect())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so the thread ends.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, raw_path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let path = raw_path.replace("%20", " ");
    let mut out = stream;
    let mut st = state.lock().unwrap();
    let log = |status: u16, st: &mut State| {
        st.log.push(Logged {
            path: path.clone(),
            range: headers.get("range").cloned(),
            if_range: headers.get("if-range").cloned(),
            if_none_match: headers.get("if-none-match").cloned(),
            status,
        })
    };
    if method != "GET" {
        log(405, &mut st);
        return out.write_all(
            b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    if let Some(sidecar) = path.strip_suffix(".sha256") {
        let body = st.sidecars.get(sidecar).cloned();
        log(if body.is_some() { 200 } else { 404 }, &mut st);
        return match body {
            Some(b) => write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                b.len()
            ),
            None => out.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            ),
        };
    }
    let Some(obj) = st.objects.get(&path).cloned() else {
        log(404, &mut st);
        return out.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    };
    let body_bytes = st
        .tampered
        .get(&path)
        .cloned()
        .unwrap_or_else(|| obj.bytes.clone());
    let total = obj.bytes.len();
    let mut common = format!(
        "ETag: {}\r\nConnection: close\r\nAccept-Ranges: bytes\r\n",
        obj.etag
    );
    if let Some(md5) = &obj.md5 {
        common.push_str(&format!(
            "x-goog-hash: crc32c=AAAAAA==\r\nx-goog-hash: md5={md5}\r\n"
        ));
    }
    if headers.get("if-none-match") == Some(&obj.etag) && !headers.contains_key("range") {
        log(304, &mut st);
        return write!(
            out,
            "HTTP/1.1 304 Not Modified\r\n{common}Content-Length: 0\r\n\r\n"
        );
    }
    // `Range: bytes=N-` is honoured when there is no If-Range or it names the current ETag.
    let start = headers
        .get("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|_| headers.get("if-range").is_none_or(|v| *v == obj.etag));
    let (status, head, body) = match start {
        Some(n) if n < total => (
            206,
            format!(
                "HTTP/1.1 206 Partial Content\r\n{common}Content-Range: bytes {n}-{}/{total}\r\nContent-Length: {}\r\n\r\n",
                total - 1,
                total - n
            ),
            &body_bytes[n..],
        ),
        Some(_) => {
            log(416, &mut st);
            return write!(out, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{total}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
        None => (
            200,
            format!("HTTP/1.1 200 OK\r\n{common}Content-Length: {total}\r\n\r\n"),
            &body_bytes[..],
        ),
    };
    log(status, &mut st);
    let cut = match st.cut.get_mut(&path) {
        Some((left, bytes)) if *left > 0 => {
            *left -= 1;
            Some(*bytes)
        }
        _ => None,
    };
    drop(st);
    out.write_all(head.as_bytes())?;
    match cut {
        Some(n) => {
            out.write_all(&body[..n.min(body.len())])?;
            out.flush()?;
            // Close mid-body: the client has a Content-Length it will never reach.
            out.shutdown(std::net::Shutdown::Both)
        }
        None => out.write_all(body),
    }
}

fn ecos(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn run_update(db: &Path, server: &Server, list: &[&str]) -> UpdateSummary {
    let mut last = BTreeMap::new();
    let summary = update(db, &server.base, &ecos(list), &mut |p| {
        last.insert(p.ecosystem.to_owned(), (p.done, p.total));
    })
    .unwrap();
    // Progress reached the end of every file that was downloaded.
    for (eco, outcome) in &summary.ecosystems {
        if let EcosystemUpdate::Updated { bytes, .. } = outcome {
            assert_eq!(last.get(eco), Some(&(*bytes, Some(*bytes))), "{eco}");
        }
    }
    summary
}

fn distinct_records(eco: &str) -> u64 {
    expected_per_ecosystem(&zip_of(eco))
        .values()
        .flatten()
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64
}

fn new_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vulndb.sqlite");
    (dir, path)
}

#[test]
fn update_imports_every_ecosystem_then_asks_conditionally() {
    let server = Server::start();
    for eco in common::ECOSYSTEMS {
        server.put(eco, std::fs::read(zip_of(eco)).unwrap());
    }
    let (_dir, db) = new_db();
    let summary = run_update(&db, &server, &common::ECOSYSTEMS);
    assert!(summary.replaced);
    for eco in common::ECOSYSTEMS {
        match &summary.ecosystems[eco] {
            EcosystemUpdate::Updated {
                bytes,
                resumed_from,
                records,
                errors,
                ..
            } => {
                assert_eq!(
                    *bytes,
                    std::fs::metadata(zip_of(eco)).unwrap().len(),
                    "{eco}"
                );
                assert_eq!(*resumed_from, 0);
                assert_eq!(*records, distinct_records(eco), "{eco}");
                assert_eq!(*errors, 0);
            }
            other => panic!("{eco}: {other:?}"),
        }
    }
    let st = status(&db).unwrap();
    for eco in common::ECOSYSTEMS {
        let want: u64 = expected_per_ecosystem(&zip_of(eco))[eco].len() as u64;
        assert_eq!(st.ecosystems[eco], want, "{eco}");
        let source = st
            .sources
            .iter()
            .find(|s| s.source == format!("{}/{eco}/all.zip", server.base))
            .unwrap();
        use sha2::Digest;
        let sha = hex::encode(sha2::Sha256::digest(std::fs::read(zip_of(eco)).unwrap()));
        assert_eq!(source.sha256.as_deref(), Some(sha.as_str()));
        assert!(source.etag.is_some());
    }

    // Nothing changed on the server: every ecosystem answers 304 and the file is not replaced.
    let before = std::fs::read(&db).unwrap();
    let again = run_update(&db, &server, &common::ECOSYSTEMS);
    assert!(!again.replaced);
    assert!(
        again
            .ecosystems
            .values()
            .all(|u| *u == EcosystemUpdate::Unchanged),
        "{again:?}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), before);
    let last = server.log_for("PyPI").last().cloned().unwrap();
    assert_eq!(last.status, 304);
    assert!(last.if_none_match.is_some());
}

#[test]
fn an_interrupted_download_resumes_where_it_stopped() {
    let server = Server::start();
    let pypi = std::fs::read(zip_of("PyPI")).unwrap();
    server.put("PyPI", pypi.clone());
    // The first response stops after 700,000 bytes; the retry in the same run resumes.
    server.with(|s| s.cut.insert("/PyPI/all.zip".into(), (1, 700_000)));
    let (_dir, db) = new_db();
    let summary = run_update(&db, &server, &["PyPI"]);
    match &summary.ecosystems["PyPI"] {
        EcosystemUpdate::Updated {
            resumed_from,
            records,
            bytes,
            ..
        } => {
            assert_eq!(*resumed_from, 700_000);
            assert_eq!(*bytes, pypi.len() as u64);
            assert_eq!(*records, distinct_records("PyPI"));
        }
        other => panic!("{other:?}"),
    }
    let log = server.log_for("PyPI");
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!((log[0].status, log[1].status), (200, 206));
    assert_eq!(log[1].range.as_deref(), Some("bytes=700000-"));
    assert!(log[1].if_range.is_some());
}

#[test]
fn a_partial_download_left_by_one_run_is_resumed_by_the_next() {
    let server = Server::start();
    let go = std::fs::read(zip_of("Go")).unwrap();
    server.put("Go", go.clone());
    // Every attempt of the first run is cut after 400,000 bytes: it fails, keeping 1,200,000.
    server.with(|s| s.cut.insert("/Go/all.zip".into(), (3, 400_000)));
    let (dir, db) = new_db();
    let first = run_update(&db, &server, &["Go"]);
    assert!(
        matches!(first.ecosystems["Go"], EcosystemUpdate::Failed { .. }),
        "{first:?}"
    );
    assert!(!first.replaced && !db.exists());
    let part = dir.path().join(".vulndb.sqlite.downloads/Go/all.zip.part");
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 1_200_000);

    let second = run_update(&db, &server, &["Go"]);
    match &second.ecosystems["Go"] {
        EcosystemUpdate::Updated {
            resumed_from,
            records,
            ..
        } => {
            assert_eq!(*resumed_from, 1_200_000);
            assert_eq!(*records, distinct_records("Go"));
        }
        other => panic!("{other:?}"),
    }
    let log = server.log_for("Go");
    assert_eq!(log.last().unwrap().range.as_deref(), Some("bytes=1200000-"));
    assert!(!part.exists());
}

#[test]
fn a_partial_download_of_a_file_that_changed_starts_over() {
    let server = Server::start();
    let go = std::fs::read(zip_of("Go")).unwrap();
    server.put("Go", go);
    server.with(|s| s.cut.insert("/Go/all.zip".into(), (3, 300_000)));
    let (_dir, db) = new_db();
    let first = run_update(&db, &server, &["Go"]);
    assert!(matches!(
        first.ecosystems["Go"],
        EcosystemUpdate::Failed { .. }
    ));
    // The server now has another file (another ETag): If-Range fails, a 200 sends it whole.
    server.put("Go", std::fs::read(zip_of("crates.io")).unwrap());
    let second = run_update(&db, &server, &["Go"]);
    match &second.ecosystems["Go"] {
        EcosystemUpdate::Updated {
            resumed_from,
            records,
            ..
        } => {
            assert_eq!(*resumed_from, 0);
            assert_eq!(*records, distinct_records("crates.io"));
        }
        other => panic!("{other:?}"),
    }
    let last = server.log_for("Go").last().cloned().unwrap();
    assert_eq!((last.status, last.range.is_some()), (200, true));
}

#[test]
fn wrong_bytes_are_rejected_and_the_old_records_kept() {
    let server = Server::start();
    server.put("npm", std::fs::read(zip_of("npm")).unwrap());
    let maven = std::fs::read(zip_of("Maven")).unwrap();
    server.put("Maven", maven.clone());
    let (dir, db) = new_db();
    run_update(&db, &server, &["npm", "Maven"]);
    let before = status(&db).unwrap();
    let before_bytes = std::fs::read(&db).unwrap();

    // A new Maven archive is announced (new ETag and MD5) but the bytes that arrive differ.
    let mut newer = maven.clone();
    newer.extend_from_slice(b"trailing bytes make a new object");
    server.put("Maven", newer.clone());
    let mut wrong = newer.clone();
    wrong[100] ^= 0xff;
    server.with(|s| s.tampered.insert("/Maven/all.zip".into(), wrong.clone()));
    let summary = run_update(&db, &server, &["Maven"]);
    match &summary.ecosystems["Maven"] {
        EcosystemUpdate::Failed { reason } => {
            assert!(
                reason.contains("checksum mismatch") && reason.contains("md5"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(!summary.replaced);
    assert_eq!(std::fs::read(&db).unwrap(), before_bytes);
    assert_eq!(status(&db).unwrap().ecosystems, before.ecosystems);
    // The rejected file is not kept to resume from.
    assert!(!dir
        .path()
        .join(".vulndb.sqlite.downloads/Maven/all.zip.part")
        .exists());

    // Without an MD5 header, a `.sha256` sidecar is the check.
    server.with(|s| {
        s.objects.get_mut("/Maven/all.zip").unwrap().md5 = None;
        use sha2::Digest;
        s.sidecars.insert(
            "/Maven/all.zip".into(),
            format!("{}  all.zip\n", hex::encode(sha2::Sha256::digest(&newer))),
        );
    });
    let summary = run_update(&db, &server, &["Maven"]);
    match &summary.ecosystems["Maven"] {
        EcosystemUpdate::Failed { reason } => assert!(reason.contains("sha256"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&db).unwrap(), before_bytes);

    // Once the right bytes arrive the update goes through.
    server.with(|s| s.tampered.clear());
    let summary = run_update(&db, &server, &["Maven"]);
    assert!(
        matches!(summary.ecosystems["Maven"], EcosystemUpdate::Updated { .. }),
        "{summary:?}"
    );
    assert!(summary.replaced);
}

#[test]
fn a_missing_archive_fails_that_ecosystem_only() {
    let server = Server::start();
    server.put("npm", std::fs::read(zip_of("npm")).unwrap());
    let (_dir, db) = new_db();
    let summary = run_update(&db, &server, &["npm", "NoSuchEcosystem"]);
    assert!(matches!(
        summary.ecosystems["npm"],
        EcosystemUpdate::Updated { .. }
    ));
    match &summary.ecosystems["NoSuchEcosystem"] {
        EcosystemUpdate::Failed { reason } => assert!(reason.contains("404"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(summary.failed(), vec!["NoSuchEcosystem"]);
    assert!(summary.replaced);
}

#[test]
fn archive_urls_follow_the_osv_bucket_layout() {
    // osv.dev publishes https://osv-vulnerabilities.storage.googleapis.com/<Ecosystem>/all.zip,
    // the ecosystem spelt as in OSV records (spaces percent-encoded).
    assert_eq!(
        crowsnest_vulndb::update::archive_url(crowsnest_vulndb::DEFAULT_BASE_URL, "crates.io"),
        "https://osv-vulnerabilities.storage.googleapis.com/crates.io/all.zip"
    );
    assert_eq!(
        crowsnest_vulndb::update::archive_url("http://mirror/osv/", "Rocky Linux"),
        "http://mirror/osv/Rocky%20Linux/all.zip"
    );
}
