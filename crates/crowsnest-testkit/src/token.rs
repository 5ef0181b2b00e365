//! A real token service for registries configured with `auth: token` (the distribution
//! registry's Bearer-token flow): `GET /token?service=…&scope=…` with HTTP Basic credentials
//! answers a JWT granting the scopes asked for, signed RS256 with a key whose self-signed
//! certificate the registry trusts (`rootcertbundle`) and which the token carries in its `x5c`
//! header. Wrong or missing credentials get 401. The key and certificate are made with
//! `openssl`, which also signs each token (`openssl dgst -sha256 -sign`: PKCS#1 v1.5, what
//! RS256 is), so no crypto crate is needed here.

// Test support: a broken token service is reported by panicking in the test that started it.
#![allow(clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;

/// The `issuer` the registry is configured to trust.
pub const ISSUER: &str = "crowsnest-test-issuer";
/// The `service` (token audience) of the test registry.
pub const SERVICE: &str = "crowsnest-test-registry";

/// A running token service.
pub struct TokenServer {
    realm: String,
    cert: PathBuf,
    issued: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

impl TokenServer {
    /// Makes a key and certificate in `dir` and starts serving tokens for `user`/`password`
    /// on a free port of 127.0.0.1. `None` when `openssl` is missing (see
    /// [`crate::require_tool`]).
    pub fn start(dir: &Path, user: &str, password: &str) -> Option<TokenServer> {
        if !crate::require_tool("openssl") {
            return None;
        }
        let key = dir.join("token-key.pem");
        let cert = dir.join("token-cert.pem");
        let made = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=crowsnest-test-token-issuer"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("running openssl req");
        assert!(
            made.status.success(),
            "openssl req failed: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let der = Command::new("openssl")
            .args(["x509", "-outform", "der", "-in"])
            .arg(&cert)
            .output()
            .expect("running openssl x509");
        assert!(der.status.success(), "openssl x509 failed");
        let x5c = base64::engine::general_purpose::STANDARD.encode(&der.stdout);

        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the token service");
        let realm = format!(
            "http://{}/token",
            listener.local_addr().expect("the token service's address")
        );
        let issued = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let service = Service {
            key,
            x5c,
            basic: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ),
            user: user.to_owned(),
            issued: Arc::clone(&issued),
            refused: Arc::clone(&refused),
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                service.answer(stream);
            }
        });
        Some(TokenServer {
            realm,
            cert,
            issued,
            refused,
        })
    }

    /// The token endpoint (the registry's `realm`).
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The certificate (PEM) the registry must trust.
    pub fn cert(&self) -> &Path {
        &self.cert
    }

    /// Tokens issued so far.
    pub fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }

    /// Requests refused (bad or missing credentials) so far.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// The `auth:` section of a registry configuration that trusts this service.
    pub fn registry_auth_config(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {cert}\n",
            realm = self.realm,
            cert = self.cert.display()
        )
    }
}

struct Service {
    key: PathBuf,
    x5c: String,
    basic: String,
    user: String,
    issued: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

impl Service {
    fn answer(&self, mut stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let Some((target, authorization)) = read_head(&stream) else {
            return;
        };
        let (status, body) = if authorization.as_deref() != Some(self.basic.as_str()) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            (
                "401 Unauthorized",
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#.to_owned(),
            )
        } else {
            let (service, scopes) = query(&target);
            let token = self.token(&service, &scopes);
            self.issued.fetch_add(1, Ordering::SeqCst);
            (
                "200 OK",
                serde_json::json!({ "token": token, "access_token": token, "expires_in": 300 })
                    .to_string(),
            )
        };
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
    }

    /// A JWT for `service` granting every scope asked for.
    fn token(&self, service: &str, scopes: &[String]) -> String {
        let access: Vec<serde_json::Value> = scopes
            .iter()
            .filter_map(|scope| {
                // type:name:actions, where the name may hold ':' (a registry with a port).
                let (kind, rest) = scope.split_once(':')?;
                let (name, actions) = rest.rsplit_once(':')?;
                Some(serde_json::json!({
                    "type": kind,
                    "name": name,
                    "actions": actions.split(',').collect::<Vec<_>>(),
                }))
            })
            .collect();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let n = self.issued.load(Ordering::SeqCst);
        let header = serde_json::json!({ "typ": "JWT", "alg": "RS256", "x5c": [self.x5c] });
        let claims = serde_json::json!({
            "iss": ISSUER,
            "sub": self.user,
            "aud": service,
            "exp": now + 300,
            "nbf": now.saturating_sub(30),
            "iat": now,
            "jti": format!("token-{n}"),
            "access": access,
        });
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("running openssl dgst");
        child
            .stdin
            .take()
            .expect("openssl's stdin")
            .write_all(input.as_bytes())
            .expect("writing to openssl");
        let signed = child.wait_with_output().expect("openssl dgst");
        assert!(signed.status.success(), "openssl dgst -sign failed");
        format!("{input}.{}", b64(&signed.stdout))
    }
}

/// The request target and `Authorization` header of a request (its body, if any, is ignored).
fn read_head(stream: &TcpStream) -> Option<(String, Option<String>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.split_whitespace().nth(1)?.to_owned();
    let mut authorization = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_owned());
            }
        }
    }
    Some((target, authorization))
}

/// `service` and every `scope` of the target's query, percent-decoded.
fn query(target: &str) -> (String, Vec<String>) {
    let mut service = String::new();
    let mut scopes = Vec::new();
    let query = target.split_once('?').map_or("", |(_, q)| q);
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = decode(value);
        match name {
            "service" => service = value,
            // One scope parameter may list several, space-separated.
            "scope" => scopes.extend(
                value
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            ),
            _ => {}
        }
    }
    (service, scopes)
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
