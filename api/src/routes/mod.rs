//! The routes of `CONTRACT.md` §4, one file per resource.

mod admin;
mod alert_actions;
mod alerts;
mod audit;
mod change_stream;
mod fresh;
mod health;
mod history;
mod openapi;
pub(crate) mod page;
mod query;
mod settlements;
mod stock;
mod stream;
mod webhooks;

use axum::Router;
use axum::routing::{delete, get, post};

use crate::observe::record_latency;
use crate::{ApiError, ApiState};

/// A request body that must be a JSON object: serde alone would also read a struct from an array
/// of its fields (`[null]` as `{"note": null}`), which the OpenAPI document does not allow.
fn object_body<T: serde::de::DeserializeOwned>(
    body: Result<axum::Json<serde_json::Value>, axum::extract::rejection::JsonRejection>,
) -> Result<T, ApiError> {
    let axum::Json(value) = body.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    if !value.is_object() {
        return Err(ApiError::BadRequest("the body must be a JSON object".into()));
    }
    serde_json::from_value(value).map_err(|error| ApiError::BadRequest(format!("invalid body: {error}")))
}

/// The whole API.
pub fn router(state: ApiState) -> Router {
    let routes = Router::new()
        .route("/v1/stock", get(stock::list))
        .route("/v1/stock/stream", get(change_stream::stock))
        .route("/v1/stock/{warehouse_id}/{sku}", get(stock::one))
        .route("/v1/stock/{warehouse_id}/{sku}/history", get(history::stock))
        .route("/v1/reorder-alerts", get(alerts::list))
        .route("/v1/reorder-alerts/{alert_id}/acknowledge", post(alert_actions::acknowledge))
        .route("/v1/reorder-alerts/{alert_id}/snooze", post(alert_actions::snooze))
        .route("/v1/settlements", get(settlements::list))
        .route("/v1/settlements/stream", get(change_stream::settlements))
        .route("/v1/settlements/{currency}/{date}/history", get(history::settlement))
        .route("/v1/alerts/stream", get(stream::alerts))
        .route("/v1/webhooks", post(webhooks::register).get(webhooks::list))
        .route("/v1/webhooks/{webhook_id}", delete(webhooks::remove))
        .route("/v1/webhooks/{webhook_id}/deliveries", get(webhooks::deliveries))
        .route("/v1/admin/tenants/{tenant_id}/api-keys", post(admin::issue_key).get(admin::list_keys))
        .route("/v1/admin/tenants/{tenant_id}/api-keys/{key_id}", delete(admin::revoke_key))
        .route("/v1/admin/tenants", get(admin::tenants))
        .route("/v1/audit", get(audit::tenant))
        .route("/v1/admin/audit", get(audit::admin))
        .route("/v1/admin/progress", get(admin::progress))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi::document))
        .route("/", get(crate::dashboard::page))
        .route("/docs", get(crate::docs::page))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    let routes = match state.cluster.clone() {
        Some(cluster) => {
            let routing = (cluster, state.keys.clone(), state.sessions.clone());
            routes.layer(axum::middleware::from_fn_with_state(routing, crate::cluster::route))
        }
        None => routes,
    };
    let http = state.http.clone();
    let routes = routes
        .layer(axum::extract::DefaultBodyLimit::max(crate::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(crate::limits::refuse_large_bodies))
        .layer(axum::middleware::from_fn(record_latency))
        .with_state(state);
    crate::http::conventions(routes, &http)
}

/// Wall-clock time, ms since the epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_millis() as i64)
}
