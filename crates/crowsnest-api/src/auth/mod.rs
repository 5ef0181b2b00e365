//! Who is calling: the signature schemes of both clouds resolve a request to a [`Caller`] (a
//! tenant and the policy actions of its key), and the operations check the caller's actions.
//!
//! - [`alibaba`]: the RPC signature (`Signature`, HMAC-SHA1, SignatureVersion 1.0) that older
//!   SDKs and `signature_algorithm='v2'` send, and the ACS3-HMAC-SHA256 `Authorization` header
//!   that current `alibabacloud_tea_openapi` sends by default.
//! - [`huawei`]: the APIG `SDK-HMAC-SHA256` AK/SK signature and `X-Auth-Token` tokens.
//!
//! Timestamps outside [`AuthSettings::max_skew_ms`] are refused. Alibaba requests carry a nonce,
//! which is remembered in the store for as long as the timestamp could still be accepted, so a
//! replayed request is refused. Huawei's AK/SK scheme has no nonce, so the verified signature
//! plays its part: a byte-identical signed request seen again inside the window is refused
//! (a client repeating a call must sign it again with a later `X-Sdk-Date`).

pub mod alibaba;
pub mod huawei;

use crowsnest_store::tenants::policy_allows;
use crowsnest_store::TenantId;

/// How requests are authenticated.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// How far a request's timestamp may be from the server's clock, in ms. Default 15 minutes,
    /// the window both clouds document.
    pub max_skew_ms: i64,
    /// The clock timestamps are compared with.
    pub clock: Clock,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            max_skew_ms: 15 * 60 * 1000,
            clock: Clock::System,
        }
    }
}

/// The server's notion of now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The system clock.
    System,
    /// A fixed instant in ms, so that recorded requests can be verified in tests.
    Fixed(i64),
}

impl Clock {
    /// Now, in ms since the epoch.
    pub fn now_ms(self) -> i64 {
        match self {
            Clock::System => crowsnest_store::now_ms(),
            Clock::Fixed(ms) => ms,
        }
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The tenant whose rows the caller may see.
    pub tenant: TenantId,
    /// The AccessKey id, or `token` for token callers.
    pub principal: String,
    /// The policy actions granted.
    pub actions: Vec<String>,
    /// The store generation the request's nonce claim saw (signed requests only): list pages
    /// remembered at it are answered without a read transaction (`Store::placements_seen`).
    pub seen_generation: Option<i64>,
}

impl Caller {
    /// The caller behind `key`, admitted by a nonce claim that saw store `generation`.
    pub fn signed_with(key: crowsnest_store::ApiKey, generation: i64) -> Caller {
        Caller {
            tenant: key.tenant,
            principal: key.access_key_id,
            actions: key.actions,
            seen_generation: Some(generation),
        }
    }

    /// Whether the caller's policy allows `action` (`yundun-sas:DescribeImageInstances`).
    pub fn allows(&self, action: &str) -> bool {
        policy_allows(&self.actions, action)
    }
}

/// Compares two byte strings in time independent of where they differ, so a signature cannot
/// be guessed byte by byte from response times.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Parses the `Name=value` list that follows the scheme of a signature `Authorization` header
/// (`Credential=a,SignedHeaders=b,Signature=c` for ACS3, `Access=a, SignedHeaders=b,
/// Signature=c` for SDK-HMAC-SHA256) into the values of `names`, in that order. A part without
/// `=` or with a name not in `names` makes the header malformed (None); a name that is absent
/// is None in its slot, and a repeated one keeps its last value.
pub(crate) fn parse_key_values<'a, const N: usize>(
    list: &'a str,
    names: [&str; N],
) -> Option<[Option<&'a str>; N]> {
    let mut values = [None; N];
    for part in list.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        let slot = names.iter().position(|n| *n == k)?;
        values[slot] = Some(v);
    }
    Some(values)
}

/// The header names of a `SignedHeaders=` value (`host;x-sdk-date`), lower-cased.
pub(crate) fn signed_header_names(list: &str) -> Vec<String> {
    list.split(';')
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Parses an ISO 8601 UTC instant (`2026-11-23T09:32:19Z`) to ms.
pub(crate) fn parse_iso8601_ms(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_in_constant_time_shape() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn parses_key_value_lists() {
        assert_eq!(
            parse_key_values("B=2, A=1", ["A", "B", "C"]),
            Some([Some("1"), Some("2"), None])
        );
        assert_eq!(parse_key_values("A=1,A=3", ["A"]), Some([Some("3")]));
        assert_eq!(parse_key_values("A=1,Evil=2", ["A"]), None);
        assert_eq!(parse_key_values("A", ["A"]), None);
        assert_eq!(
            signed_header_names("Host;;X-Sdk-Date"),
            ["host", "x-sdk-date"]
        );
    }

    #[test]
    fn parses_utc_timestamps() {
        assert_eq!(parse_iso8601_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_iso8601_ms("2026-11-23 09:32:19"), None);
    }
}
