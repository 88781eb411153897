//! `GET /docs`: the API's reference, browsable — one static page that reads `/openapi.json` and
//! lays out every route with its parameters, request body and responses (no build step, nothing
//! fetched from elsewhere).

use axum::http::header;
use axum::response::IntoResponse;

const PAGE: &str = include_str!("index.html");

/// The page.
pub(crate) async fn page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], PAGE)
}
