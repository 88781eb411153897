//! `GET /v1/stock/{warehouse_id}/{sku}/history` and `GET /v1/settlements/{currency}/{date}/history`:
//! the lineage behind a position or a settlement row — every record that changed it, oldest first,
//! read from the Postgres sink's `stock_history` and `settlement_history`. Their deltas sum to the
//! value. Without a database: 501.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use flowmart_schemas::{Currency, SettlementDate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::page;
use crate::auth::Tenant;
use crate::error::{ErrorBody, TenantReadErrors};
use crate::history::{HistoryCursor, HistoryPage};
use crate::{ApiError, ApiState, Store};

/// Which part of a position's history.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct StockHistoryFilter {
    /// Only records applied at or after this pipeline time (ms, inclusive).
    from: Option<i64>,
    /// Only records applied before this pipeline time (ms, exclusive).
    to: Option<i64>,
    /// Items per page, 1–5,000 (default 1,000).
    #[param(minimum = 1, maximum = 5000)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "super::query::non_empty")]
    #[param(min_length = 1)]
    cursor: Option<String>,
}

/// Which page of a settlement row's history.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct SettlementHistoryFilter {
    /// Items per page, 1–5,000 (default 1,000).
    #[param(minimum = 1, maximum = 5000)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "super::query::non_empty")]
    #[param(min_length = 1)]
    cursor: Option<String>,
}

/// One record's change to a position.
#[derive(Serialize, ToSchema)]
pub(super) struct StockHistoryItem {
    event_id: String,
    topic: String,
    partition: i32,
    offset: i64,
    /// The inventory kind (`RECEIVED`), or the order's status transition (`order:PLACED`,
    /// `order:PLACED->SHIPPED`).
    kind: String,
    on_hand_delta: i64,
    reserved_delta: i64,
    on_order_delta: i64,
    occurred_at: i64,
    /// The pipeline time (ms) the record was applied at.
    applied_at: i64,
}

/// A page of a position's history, oldest first.
#[derive(Serialize, ToSchema)]
pub(super) struct StockHistory {
    as_of: i64,
    items: Vec<StockHistoryItem>,
    /// Where the next page starts; `None` on the last page.
    next_cursor: Option<String>,
}

/// One payment's change to a settlement row.
#[derive(Serialize, ToSchema)]
pub(super) struct SettlementHistoryItem {
    event_id: String,
    topic: String,
    partition: i32,
    offset: i64,
    /// The payment kind: which total it added to.
    kind: String,
    amount_minor: i64,
    occurred_at: i64,
    /// The pipeline time (ms) the payment was applied at.
    applied_at: i64,
}

/// A page of a settlement row's history, oldest first.
#[derive(Serialize, ToSchema)]
pub(super) struct SettlementHistory {
    as_of: i64,
    items: Vec<SettlementHistoryItem>,
    /// Where the next page starts; `None` on the last page.
    next_cursor: Option<String>,
}

/// The database the history is read from, or 501.
fn store(state: &ApiState) -> Result<&Store, ApiError> {
    state.database.as_ref().ok_or(ApiError::NotImplemented("history needs the Postgres sink (no database configured)"))
}

/// Reads one more row than the page holds: whether there is a next page.
fn page_of(
    limit: Option<usize>,
    cursor: Option<&str>,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<HistoryPage, ApiError> {
    let limit = page::limit(limit)?;
    let after = cursor.map(page::after::<HistoryCursor>).transpose()?;
    Ok(HistoryPage { from, to, after, limit: limit + 1 })
}

/// Keeps the first `limit` rows; the cursor of the last one kept if more came.
fn trimmed<T>(mut rows: Vec<T>, limit: usize, key: impl Fn(&T) -> HistoryCursor) -> (Vec<T>, Option<String>) {
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(|last| page::cursor(&key(last)));
    (rows, next)
}

/// Every record that changed one of the tenant's positions, oldest first.
#[utoipa::path(get, path = "/v1/stock/{warehouse_id}/{sku}/history", security(("tenant_key" = [])),
    params(("warehouse_id" = String, Path, pattern = r"^[^\u0000]+$"), ("sku" = String, Path, pattern = r"^[^\u0000]+$"),
        StockHistoryFilter),
    responses((status = 200, body = StockHistory),
        (status = 501, description = "no Postgres sink", body = ErrorBody), TenantReadErrors))]
pub(super) async fn stock(
    Tenant(tenant_id): Tenant,
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    filter: Result<Query<StockHistoryFilter>, QueryRejection>,
) -> Result<Json<StockHistory>, ApiError> {
    let Path((warehouse_id, sku)) = path?;
    if warehouse_id.contains('\0') || sku.contains('\0') {
        return Err(ApiError::BadRequest("warehouse_id and sku never contain NUL (U+0000)".into()));
    }
    let Query(filter) = filter?;
    let page = page_of(filter.limit, filter.cursor.as_deref(), filter.from, filter.to)?;
    let (as_of, rows) =
        store(&state)?.stock_history(&tenant_id, &warehouse_id, &sku, &page).await.map_err(unreadable)?;
    let (rows, next_cursor) =
        trimmed(rows, page.limit - 1, |row| (row.applied_at, row.partition, row.offset, row.topic.clone()));
    let items = rows
        .into_iter()
        .map(|row| StockHistoryItem {
            event_id: row.event_id,
            topic: row.topic,
            partition: row.partition,
            offset: row.offset,
            kind: row.kind,
            on_hand_delta: row.on_hand_delta,
            reserved_delta: row.reserved_delta,
            on_order_delta: row.on_order_delta,
            occurred_at: row.occurred_at,
            applied_at: row.applied_at,
        })
        .collect();
    Ok(Json(StockHistory { as_of, items, next_cursor }))
}

/// Every payment that changed one of the tenant's settlement rows, oldest first.
#[utoipa::path(get, path = "/v1/settlements/{currency}/{date}/history", security(("tenant_key" = [])),
    params(("currency" = String, Path, pattern = "^[A-Z]{3}$"), ("date" = String, Path, format = Date), SettlementHistoryFilter),
    responses((status = 200, body = SettlementHistory),
        (status = 501, description = "no Postgres sink", body = ErrorBody), TenantReadErrors))]
pub(super) async fn settlement(
    Tenant(tenant_id): Tenant,
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    filter: Result<Query<SettlementHistoryFilter>, QueryRejection>,
) -> Result<Json<SettlementHistory>, ApiError> {
    let Path((currency, date)) = path?;
    let Query(filter) = filter?;
    let currency = Currency::parse(&currency)
        .ok_or_else(|| ApiError::BadRequest(format!("currency must be 3 upper-case letters, got {currency:?}")))?;
    let date = SettlementDate::parse(&date)
        .ok_or_else(|| ApiError::BadRequest(format!("date must be a date YYYY-MM-DD, got {date:?}")))?;
    let page = page_of(filter.limit, filter.cursor.as_deref(), None, None)?;
    let (as_of, rows) =
        store(&state)?.settlement_history(&tenant_id, currency, date, &page).await.map_err(unreadable)?;
    let (rows, next_cursor) =
        trimmed(rows, page.limit - 1, |row| (row.applied_at, row.partition, row.offset, row.topic.clone()));
    let items = rows
        .into_iter()
        .map(|row| SettlementHistoryItem {
            event_id: row.event_id,
            topic: row.topic,
            partition: row.partition,
            offset: row.offset,
            kind: row.kind,
            amount_minor: row.amount_minor,
            occurred_at: row.occurred_at,
            applied_at: row.applied_at,
        })
        .collect();
    Ok(Json(SettlementHistory { as_of, items, next_cursor }))
}

/// A database failure: 503, logged with its cause (the client learns only that it failed).
fn unreadable(error: sqlx::Error) -> ApiError {
    tracing::warn!(%error, "cannot read the history");
    ApiError::Unavailable("cannot read the history from the database; retry")
}
