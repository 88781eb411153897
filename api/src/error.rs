//! Errors: what a handler answers when it cannot answer as asked, and how the OpenAPI document
//! describes them.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};

/// What the API answers when it cannot answer as asked: a status and a JSON `{"error": …}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No, or a wrong, bearer key (or admin token).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The request is malformed: a bad parameter, path or body.
    #[error("{0}")]
    BadRequest(String),
    /// The request is well formed but refused: the caller may not do that, whoever it is.
    #[error("{0}")]
    Forbidden(String),
    /// The request is valid but conflicts with the current state (results not yet as fresh as
    /// asked, and they cannot be within the wait).
    #[error("{0}")]
    Conflict(String),
    /// Nothing is known under that name.
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not for that method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The route needs a part this process was started without (the audit log or the history
    /// routes without a database).
    #[error("{0}")]
    NotImplemented(&'static str),
    /// The service cannot answer yet.
    #[error("{0}")]
    Unavailable(&'static str),
    /// The pipeline is stalled or failed: why.
    #[error("{0}")]
    NotReady(String),
    /// The tenant is over its rate limit; it may retry after the given time.
    #[error("rate limit exceeded; retry in {} ms", .0.as_millis())]
    TooManyRequests(std::time::Duration),
    /// The request body is larger than the API reads.
    #[error("request body of {0} bytes is over the limit of {max} bytes", max = crate::limits::MAX_BODY_BYTES)]
    PayloadTooLarge(usize),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable(_) | ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(serde_json::json!({ "error": self.to_string() }))).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            metrics::counter!("flowmart_api_rate_limited_total").increment(1);
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::TooManyRequests(wait) = self {
            // Whole seconds, rounded up: a client that waits that long gets through.
            let seconds = wait.as_millis().div_ceil(1000).max(1);
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds as u64));
        }
        response
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

/// Every error's body: `{"error": "<what went wrong>"}` (the OpenAPI schema of [`ApiError`]'s).
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong, for a person.
    error: String,
}

/// The errors every tenant read route may answer (OpenAPI only: handlers answer [`ApiError`]).
#[derive(IntoResponses)]
#[expect(dead_code, reason = "describes responses for the OpenAPI document; never constructed")]
pub(crate) enum TenantReadErrors {
    /// 400.
    #[response(status = 400, description = "a bad parameter")]
    BadRequest(ErrorBody),
    /// 401.
    #[response(status = 401, description = "no or a wrong key")]
    Unauthorized(ErrorBody),
    /// 409.
    #[response(status = 409, description = "min_as_of is ahead of the server's clock")]
    Conflict(ErrorBody),
    /// 429.
    #[response(status = 429, description = "over the tenant's rate limit (see Retry-After)")]
    TooManyRequests(ErrorBody),
    /// 503.
    #[response(status = 503, description = "not as fresh as min_as_of within 5 s")]
    Unavailable(ErrorBody),
}

/// The errors every route that takes a tenant's key may answer (OpenAPI only).
#[derive(IntoResponses)]
#[expect(dead_code, reason = "describes responses for the OpenAPI document; never constructed")]
pub(crate) enum TenantKeyErrors {
    /// 401.
    #[response(status = 401, description = "no or a wrong key")]
    Unauthorized(ErrorBody),
    /// 429.
    #[response(status = 429, description = "over the tenant's rate limit (see Retry-After)")]
    TooManyRequests(ErrorBody),
}

/// The error every admin route may answer (OpenAPI only).
#[derive(IntoResponses)]
#[expect(dead_code, reason = "describes responses for the OpenAPI document; never constructed")]
pub(crate) enum AdminErrors {
    /// 401.
    #[response(status = 401, description = "no or a wrong admin token")]
    Unauthorized(ErrorBody),
}
