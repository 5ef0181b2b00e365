//! The one error type of the API. It renders in the envelope of the cloud the request came in
//! as (Alibaba `{RequestId, HostId, Code, Message}`, Huawei `{error_code, error_msg}`, native
//! `{code, message}`), and hides internal causes from clients while logging them.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Whose envelope an error is rendered in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Alibaba Cloud RPC.
    Alibaba,
    /// Huawei Cloud REST.
    Huawei,
    /// The native `/api/v1/` API and server start-up.
    Native,
}

/// An error response: a status, a stable code and a client-safe message. Boxed, so that the
/// `Result`s of every handler stay small.
#[derive(Debug)]
pub struct ApiError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    dialect: Dialect,
    status: StatusCode,
    code: String,
    message: String,
    request_id: Option<String>,
    host: Option<String>,
    /// Alibaba's `AccessDeniedDetail`, which the SDKs surface on `NoPermission`.
    access_denied: Option<serde_json::Value>,
    /// The real cause of an internal error; logged, never sent.
    internal: Option<String>,
}

impl ApiError {
    /// A client error in `dialect`'s envelope.
    pub fn new(
        dialect: Dialect,
        status: StatusCode,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError(Box::new(Inner {
            dialect,
            status,
            code: code.into(),
            message: message.into(),
            request_id: None,
            host: None,
            access_denied: None,
            internal: None,
        }))
    }

    /// A server-side failure. The client sees only the dialect's generic server error; `cause`
    /// goes to the log with the request id.
    pub fn internal(dialect: Dialect, cause: impl std::fmt::Display) -> ApiError {
        let (code, message) = match dialect {
            Dialect::Alibaba => ("ServerError", "ServerError"),
            Dialect::Huawei => (crate::huawei::CODE_INTERNAL, "Internal server error."),
            Dialect::Native => ("internal", "internal server error"),
        };
        let mut e = ApiError::new(dialect, StatusCode::INTERNAL_SERVER_ERROR, code, message);
        e.0.internal = Some(cause.to_string());
        e
    }

    /// The server could not start (address in use, permission denied).
    pub fn startup(cause: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            Dialect::Native,
            StatusCode::INTERNAL_SERVER_ERROR,
            "serve_failed",
            cause.to_string(),
        )
    }

    /// Attaches the request id the response should carry.
    pub fn with_request_id(mut self, request_id: &str) -> ApiError {
        self.0.request_id = Some(request_id.to_owned());
        self
    }

    /// Attaches the host (Alibaba's `HostId`).
    pub fn with_host(mut self, host: Option<&str>) -> ApiError {
        self.0.host = host.map(str::to_owned);
        self
    }

    /// Attaches Alibaba's `AccessDeniedDetail`.
    pub fn with_access_denied(mut self, detail: serde_json::Value) -> ApiError {
        self.0.access_denied = Some(detail);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        &self.0.code
    }

    /// The client-visible message.
    pub fn message(&self) -> &str {
        &self.0.message
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.code, self.0.message)
    }
}

impl std::error::Error for ApiError {}

/// A new Alibaba-style request id (upper-case UUID).
pub fn alibaba_request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_ascii_uppercase()
}

/// A new Huawei-style request id (32 lower-case hex digits).
pub fn huawei_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let this = *self.0;
        let request_id = this
            .request_id
            .clone()
            .unwrap_or_else(|| match this.dialect {
                Dialect::Huawei => huawei_request_id(),
                _ => alibaba_request_id(),
            });
        if let Some(cause) = &this.internal {
            tracing::error!(request_id, code = %this.code, cause, "internal error");
        } else {
            tracing::debug!(request_id, code = %this.code, message = %this.message, "request refused");
        }
        let body = match this.dialect {
            Dialect::Alibaba => {
                let mut body = json!({
                    "RequestId": request_id,
                    "HostId": this.host.unwrap_or_default(),
                    "Code": this.code,
                    "Message": this.message,
                });
                if let (Some(detail), Some(map)) = (this.access_denied, body.as_object_mut()) {
                    map.insert("AccessDeniedDetail".into(), detail);
                }
                body
            }
            Dialect::Huawei => json!({
                "error_code": this.code,
                "error_msg": this.message,
            }),
            Dialect::Native => json!({
                "code": this.code,
                "message": this.message,
                "request_id": request_id,
            }),
        };
        let mut response = (this.status, axum::Json(body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("x-request-id", v);
        }
        response
    }
}
