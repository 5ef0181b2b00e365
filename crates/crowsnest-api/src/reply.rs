//! A successful answer of a cloud operation: one JSON object, already serialized.
//!
//! List operations write their rows from borrowed, typed structs straight into the output
//! instead of building a `serde_json::Value` first: a `Value` row of 25 fields cost about 50
//! allocations and 25 hashed map inserts, and building those was most of a list request's CPU
//! once its page came from the store's cache. Answers that are not hot still use `json!`.
//!
//! A page the store shares from its cache is the same `Arc` for every request at one store
//! generation, so its rendered text is remembered too ([`RenderedPages`]): after the store's
//! cache, serializing the same rows again was the largest cost of a DescribeImageInstances
//! request.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::error::{ApiError, Dialect};

/// The text of one JSON object.
#[derive(Clone, Debug)]
pub(crate) struct JsonObject(String);

/// Answers rendered from pages the store shares, by page and by what else the answer holds.
#[derive(Default)]
pub(crate) struct RenderedPages {
    entries: Mutex<HashMap<(usize, String), Rendered>>,
}

struct Rendered {
    /// Holds the page, so that its address, the key, is not reused while remembered.
    _page: Arc<dyn Any + Send + Sync>,
    text: JsonObject,
}

/// At most this many answers are remembered; a full cache starts again empty. Answers of
/// pages the store has dropped (an older generation) go then too.
const MAX_RENDERED: usize = 256;

impl RenderedPages {
    /// The answer `render` gives for `page`, remembered under the page and `variant` (the
    /// request's other inputs to the answer, such as its page number).
    pub(crate) fn get_or_render<P: Send + Sync + 'static>(
        &self,
        page: &Arc<P>,
        variant: String,
        render: impl FnOnce(&P) -> Result<JsonObject, ApiError>,
    ) -> Result<JsonObject, ApiError> {
        let key = (Arc::as_ptr(page) as usize, variant);
        if let Some(found) = self.lock().get(&key) {
            return Ok(found.text.clone());
        }
        let text = render(page)?;
        let mut entries = self.lock();
        if entries.len() >= MAX_RENDERED {
            entries.clear();
        }
        entries.insert(
            key,
            Rendered {
                _page: Arc::clone(page) as Arc<dyn Any + Send + Sync>,
                text: text.clone(),
            },
        );
        Ok(text)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(usize, String), Rendered>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl JsonObject {
    /// Serializes `value`, which must serialize as an object.
    pub(crate) fn of<T: Serialize>(dialect: Dialect, value: &T) -> Result<JsonObject, ApiError> {
        let text = serde_json::to_string(value).map_err(|e| ApiError::internal(dialect, e))?;
        if !text.starts_with('{') {
            return Err(ApiError::internal(
                dialect,
                "an answer is not a JSON object",
            ));
        }
        Ok(JsonObject(text))
    }

    /// The object with `name: value` as its first member (Alibaba's `RequestId`).
    pub(crate) fn with_first(self, name: &str, value: &str) -> JsonObject {
        if !self.0.starts_with('{') {
            return self;
        }
        // Both are plain strings, so serializing them cannot fail.
        let member = format!(
            "{}:{}",
            serde_json::to_string(name).unwrap_or_default(),
            serde_json::to_string(value).unwrap_or_default()
        );
        let rest = &self.0[1..];
        let separator = if rest.trim_start().starts_with('}') {
            ""
        } else {
            ","
        };
        JsonObject(format!("{{{member}{separator}{rest}"))
    }
}

impl From<Value> for JsonObject {
    /// For `json!({...})` answers (a `Value` serializes without error).
    fn from(value: Value) -> JsonObject {
        JsonObject(value.to_string())
    }
}

impl IntoResponse for JsonObject {
    fn into_response(self) -> Response {
        ([(CONTENT_TYPE, "application/json")], self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_member_goes_in_front() {
        let o = JsonObject::from(serde_json::json!({"A": 1}));
        let v: Value = serde_json::from_str(&o.with_first("RequestId", "r\"1").0).unwrap();
        assert_eq!(v, serde_json::json!({"RequestId": "r\"1", "A": 1}));
        let empty = JsonObject::from(serde_json::json!({})).with_first("RequestId", "x");
        assert_eq!(empty.0, r#"{"RequestId":"x"}"#);
    }

    #[test]
    fn rendered_pages_are_reused_per_page_and_variant() {
        let cache = RenderedPages::default();
        let page = Arc::new(vec![1, 2]);
        let render =
            |p: &Vec<i32>| JsonObject::of(Dialect::Alibaba, &serde_json::json!({ "n": p }));
        let first = cache.get_or_render(&page, "1".into(), render).unwrap();
        assert_eq!(first.0, r#"{"n":[1,2]}"#);
        let again = cache
            .get_or_render(&page, "1".into(), |_| panic!("rendered twice"))
            .unwrap();
        assert_eq!(again.0, first.0);
        // Another variant, or another page with equal rows (another generation), renders.
        let mut rendered = false;
        cache
            .get_or_render(&page, "2".into(), |p| {
                rendered = true;
                render(p)
            })
            .unwrap();
        assert!(rendered);
        let other = Arc::new(vec![1, 2]);
        let mut rendered = false;
        cache
            .get_or_render(&other, "1".into(), |p| {
                rendered = true;
                render(p)
            })
            .unwrap();
        assert!(rendered);
    }

    #[test]
    fn only_objects_are_answers() {
        assert!(JsonObject::of(Dialect::Huawei, &[1, 2]).is_err());
        assert!(JsonObject::of(Dialect::Huawei, &serde_json::json!({"a": [1]})).is_ok());
    }
}
