//! `GET /v1/reorder-alerts`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use flowmart_schemas::Id;
use flowmart_schemas::{AlertState, AlertView, StockLevels};
use flowmart_serving::{AlertAnnotation, TenantView};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{fresh, page};
use crate::auth::Tenant;
use crate::error::TenantReadErrors;
use crate::{ApiError, ApiState};

/// Which alerts to list.
#[derive(Deserialize, Clone, Copy, Default, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(super) enum StatusFilter {
    #[default]
    Open,
    Resolved,
    All,
}

/// Filters of the alert list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct AlertFilter {
    /// `open` (default), `resolved` or `all`.
    #[serde(default)]
    #[param(inline)]
    status: StatusFilter,
    /// `true`: only open alerts neither acknowledged nor snoozed (a snooze that has passed
    /// counts as not snoozed).
    #[serde(default)]
    needs_attention: bool,
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

/// One reorder alert, with the position and policy behind it and what procurement did about it.
#[derive(Serialize, ToSchema)]
pub(super) struct AlertItem {
    #[schema(value_type = String)]
    alert_id: Id,
    #[schema(value_type = String)]
    warehouse_id: Id,
    #[schema(value_type = String)]
    sku: Id,
    /// `OPEN` or `RESOLVED`.
    status: &'static str,
    projected: i64,
    reorder_point: i64,
    suggested_quantity: i64,
    opened_at: u64,
    resolved_at: Option<u64>,
    /// The position now (zeros for one no event has touched).
    on_hand: i64,
    reserved: i64,
    on_order: i64,
    /// The policy's max level, when it has one (and the policy is still there).
    max_level: Option<i64>,
    /// The supplier's lead time in days, when the policy gives one.
    lead_time_days: Option<i32>,
    /// When it was acknowledged (ms since the epoch).
    acknowledged_at: Option<i64>,
    /// The id of the key that acknowledged it.
    acknowledged_by: Option<String>,
    /// The last note given with an acknowledgement or a snooze.
    note: Option<String>,
    /// Until when it is snoozed (ms since the epoch).
    snoozed_until: Option<i64>,
}

impl AlertItem {
    /// `alert` of the tenant `view`, annotated with `annotation`.
    pub(super) fn new(alert: &AlertView, view: &TenantView, annotation: Option<&AlertAnnotation>) -> AlertItem {
        let position = (alert.warehouse_id.clone(), alert.sku.clone());
        let levels = view.stock.get(&position).copied().unwrap_or_default();
        let policy = view.policies.get(&position);
        let annotation = annotation.cloned().unwrap_or_default();
        let StockLevels { on_hand, reserved, on_order, .. } = levels;
        AlertItem {
            alert_id: alert.alert_id.clone(),
            warehouse_id: alert.warehouse_id.clone(),
            sku: alert.sku.clone(),
            status: match alert.state {
                AlertState::Open => "OPEN",
                AlertState::Resolved => "RESOLVED",
            },
            projected: alert.projected,
            reorder_point: alert.reorder_point,
            suggested_quantity: alert.suggested_quantity,
            opened_at: alert.opened_at,
            resolved_at: alert.resolved_at,
            on_hand,
            reserved,
            on_order,
            max_level: policy.and_then(|policy| policy.max_level),
            lead_time_days: policy.and_then(|policy| policy.lead_time_days),
            acknowledged_at: annotation.acknowledged_at,
            acknowledged_by: annotation.acknowledged_by,
            note: annotation.note,
            snoozed_until: annotation.snoozed_until,
        }
    }
}

/// A page of the tenant's alerts, most urgent first.
#[derive(Serialize, ToSchema)]
pub(super) struct AlertList {
    as_of: u64,
    items: Vec<AlertItem>,
    /// Where the next page starts; `None` on the last page.
    next_cursor: Option<String>,
}

/// Open alerts first, most urgent (furthest below the reorder point) first; then resolved ones,
/// most recently resolved first.
/// Ties broken by alert id, so the order is total and a page cursor is the key of its last item.
type Urgency = (bool, i64, std::cmp::Reverse<Option<u64>>, Id);

fn urgency(alert: &AlertView) -> Urgency {
    (
        alert.state == AlertState::Resolved,
        alert.projected - alert.reorder_point,
        std::cmp::Reverse(alert.resolved_at),
        alert.alert_id.clone(),
    )
}

/// The tenant's reorder alerts: open ones most urgent (furthest below the reorder point) first.
#[utoipa::path(get, path = "/v1/reorder-alerts", params(AlertFilter), security(("tenant_key" = [])),
    responses((status = 200, body = AlertList), TenantReadErrors))]
pub(super) async fn list(
    Tenant(tenant_id): Tenant,
    State(state): State<ApiState>,
    filter: Result<Query<AlertFilter>, QueryRejection>,
) -> Result<Json<AlertList>, ApiError> {
    let Query(filter) = filter?;
    let limit = page::limit(filter.limit)?;
    let after = filter.cursor.as_deref().map(page::after::<Urgency>).transpose()?;
    let snapshot = fresh::snapshot(&state, filter.min_as_of).await?;
    let Some(view) = snapshot.tenant(&tenant_id) else {
        return Ok(Json(AlertList { as_of: snapshot.as_of, items: Vec::new(), next_cursor: None }));
    };
    let annotations = state.index.annotations_of(&tenant_id);
    let now = super::now_ms();
    let mut alerts = view
        .alerts
        .values()
        .filter(|alert| match filter.status {
            StatusFilter::Open => alert.state == AlertState::Open,
            StatusFilter::Resolved => alert.state == AlertState::Resolved,
            StatusFilter::All => true,
        })
        .filter(|alert| {
            !filter.needs_attention
                || (alert.state == AlertState::Open
                    && !annotations.get(&alert.alert_id).is_some_and(|annotation| annotation.settles(now)))
        })
        .map(|alert| (urgency(alert), alert))
        .filter(|(key, _)| after.as_ref().is_none_or(|after| key > after))
        .collect::<Vec<_>>();
    alerts.sort_by(|(a, _), (b, _)| a.cmp(b));
    let next_cursor = (alerts.len() > limit).then(|| page::cursor(&alerts[limit - 1].0));
    let items = alerts
        .into_iter()
        .take(limit)
        .map(|(_, alert)| AlertItem::new(alert, view, annotations.get(&alert.alert_id)))
        .collect();
    Ok(Json(AlertList { as_of: snapshot.as_of, items, next_cursor }))
}
