//! Sign-in sessions: a random id in an `HttpOnly`, `SameSite=Strict` cookie, and everything
//! else (the caller, its credential, the CSRF token, the expiry) kept in server memory. A
//! session dies at sign-out, at its expiry, or when the server restarts, and every request
//! checks its credential again, so a revoked key or an expired token signs the user out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use crowsnest_api::Caller;
use crowsnest_store::Store;

/// The session cookie's name.
pub const COOKIE: &str = "crowsnest_console";
/// The cookie that carries the sign-in form's CSRF token before there is a session.
pub const PRE_COOKIE: &str = "crowsnest_console_signin";
/// How long a session lives after sign-in, ms (8 hours: a working day).
pub const TTL_MS: i64 = 8 * 3_600_000;
/// Sessions held at most; beyond it expired ones are dropped and, if none are, sign-in is
/// refused rather than memory growing without bound.
pub const MAX_SESSIONS: usize = 10_000;

/// What the user signed in with, kept to check it again on every request.
#[derive(Clone, Debug)]
pub enum Credential {
    /// An AccessKey id (the secret was checked at sign-in; the key must stay enabled).
    AccessKey(String),
    /// A token (it must stay unexpired).
    Token(String),
}

/// A signed-in user.
#[derive(Clone, Debug)]
pub struct Session {
    /// Whose rows the user sees, and what they may do.
    pub caller: Caller,
    /// What they signed in with.
    pub credential: Credential,
    /// The token every POST form must carry.
    pub csrf: String,
    /// When the session ends, ms.
    pub expires_ms: i64,
    /// What an action said, for the page it redirected to to show once.
    pub flash: Option<Flash>,
}

/// An action's message, kept between a POST and the GET its 303 redirect leads to
/// (POST/redirect/GET: reloading the page shows it, never re-sends the form).
#[derive(Clone, Debug, PartialEq)]
pub struct Flash {
    /// The message.
    pub text: String,
    /// What went wrong along the way, each shown as a failure.
    pub problems: Vec<String>,
}

/// Problems a flash keeps at most; the rest are counted in one more line.
pub const MAX_FLASH_PROBLEMS: usize = 20;

/// The server's sessions.
#[derive(Clone, Default)]
pub struct Sessions {
    inner: Arc<Mutex<HashMap<String, Session>>>,
}

/// 256 bits from the operating system's generator, as hex (two v4 UUIDs' random bits and
/// their fixed version bits: 244 random bits).
pub fn random_token() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    a + &b
}

/// Compares in time independent of where the inputs differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The value of cookie `name` in the request.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value for the console's path.
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64) -> String {
    format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}")
}

impl Sessions {
    /// Starts a session for `caller`; its id, or None when the server holds too many.
    pub fn start(&self, caller: Caller, credential: Credential, now_ms: i64) -> Option<String> {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.expires_ms > now_ms);
            if map.len() >= MAX_SESSIONS {
                return None;
            }
        }
        let id = random_token();
        map.insert(
            id.clone(),
            Session {
                caller,
                credential,
                csrf: random_token(),
                expires_ms: now_ms.saturating_add(TTL_MS),
                flash: None,
            },
        );
        Some(id)
    }

    /// The live session of a request's cookie, after checking its credential again (a
    /// revoked key or an expired token ends it).
    pub fn find(&self, store: &Store, headers: &HeaderMap, now_ms: i64) -> Option<Session> {
        let id = cookie(headers, COOKIE)?;
        let session = {
            let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let live = map.get(id).filter(|s| s.expires_ms > now_ms).cloned();
            if live.is_none() {
                map.remove(id);
            }
            live?
        };
        let still_valid = match &session.credential {
            Credential::AccessKey(key) => store
                .api_key(key)
                .ok()
                .flatten()
                .is_some_and(|k| k.enabled && k.tenant == session.caller.tenant),
            Credential::Token(token) => store
                .token(token, now_ms)
                .ok()
                .flatten()
                .is_some_and(|(tenant, _)| tenant == session.caller.tenant),
        };
        if !still_valid {
            self.end(id);
            return None;
        }
        Some(session)
    }

    /// Keeps `text` and `problems` (at most [`MAX_FLASH_PROBLEMS`] of them) for the request's
    /// session to show on its next page, replacing what it had not shown yet.
    pub fn set_flash(&self, headers: &HeaderMap, text: String, mut problems: Vec<String>) {
        let Some(id) = cookie(headers, COOKIE) else {
            return;
        };
        if problems.len() > MAX_FLASH_PROBLEMS {
            let more = problems.len() - MAX_FLASH_PROBLEMS;
            problems.truncate(MAX_FLASH_PROBLEMS);
            problems.push(format!("and {more} more problems"));
        }
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = map.get_mut(id) {
            s.flash = Some(Flash { text, problems });
        }
    }

    /// The request's session's flash, taken: a page shows it once.
    pub fn take_flash(&self, headers: &HeaderMap) -> Option<Flash> {
        let id = cookie(headers, COOKIE)?;
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.get_mut(id).and_then(|s| s.flash.take())
    }

    /// Ends the session `id`.
    pub fn end(&self, id: &str) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cookies() {
        let mut h = HeaderMap::new();
        h.insert("cookie", "a=1; crowsnest_console=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&h, COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn tokens_are_long_and_fresh() {
        let a = random_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_token());
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &random_token()));
    }
}
