//! The Alibaba Cloud RPC endpoint: `/?Action=…&Version=…` by GET, or POST with the parameters
//! in the query and/or an `application/x-www-form-urlencoded` body.
//!
//! A request goes through, in order: decoding, finding the operation by `Action` and `Version`
//! (from the parameters, or the `x-acs-action` / `x-acs-version` headers that ACS3 requests
//! carry instead), authentication, the RAM action check, then the operation itself. Every
//! response, success or error, carries a `RequestId`; errors carry `HostId`, `Code` and
//! `Message` as the SDKs read them.

pub mod ecs;
pub mod params;
pub mod sas;
pub mod scan_task;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::{alibaba as signature, Caller};
use crate::error::{alibaba_request_id, ApiError, Dialect};
use crate::form::Pairs;
use crate::reply::JsonObject;
use crate::AppState;
use params::Params;

/// One RPC operation.
#[derive(Clone, Copy)]
pub(crate) struct Operation {
    /// `Action`.
    pub action: &'static str,
    /// `Version`.
    pub version: &'static str,
    /// The RAM action checked against the caller's policy.
    pub ram_action: &'static str,
    /// The code and message of a refused RAM check, as the product documents it.
    pub denied: (&'static str, &'static str),
    /// Requests the product exempts from RAM checks (ECS DescribeImages of public images).
    pub ram_exempt: fn(&Pairs) -> bool,
    /// The operation: validate, call the store, build the response body (without RequestId).
    pub run: fn(&AppState, &Caller, &Params<'_>) -> Result<JsonObject, ApiError>,
    /// The operation answered from memory without blocking, when it can be (None: it would
    /// need the database); see [`answer_without_blocking`].
    pub run_cached: Option<CachedRun>,
}

/// An operation's answer from memory only: None when it would need the database.
pub(crate) type CachedRun =
    fn(&AppState, &Caller, &Params<'_>) -> Option<Result<JsonObject, ApiError>>;

fn never_exempt(_: &Pairs) -> bool {
    false
}

/// The operations, by product.
fn operations() -> [Operation; 5] {
    const SAS: &str = "2018-12-03";
    const DENIED: (&str, &str) = ("NoPermission", "caller has no permission");
    [
        Operation {
            action: "DescribeImageInstances",
            version: SAS,
            ram_action: sas::ACTION_DESCRIBE_IMAGE_INSTANCES,
            denied: DENIED,
            ram_exempt: never_exempt,
            run: sas::describe_image_instances,
            run_cached: Some(sas::describe_image_instances_cached),
        },
        Operation {
            action: "DescribeImageCriteria",
            version: SAS,
            ram_action: sas::ACTION_DESCRIBE_IMAGE_CRITERIA,
            denied: DENIED,
            ram_exempt: never_exempt,
            run: sas::describe_image_criteria,
            run_cached: None,
        },
        Operation {
            action: "PublicPreCheckImageScanTask",
            version: SAS,
            ram_action: scan_task::ACTION_PRE_CHECK,
            denied: DENIED,
            ram_exempt: never_exempt,
            run: scan_task::pre_check,
            run_cached: None,
        },
        Operation {
            action: "PublicCreateImageScanTask",
            version: SAS,
            ram_action: scan_task::ACTION_CREATE,
            denied: DENIED,
            ram_exempt: never_exempt,
            run: scan_task::create,
            run_cached: None,
        },
        Operation {
            action: "DescribeImages",
            version: "2014-05-26",
            ram_action: ecs::ACTION_DESCRIBE_IMAGES,
            denied: (
                "Forbidden.RAM",
                "User not authorized to operate on the specified resource, or this API doesn't support RAM.",
            ),
            ram_exempt: ecs::ram_exempt,
            run: ecs::describe_images,
            run_cached: None,
        },
    ]
}

fn err(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(Dialect::Alibaba, status, code, message)
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The RPC handler for `/`.
pub(crate) async fn rpc(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = alibaba_request_id();
    let host = header(&headers, "host").map(str::to_owned);
    let outcome = match answer_without_blocking(&state, &method, &uri, &headers, &body).await {
        Some(outcome) => outcome,
        None => {
            crate::blocking(Dialect::Alibaba, move || {
                handle(&state, &method, &uri, &headers, &body)
            })
            .await
        }
    };
    match outcome {
        Ok(body) => {
            let mut response = body.with_first("RequestId", &request_id).into_response();
            if let Ok(v) = request_id.parse() {
                response.headers_mut().insert("x-acs-request-id", v);
            }
            response
        }
        Err(e) => e
            .with_request_id(&request_id)
            .with_host(host.as_deref())
            .into_response(),
    }
}

/// The general path: every step on a blocking thread, with the store at hand.
fn handle(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<JsonObject, ApiError> {
    let request = RpcRequest::parse(method, uri, headers, body)?;
    let caller = signature::authenticate(
        &state.store,
        &state.settings.auth,
        &request.signed(method, uri, headers, body),
    )?;
    request.authorize(&caller)?;
    (request.op.run)(state, &caller, &Params::new(&request.params))
}

/// A signed request answered without a blocking thread, which is how most requests of a busy
/// server go: with 64 clients, handing each request to a blocking thread that then slept
/// until its nonce was written cost about a third of the server's CPU in thread switches.
/// The signature is checked with a key this process remembers, the nonce claim is awaited,
/// and the operation answers from memory when it can (or on a blocking thread when not).
/// None, before the nonce is claimed, sends the request down the general path instead: the
/// key is not remembered, or the request is refused (the general path then gives the exact
/// error, reading the store as it must).
async fn answer_without_blocking(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Result<JsonObject, ApiError>> {
    let request = RpcRequest::parse(method, uri, headers, body).ok()?;
    let verified = signature::verify_with_known_key(
        &state.store,
        &state.settings.auth,
        &request.signed(method, uri, headers, body),
    )?;
    // From here on the nonce is claimed, so every outcome is this request's answer.
    let claimed = state
        .store
        .queue_nonce_claim(
            &verified.key.access_key_id,
            &verified.nonce,
            state.settings.auth.clock.now_ms(),
            verified.remember_until,
        )
        .await
        .map_err(|e| ApiError::internal(Dialect::Alibaba, e));
    let caller = match claimed.and_then(|claimed| signature::caller(verified.key, claimed)) {
        Ok(caller) => caller,
        Err(e) => return Some(Err(e)),
    };
    if let Err(e) = request.authorize(&caller) {
        return Some(Err(e));
    }
    let op = request.op;
    if let Some(answer) = op
        .run_cached
        .and_then(|run| run(state, &caller, &Params::new(&request.params)))
    {
        return Some(answer);
    }
    let state = state.clone();
    Some(
        crate::blocking(Dialect::Alibaba, move || {
            (op.run)(&state, &caller, &Params::new(&request.params))
        })
        .await,
    )
}

/// A decoded RPC request and the operation it names.
struct RpcRequest {
    query: Pairs,
    /// Query and form-body parameters together.
    params: Pairs,
    op: Operation,
}

impl RpcRequest {
    fn parse(
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<RpcRequest, ApiError> {
        let malformed = |_| {
            err(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                "The request parameters are not valid url-encoded UTF-8.",
            )
        };
        let query = Pairs::parse(uri.query().unwrap_or("")).map_err(malformed)?;
        let mut params = query.clone();
        let is_form = header(headers, "content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if *method == Method::POST && is_form && !body.is_empty() {
            let text = std::str::from_utf8(body).map_err(|_| {
                err(
                    StatusCode::BAD_REQUEST,
                    "InvalidParameter",
                    "The request body is not UTF-8.",
                )
            })?;
            params.extend(Pairs::parse(text).map_err(malformed)?);
        }
        let action = params
            .get("Action")
            .or_else(|| header(headers, "x-acs-action"))
            .filter(|a| !a.is_empty())
            .ok_or_else(|| params::missing("Action"))?
            .to_owned();
        let version = params
            .get("Version")
            .or_else(|| header(headers, "x-acs-version"))
            .filter(|v| !v.is_empty())
            .ok_or_else(|| params::missing("Version"))?
            .to_owned();
        let ops = operations();
        let candidates: Vec<&Operation> = ops.iter().filter(|o| o.action == action).collect();
        if candidates.is_empty() {
            return Err(err(
                StatusCode::NOT_FOUND,
                "InvalidAction.NotFound",
                format!("Specified api {action} is not found, please check your url and method."),
            ));
        }
        let op = candidates
            .into_iter()
            .find(|o| o.version == version)
            .ok_or_else(|| {
                err(
                    StatusCode::BAD_REQUEST,
                    "InvalidVersion",
                    format!("Specified parameter Version {version} is not valid for {action}."),
                )
            })?;
        Ok(RpcRequest {
            query,
            params,
            op: *op,
        })
    }

    /// What the signature covers.
    fn signed<'r>(
        &'r self,
        method: &'r Method,
        uri: &'r Uri,
        headers: &'r HeaderMap,
        body: &'r [u8],
    ) -> signature::SignedRequest<'r> {
        signature::SignedRequest {
            method: method.as_str(),
            path: uri.path(),
            query: &self.query,
            params: &self.params,
            headers,
            body,
        }
    }

    /// The RAM check of the caller's policy.
    fn authorize(&self, caller: &Caller) -> Result<(), ApiError> {
        let op = &self.op;
        if !(op.ram_exempt)(&self.params) && !caller.allows(op.ram_action) {
            return Err(
                err(StatusCode::FORBIDDEN, op.denied.0, op.denied.1).with_access_denied(json!({
                    "AuthAction": op.ram_action,
                    "AuthPrincipalType": "AccessKey",
                    "AuthPrincipalDisplayName": caller.principal,
                    "NoPermissionType": "ImplicitDeny",
                    "PolicyType": "AccountLevelIdentityBasedPolicy",
                })),
            );
        }
        Ok(())
    }
}
