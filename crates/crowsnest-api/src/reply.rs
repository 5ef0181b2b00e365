//! A successful answer of a cloud operation: one JSON object, already serialized.
//!
//! List operations write their rows from borrowed, typed structs straight into the output
//! instead of building a `serde_json::Value` first: a `Value` row of 25 fields cost about 50
//! allocations and 25 hashed map inserts, and building those was most of a list request's CPU
//! once its page came from the store's cache. Answers that are not hot still use `json!`.

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::error::{ApiError, Dialect};

/// The text of one JSON object.
#[derive(Debug)]
pub(crate) struct JsonObject(String);

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
    fn only_objects_are_answers() {
        assert!(JsonObject::of(Dialect::Huawei, &[1, 2]).is_err());
        assert!(JsonObject::of(Dialect::Huawei, &serde_json::json!({"a": [1]})).is_ok());
    }
}
