//! Huawei Cloud authentication: `X-Auth-Token` tokens and the APIG `SDK-HMAC-SHA256` AK/SK
//! signature that `huaweicloudsdkcore` sends.
//!
//! The canonical request is `METHOD\nURI/\nquery\nheaders\nsigned-headers\npayload-hash`: the
//! URI is the path with every segment RFC 3986 encoded and a trailing `/`; the query is the
//! decoded pairs sorted by name then value and re-encoded; the headers are the signed ones,
//! lower-cased, `name:trimmed-value` per line; the payload hash is hex SHA-256 of the body (the
//! empty hash for none, or the `X-Sdk-Content-Sha256` header when the SDK sends
//! `UNSIGNED-PAYLOAD`). The string to sign is `SDK-HMAC-SHA256\nX-Sdk-Date\nhex(sha256(canonical))`
//! and the signature hex HMAC-SHA256 keyed with the secret.

use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};

use crowsnest_store::{ApiKey, NonceVerdict, Store, StoreError};

use super::{constant_time_eq, AuthSettings, Caller};
use crate::error::{ApiError, Dialect};
use crate::form::{rfc3986, Pairs};

/// The APIG code for a request whose credentials could not be verified.
pub const CODE_UNAUTHENTICATED: &str = "APIGW.0301";

/// Prefixes the signatures remembered as nonces, so they cannot collide with the nonces that
/// Alibaba requests send for the same key id.
const REPLAY_NONCE_PREFIX: &str = "sdk-hmac-sha256:";

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What the signature check needs from the HTTP request.
pub struct SignedRequest<'a> {
    /// Upper-case HTTP method.
    pub method: &'a str,
    /// The raw (still percent-encoded) URL path.
    pub path: &'a str,
    /// The URL's decoded query parameters.
    pub query: &'a Pairs,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The raw body.
    pub body: &'a [u8],
}

/// Why a request was not authenticated, before it is rendered in an envelope: Huawei's for the
/// `/v5/` operations, the native one for `/api/v1/`.
#[derive(Debug)]
pub enum AuthFailure {
    /// The credentials are missing, malformed, wrong, stale or replayed; the text says which.
    Unauthenticated(String),
    /// The store failed while checking them.
    Store(crowsnest_store::StoreError),
}

impl AuthFailure {
    /// The failure in `dialect`'s envelope: 401 with `code`, or an internal error.
    pub fn into_api_error(self, dialect: Dialect, code: &str) -> ApiError {
        match self {
            AuthFailure::Unauthenticated(detail) => ApiError::new(
                dialect,
                StatusCode::UNAUTHORIZED,
                code,
                format!("Incorrect IAM authentication information: {detail}"),
            ),
            AuthFailure::Store(e) => ApiError::internal(dialect, e),
        }
    }
}

fn unauthenticated(detail: &str) -> AuthFailure {
    AuthFailure::Unauthenticated(detail.to_owned())
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Authenticates a Huawei request by token or by AK/SK signature, in Huawei's envelope.
pub fn authenticate(
    store: &Store,
    settings: &AuthSettings,
    req: &SignedRequest<'_>,
) -> Result<Caller, ApiError> {
    verify(store, settings, req)
        .map_err(|e| e.into_api_error(Dialect::Huawei, CODE_UNAUTHENTICATED))
}

/// Checks a request's `X-Auth-Token` or `SDK-HMAC-SHA256` signature and resolves its caller.
pub fn verify(
    store: &Store,
    settings: &AuthSettings,
    req: &SignedRequest<'_>,
) -> Result<Caller, AuthFailure> {
    if let Some(token) = header(req.headers, "x-auth-token") {
        if token.is_empty() || token.len() > 32_768 {
            return Err(unauthenticated("the token is malformed"));
        }
        let found = store
            .token(token, settings.clock.now_ms())
            .map_err(AuthFailure::Store)?;
        let (tenant, actions) =
            found.ok_or_else(|| unauthenticated("the token is invalid or expired"))?;
        return Ok(Caller {
            tenant,
            principal: "token".into(),
            actions,
            seen_generation: None,
        });
    }
    let Some(authorization) = header(req.headers, "authorization") else {
        return Err(unauthenticated(
            "neither X-Auth-Token nor an SDK-HMAC-SHA256 Authorization header was sent",
        ));
    };
    let auth = parse_authorization(authorization)
        .ok_or_else(|| unauthenticated("the Authorization header is malformed"))?;
    for required in ["host", "x-sdk-date"] {
        if !auth.signed_headers.iter().any(|h| h == required) {
            return Err(unauthenticated(&format!(
                "header {required} must be signed"
            )));
        }
    }
    let date = header(req.headers, "x-sdk-date")
        .ok_or_else(|| unauthenticated("X-Sdk-Date is missing"))?;
    let ts = parse_sdk_date_ms(date).ok_or_else(|| unauthenticated("X-Sdk-Date is malformed"))?;
    if (settings.clock.now_ms() - ts).abs() > settings.max_skew_ms {
        return Err(unauthenticated(
            "the request time is outside the allowed window",
        ));
    }
    // From this process's cache when it is there: the nonce claim below checks that the key
    // is still enabled.
    let key = usable_key(store.api_key_cached(&auth.access))?;
    let payload_hash = if req.body.is_empty() {
        EMPTY_SHA256.to_owned()
    } else if let Some(h) = header(req.headers, "x-sdk-content-sha256") {
        h.to_owned()
    } else {
        hex::encode(Sha256::digest(req.body))
    };
    let canonical = canonical_request(
        req.method,
        req.path,
        &req.query.0,
        req.headers,
        &auth.signed_headers,
        &payload_hash,
    )
    .ok_or_else(|| unauthenticated("a signed header is missing or not text"))?;
    let expected = signature(&key.secret, date, &canonical);
    if !constant_time_eq(
        expected.as_bytes(),
        auth.signature.to_ascii_lowercase().as_bytes(),
    ) {
        // A cached key may have been revoked since; read it again so that the refusal says
        // so, as it would without the cache.
        usable_key(store.api_key(&auth.access))?;
        return Err(unauthenticated("the signature does not match"));
    }
    // The scheme has no nonce, so the signature is one: it covers the method, path, query,
    // signed headers, body and X-Sdk-Date, and is remembered for as long as that date could
    // still be accepted. Only a verified signature is claimed, so forged requests cannot fill
    // the table or block a genuine one.
    let claimed = store
        .claim_nonce(
            &key.access_key_id,
            &format!(
                "{REPLAY_NONCE_PREFIX}{}",
                auth.signature.to_ascii_lowercase()
            ),
            settings.clock.now_ms(),
            ts.saturating_add(settings.max_skew_ms),
        )
        .map_err(AuthFailure::Store)?;
    match claimed.verdict {
        NonceVerdict::Fresh => Ok(Caller::signed_with(key, claimed.generation)),
        NonceVerdict::Replayed => Err(unauthenticated(
            "the request was already received (replayed signature)",
        )),
        NonceVerdict::KeyDisabled => Err(key_unusable()),
    }
}

/// The key a lookup found, unless it is missing or disabled.
fn usable_key(found: Result<Option<ApiKey>, StoreError>) -> Result<ApiKey, AuthFailure> {
    found
        .map_err(AuthFailure::Store)?
        .filter(|k| k.enabled)
        .ok_or_else(key_unusable)
}

fn key_unusable() -> AuthFailure {
    unauthenticated("the access key is unknown or disabled")
}

/// The parts of an `SDK-HMAC-SHA256` Authorization header.
#[derive(Debug, PartialEq, Eq)]
pub struct Authorization {
    /// The AK.
    pub access: String,
    /// Lower-case signed header names.
    pub signed_headers: Vec<String>,
    /// Hex signature.
    pub signature: String,
}

/// Parses `SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…`.
pub fn parse_authorization(value: &str) -> Option<Authorization> {
    let rest = value.strip_prefix("SDK-HMAC-SHA256 ")?;
    let [access, signed, signature] =
        super::parse_key_values(rest, ["Access", "SignedHeaders", "Signature"])?;
    Some(Authorization {
        access: access.filter(|a| !a.is_empty())?.to_owned(),
        signed_headers: super::signed_header_names(signed?),
        signature: signature.filter(|s| !s.is_empty())?.to_owned(),
    })
}

/// Parses `X-Sdk-Date` (`20261123T093219Z`) to ms.
pub fn parse_sdk_date_ms(s: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = time::PrimitiveDateTime::parse(s, &format)
        .ok()?
        .assume_utc();
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The APIG canonical request.
pub fn canonical_request(
    method: &str,
    raw_path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    signed_headers: &[String],
    payload_hash: &str,
) -> Option<String> {
    let decoded = percent_decode_str(raw_path).decode_utf8().ok()?;
    let mut uri = decoded
        .split('/')
        .map(rfc3986)
        .collect::<Vec<_>>()
        .join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    let mut sorted: Vec<&(String, String)> = query.iter().collect();
    sorted.sort();
    let canonical_query = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", rfc3986(k), rfc3986(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut canonical_headers = String::new();
    for name in signed_headers {
        let value = headers.get(name.as_str())?.to_str().ok()?.trim();
        canonical_headers.push_str(&format!("{name}:{value}\n"));
    }
    Some(format!(
        "{}\n{uri}\n{canonical_query}\n{canonical_headers}\n{}\n{payload_hash}",
        method.to_ascii_uppercase(),
        signed_headers.join(";")
    ))
}

/// The hex signature of a canonical request made at `sdk_date`.
pub fn signature(secret: &str, sdk_date: &str, canonical_request: &str) -> String {
    let to_sign = format!(
        "SDK-HMAC-SHA256\n{sdk_date}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    // HMAC takes keys of any length, so construction cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed by huaweicloudsdkcore 3.1.219's `Signer.sign` for the same request.
    #[test]
    fn signature_matches_the_python_sdk() {
        let auth = parse_authorization("SDK-HMAC-SHA256 Access=AK1, SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date, Signature=6aee5722587c479ca7e9b73a755b07cc0c20344d194ef4d69de30c92545155bc").unwrap();
        let mut headers = HeaderMap::new();
        for (k, v) in [
            ("content-type", "application/json"),
            ("host", "127.0.0.1:8080"),
            ("user-agent", "huaweicloud-usdk-python/3.0"),
            ("x-project-id", "proj1"),
            ("x-sdk-date", "20261123T093219Z"),
        ] {
            headers.insert(k, v.parse().unwrap());
        }
        let query = Pairs::parse("has_vul=true&image_name=ngi%20nx%2A&limit=10").unwrap();
        let canonical = canonical_request(
            "GET",
            "/v5/proj1/image/registries/images",
            &query.0,
            &headers,
            &auth.signed_headers,
            EMPTY_SHA256,
        )
        .unwrap();
        assert_eq!(
            signature("SK1", "20261123T093219Z", &canonical),
            auth.signature
        );
        assert_eq!(signature("SK2", "20261123T093219Z", &canonical).len(), 64);
        assert_ne!(
            signature("SK2", "20261123T093219Z", &canonical),
            auth.signature
        );
    }

    #[test]
    fn parses_sdk_dates() {
        assert_eq!(parse_sdk_date_ms("19700101T000001Z"), Some(1000));
        assert_eq!(parse_sdk_date_ms("1970-01-01T00:00:01Z"), None);
    }

    #[test]
    fn malformed_authorization_is_refused() {
        assert!(
            parse_authorization("SDK-HMAC-SHA256 Access=, SignedHeaders=a, Signature=b").is_none()
        );
        assert!(parse_authorization("SDK-HMAC-SHA256 Access=a, SignedHeaders=a").is_none());
        assert!(parse_authorization("ACS3-HMAC-SHA256 Credential=a").is_none());
    }
}
