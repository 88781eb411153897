//! `GET /v1/reorder-alerts`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use flowmart_pipelines::serving::{AlertState, AlertView};
use flowmart_schemas::Id;
use serde::{Deserialize, Serialize};

use super::{fresh, page};
use crate::auth::Tenant;
use crate::{ApiError, ApiState};

/// Which alerts to list.
#[derive(Deserialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(super) enum StatusFilter {
    #[default]
    Open,
    Resolved,
    All,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AlertFilter {
    #[serde(default)]
    status: StatusFilter,
    min_as_of: Option<u64>,
    limit: Option<usize>,
    cursor: Option<String>,
}

#[derive(Serialize)]
pub(super) struct AlertItem {
    alert_id: Id,
    warehouse_id: Id,
    sku: Id,
    status: &'static str,
    projected: i64,
    reorder_point: i64,
    suggested_quantity: i64,
    opened_at: u64,
    resolved_at: Option<u64>,
}

impl From<&AlertView> for AlertItem {
    fn from(alert: &AlertView) -> Self {
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
        }
    }
}

#[derive(Serialize)]
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

pub(super) async fn list(
    Tenant(tenant_id): Tenant,
    State(state): State<ApiState>,
    filter: Result<Query<AlertFilter>, QueryRejection>,
) -> Result<Json<AlertList>, ApiError> {
    let Query(filter) = filter?;
    let limit = page::limit(filter.limit)?;
    let after = filter.cursor.as_deref().map(page::after::<Urgency>).transpose()?;
    let snapshot = fresh::snapshot(&state, filter.min_as_of).await?;
    let alerts = snapshot
        .tenant(&tenant_id)
        .map(|view| {
            view.alerts
                .values()
                .filter(|alert| match filter.status {
                    StatusFilter::Open => alert.state == AlertState::Open,
                    StatusFilter::Resolved => alert.state == AlertState::Resolved,
                    StatusFilter::All => true,
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let mut alerts = alerts
        .into_iter()
        .map(|alert| (urgency(alert), alert))
        .filter(|(key, _)| after.as_ref().is_none_or(|after| key > after))
        .collect::<Vec<_>>();
    alerts.sort_by(|(a, _), (b, _)| a.cmp(b));
    let next_cursor = (alerts.len() > limit).then(|| page::cursor(&alerts[limit - 1].0));
    let items = alerts.into_iter().take(limit).map(|(_, alert)| AlertItem::from(alert)).collect();
    Ok(Json(AlertList { as_of: snapshot.as_of, items, next_cursor }))
}
