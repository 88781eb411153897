//! Request metrics: latency by route and status.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// Records `flowmart_api_request_seconds{route, status}` for every request.
pub(crate) async fn record_latency(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("flowmart_api_request_seconds", "route" => route, "status" => status)
        .record(started.elapsed().as_secs_f64());
    response
}
