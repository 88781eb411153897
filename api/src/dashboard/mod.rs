//! `GET /`: the procurement screen — one static page (HTML, CSS and JavaScript in one file, no
//! build step, no external assets) that signs in with a tenant key and reads the same `/v1` routes
//! as any client:
//!
//! - the replenishment table (as Odoo's replenishment report): one row per open reorder alert, most
//!   urgent first, with on hand, reserved, on order, projected, reorder point, max level, suggested
//!   quantity, lead time and what was done about it; Acknowledge (with an optional note) and Snooze
//!   (1 hour to 1 week) buttons; a "needs attention" filter, on by default;
//! - stock, paginated, with a warehouse filter and search; clicking a row lists its history;
//! - settlement totals by day, a chart with one lane per currency, and their table;
//! - money in its currency from minor units (ISO 4217 decimals, never through a float), a CSV
//!   export of each view as filtered, and a freshness indicator from `as_of`.
//!
//! Each list is read once; the alert, stock and settlement change streams then keep it live
//! (read with `fetch`, so the key travels in a header, resuming with `Last-Event-ID`).

use axum::http::header;
use axum::response::IntoResponse;

const PAGE: &str = include_str!("index.html");

/// The page.
pub(crate) async fn page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], PAGE)
}
