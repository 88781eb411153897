//! HTTP conventions around every route: CORS for the configured origins, gzip and brotli
//! compression, a tracing span per request, and a time limit on producing an answer.

use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::ApiError;

/// How the API meets browsers and proxies.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Origins a browser app may call the API from (`https://dash.example.com`); none by default,
    /// so browsers allow same-origin pages only.
    pub cors_origins: Vec<HeaderValue>,
    /// How long a request may take to get its answer's head (a stream's body then flows on
    /// unlimited). Default 30 s.
    pub request_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings { cors_origins: Vec::new(), request_timeout: Duration::from_secs(30) }
    }
}

/// `router` wrapped in the conventions `settings` ask for. Compression skips event streams
/// (tower-http's default predicate), so live events are never held back by an encoder.
pub(crate) fn conventions(router: Router, settings: &HttpSettings) -> Router {
    let router = router
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn_with_state(settings.request_timeout, time_limit))
        .layer(TraceLayer::new_for_http());
    if settings.cors_origins.is_empty() {
        return router;
    }
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(settings.cors_origins.iter().cloned()))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("last-event-id")])
        .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-flowmart-process")])
        .max_age(Duration::from_secs(600));
    router.layer(cors)
}

/// Answers 503 (JSON, as every error) when the answer's head takes longer than `limit`.
async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable("the request took longer than the server's time limit").into_response(),
    }
}
