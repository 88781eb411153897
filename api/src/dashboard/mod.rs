//! `GET /`: the procurement dashboard — one static page (HTML, CSS and JavaScript in one file,
//! no build step) that signs in with a tenant key and reads the same `/v1` routes as any client:
//! live stock with search, open alerts by urgency, settlement totals by day with a chart, a
//! freshness indicator from `as_of`, refreshed on every alert change from the stream.

use axum::http::header;
use axum::response::IntoResponse;

const PAGE: &str = include_str!("index.html");

/// The page.
pub(crate) async fn page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], PAGE)
}
