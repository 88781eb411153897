//! `GET /v1/reorder-alerts`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use flowmart_pipelines::serving::{AlertState, AlertView};
use flowmart_schemas::Id;
use serde::{Deserialize, Serialize};

use super::fresh;
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
}

/// Open alerts first, most urgent (furthest below the reorder point) first; then resolved ones,
/// most recently resolved first.
fn urgency(alert: &AlertView) -> (bool, i64, std::cmp::Reverse<Option<u64>>) {
    (alert.state == AlertState::Resolved, alert.projected - alert.reorder_point, std::cmp::Reverse(alert.resolved_at))
}

pub(super) async fn list(
    Tenant(tenant_id): Tenant,
    State(state): State<ApiState>,
    filter: Result<Query<AlertFilter>, QueryRejection>,
) -> Result<Json<AlertList>, ApiError> {
    let Query(filter) = filter?;
    let snapshot = fresh::snapshot(&state, filter.min_as_of).await?;
    let mut alerts = snapshot
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
    alerts.sort_by_key(|alert| urgency(alert));
    Ok(Json(AlertList { as_of: snapshot.as_of, items: alerts.into_iter().map(AlertItem::from).collect() }))
}
