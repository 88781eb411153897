//! `/healthz`, `/readyz`, `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::error::ErrorBody;
use crate::{ApiError, ApiState};

/// Alive: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "`{\"status\": \"ok\"}`")))]
pub(super) async fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Ready: the pipeline has published results, and is not stalled (a sink failing, or no results
/// published, for longer than `runtime.stall_after_ms`) nor failed.
#[utoipa::path(get, path = "/readyz", responses((status = 200, description = "`{\"status\": \"ready\", \"as_of\"}`"),
    (status = 503, description = "no results yet, or the pipeline is stalled or failed: the reason", body = ErrorBody)))]
pub(super) async fn ready(State(state): State<ApiState>) -> Result<Json<serde_json::Value>, ApiError> {
    if let Some(reason) = state.pipeline.as_ref().and_then(|pipeline| pipeline.unhealthy()) {
        return Err(ApiError::NotReady(reason));
    }
    match state.index.snapshot().as_of {
        0 => Err(ApiError::Unavailable("the pipeline has not published results yet")),
        as_of => Ok(Json(serde_json::json!({ "status": "ready", "as_of": as_of }))),
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text", content_type = "text/plain")))]
pub(super) async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}
