//! `GET /v1/stock` and `GET /v1/stock/{warehouse_id}/{sku}`.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use flowmart_schemas::Id;
use flowmart_schemas::StockLevels;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use std::ops::Bound;

use super::fresh::{self, Freshness};
use super::page;
use crate::auth::Tenant;
use crate::error::{ErrorBody, TenantReadErrors};
use crate::{ApiError, ApiState};

/// Filters of the stock list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct StockFilter {
    /// Only this warehouse.
    #[serde(default, deserialize_with = "super::query::non_empty")]
    #[param(min_length = 1)]
    warehouse_id: Option<String>,
    /// Only this sku.
    #[serde(default, deserialize_with = "super::query::non_empty")]
    #[param(min_length = 1)]
    sku: Option<String>,
    /// Wait (up to 5 s) for results complete up to at least this pipeline time (ms): 409 at once
    /// if it is ahead of the server's clock.
    #[param(maximum = 4_102_444_799_999_u64)]
    min_as_of: Option<u64>,
    /// Items per page, 1–5,000 (default 1,000).
    #[param(minimum = 1, maximum = 5000)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "super::query::non_empty")]
    #[param(min_length = 1)]
    cursor: Option<String>,
}

/// One position's stock.
#[derive(Serialize, ToSchema)]
pub(super) struct StockItem {
    #[schema(value_type = String)]
    warehouse_id: Id,
    #[schema(value_type = String)]
    sku: Id,
    on_hand: i64,
    reserved: i64,
    on_order: i64,
    available: i64,
    projected: i64,
}

impl StockItem {
    pub(super) fn new(warehouse_id: &Id, sku: &Id, levels: &StockLevels) -> Self {
        StockItem {
            warehouse_id: warehouse_id.clone(),
            sku: sku.clone(),
            on_hand: levels.on_hand,
            reserved: levels.reserved,
            on_order: levels.on_order,
            available: levels.available(),
            projected: levels.projected(),
        }
    }
}

/// A page of the tenant's stock, by warehouse then sku.
#[derive(Serialize, ToSchema)]
pub(super) struct StockList {
    as_of: u64,
    items: Vec<StockItem>,
    /// Where the next page starts; `None` on the last page.
    next_cursor: Option<String>,
}

/// The tenant's stock levels.
#[utoipa::path(get, path = "/v1/stock", params(StockFilter), security(("tenant_key" = [])),
    responses((status = 200, body = StockList), TenantReadErrors))]
pub(super) async fn list(
    Tenant(tenant_id): Tenant,
    State(state): State<ApiState>,
    filter: Result<Query<StockFilter>, QueryRejection>,
) -> Result<Json<StockList>, ApiError> {
    let Query(filter) = filter?;
    let limit = page::limit(filter.limit)?;
    let after = filter.cursor.as_deref().map(page::after::<(Id, Id)>).transpose()?;
    let snapshot = fresh::snapshot(&state, filter.min_as_of).await?;
    let mut items = Vec::new();
    let mut next_cursor = None;
    if let Some(view) = snapshot.tenant(&tenant_id) {
        let start = match after {
            Some(key) => Bound::Excluded(key),
            None => Bound::Unbounded,
        };
        let matching = view.stock.range::<_, (Id, Id)>((start, Bound::Unbounded)).filter(|((warehouse_id, sku), _)| {
            filter.warehouse_id.as_deref().is_none_or(|wanted| wanted == warehouse_id.as_str())
                && filter.sku.as_deref().is_none_or(|wanted| wanted == sku.as_str())
        });
        for ((warehouse_id, sku), levels) in matching {
            if items.len() == limit {
                next_cursor = items.last().map(|last: &StockItem| page::cursor(&(&last.warehouse_id, &last.sku)));
                break;
            }
            items.push(StockItem::new(warehouse_id, sku, levels));
        }
    }
    Ok(Json(StockList { as_of: snapshot.as_of, items, next_cursor }))
}

/// One position's stock, with the time it is complete up to.
#[derive(Serialize, ToSchema)]
pub(super) struct StockPoint {
    as_of: u64,
    #[serde(flatten)]
    item: StockItem,
}

/// One position's stock level.
#[utoipa::path(get, path = "/v1/stock/{warehouse_id}/{sku}", security(("tenant_key" = [])),
    params(("warehouse_id" = String, Path), ("sku" = String, Path), Freshness),
    responses((status = 200, body = StockPoint), (status = 404, description = "never seen", body = ErrorBody), TenantReadErrors))]
pub(super) async fn one(
    Tenant(tenant_id): Tenant,
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    freshness: Result<Query<Freshness>, QueryRejection>,
) -> Result<Json<StockPoint>, ApiError> {
    let Path((warehouse_id, sku)) = path?;
    let Query(freshness) = freshness?;
    let snapshot = fresh::snapshot(&state, freshness.min_as_of).await?;
    let key = (Id::from(warehouse_id.as_str()), Id::from(sku.as_str()));
    let levels = snapshot
        .tenant(&tenant_id)
        .and_then(|view| view.stock.get(&key))
        .ok_or_else(|| ApiError::NotFound(format!("no stock seen for warehouse {warehouse_id:?}, sku {sku:?}")))?;
    Ok(Json(StockPoint { as_of: snapshot.as_of, item: StockItem::new(&key.0, &key.1, levels) }))
}
