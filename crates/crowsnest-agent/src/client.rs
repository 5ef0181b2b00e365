//! HTTP to the Crowsnest server. Every request is signed with `SDK-HMAC-SHA256` (the Huawei
//! APIG scheme the server verifies for its native API): the secret never crosses the wire,
//! and the signature covers method, path, host, date and body, so a captured request cannot
//! be altered or replayed by someone else.

use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::blocking::Client;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::AgentError;

/// An AccessKey pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// The AccessKey id.
    pub id: String,
    /// The secret.
    pub secret: String,
}

impl Key {
    /// Parses `ID:SECRET`.
    pub fn parse(text: &str) -> Result<Key, AgentError> {
        match text.trim().split_once(':') {
            Some((id, secret)) if !id.is_empty() && !secret.is_empty() => Ok(Key {
                id: id.to_owned(),
                secret: secret.to_owned(),
            }),
            _ => Err(AgentError::Config(
                "the key must be ACCESS_KEY_ID:SECRET".into(),
            )),
        }
    }
}

/// A server's base URL and an HTTP client.
#[derive(Clone)]
pub struct ServerClient {
    base: reqwest::Url,
    http: Client,
}

/// An answer: status and body.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: Vec<u8>,
}

/// The headers every request signs, sorted as the scheme wants them.
const SIGNED_HEADERS: &str = "host;x-crowsnest-nonce;x-sdk-date";

/// The canonical URI of the APIG scheme: each segment RFC 3986 encoded, a trailing `/`.
fn canonical_uri(path: &str) -> String {
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let mut uri = path
        .split('/')
        .map(|s| percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string())
        .collect::<Vec<_>>()
        .join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// The `Authorization` value for a request (no query string) signed at `sdk_date`, with
/// `nonce` sent and signed as `X-Crowsnest-Nonce`.
///
/// The server remembers signatures to refuse replays, and a signature covers the date to
/// the second: resending a queued report (same body) within the second its first attempt was
/// made would look like a replay and be refused. A fresh nonce per attempt keeps every
/// attempt's signature distinct; the report id still makes the server apply it once.
pub fn authorization(
    key: &Key,
    method: &str,
    path: &str,
    host: &str,
    sdk_date: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    let canonical = format!(
        "{method}\n{}\n\nhost:{host}\nx-crowsnest-nonce:{nonce}\nx-sdk-date:{sdk_date}\n\n{SIGNED_HEADERS}\n{}",
        canonical_uri(path),
        hex::encode(Sha256::digest(body))
    );
    let to_sign = format!(
        "SDK-HMAC-SHA256\n{sdk_date}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let signature = match Hmac::<Sha256>::new_from_slice(key.secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(to_sign.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        // HMAC accepts keys of any length.
        Err(_) => String::new(),
    };
    format!(
        "SDK-HMAC-SHA256 Access={}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}",
        key.id
    )
}

impl ServerClient {
    /// A client of the server at `base` (`http://host:port`).
    pub fn new(base: &str, timeout: Duration) -> Result<ServerClient, AgentError> {
        let base = reqwest::Url::parse(base)
            .map_err(|e| AgentError::Config(format!("--server {base:?}: {e}")))?;
        if base.host_str().is_none() {
            return Err(AgentError::Config("--server must name a host".into()));
        }
        let http = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| AgentError::Config(format!("HTTP client: {e}")))?;
        Ok(ServerClient { base, http })
    }

    /// The server's address as `host:port`, for finding the local address that reaches it.
    pub fn host_port(&self) -> Option<String> {
        Some(format!(
            "{}:{}",
            self.base.host_str()?,
            self.base.port_or_known_default()?
        ))
    }

    /// Sends a signed `POST path` with a JSON body. Connection failures and 5xx are
    /// [`AgentError::Unreachable`] (worth retrying); 401 and 403 are [`AgentError::Refused`].
    pub fn post(&self, key: &Key, path: &str, body: &[u8]) -> Result<Answer, AgentError> {
        self.send(key, reqwest::Method::POST, path, body)
    }

    /// Sends a signed request (`path` without a query string); errors as for [`Self::post`].
    pub fn send(
        &self,
        key: &Key,
        method: reqwest::Method,
        path: &str,
        body: &[u8],
    ) -> Result<Answer, AgentError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| AgentError::Config(format!("{path}: {e}")))?;
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let date = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .map_err(|e| AgentError::Config(format!("clock: {e}")))?;
        let nonce = uuid::Uuid::new_v4().to_string();
        let auth = authorization(key, method.as_str(), url.path(), &host, &date, &nonce, body);
        let resp = self
            .http
            .request(method.clone(), url)
            .header("host", host)
            .header("x-sdk-date", date)
            .header("x-crowsnest-nonce", nonce)
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .map_err(|e| AgentError::Unreachable(format!("{method} {path}: {e}")))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .map_err(|e| {
                AgentError::Unreachable(format!("{method} {path}: reading the answer: {e}"))
            })?
            .to_vec();
        let text = || String::from_utf8_lossy(&body[..body.len().min(2048)]).into_owned();
        if status.is_server_error() {
            return Err(AgentError::Unreachable(format!(
                "{method} {path}: HTTP {status}: {}",
                text()
            )));
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(AgentError::Refused(format!(
                "{method} {path}: HTTP {status}: {}",
                text()
            )));
        }
        if !status.is_success() {
            return Err(AgentError::Rejected(format!(
                "{method} {path}: HTTP {status}: {}",
                text()
            )));
        }
        Ok(Answer { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_need_both_halves() {
        assert!(Key::parse("AK:SK").is_ok());
        assert!(Key::parse("AK:").is_err());
        assert!(Key::parse("AKSK").is_err());
        assert_eq!(canonical_uri("/api/v1/agents"), "/api/v1/agents/");
    }
}
