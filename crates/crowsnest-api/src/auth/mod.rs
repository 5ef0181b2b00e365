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
}

impl Caller {
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
    fn parses_utc_timestamps() {
        assert_eq!(parse_iso8601_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_iso8601_ms("2026-11-23 09:32:19"), None);
    }
}
