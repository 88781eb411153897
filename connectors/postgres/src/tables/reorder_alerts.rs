//! `reorder_alerts`: each alert's latest state (the API's rows).

use std::collections::BTreeMap;

use flowmart_schemas::{
    AlertState, AlertView, Id, OpenAlert, PositionKey, ReorderAlert, ReorderAlertStatus, ReorderCheck, Time,
};
use sqlx::{PgConnection, Row};

use super::{id, texts};

/// The change an alert ends the batch with, the first one the batch has of it, and when it
/// resolved if it did.
struct AlertRow<'a> {
    first: &'a ReorderAlert,
    last: &'a ReorderAlert,
    resolved_at: Option<i64>,
}

/// Folds the batch's alert changes (in order) into each alert's final row; returns rows written.
pub(crate) async fn write(connection: &mut PgConnection, changes: &[ReorderAlert]) -> Result<usize, sqlx::Error> {
    let mut alerts = BTreeMap::<&Id, AlertRow<'_>>::new();
    for change in changes {
        let row = alerts.entry(&change.alert_id).or_insert(AlertRow { first: change, last: change, resolved_at: None });
        row.last = change;
        if change.status == ReorderAlertStatus::Resolved {
            row.resolved_at = Some(change.changed_at);
        }
    }
    if alerts.is_empty() {
        return Ok(0);
    }
    let rows = alerts.values().collect::<Vec<_>>();
    let number = |field: fn(&ReorderAlert) -> i64| rows.iter().map(|row| field(row.last)).collect::<Vec<_>>();
    let written = sqlx::query(
        "INSERT INTO reorder_alerts (alert_id, tenant_id, warehouse_id, sku, status, projected, reorder_point, suggested_quantity, opened_at, resolved_at)
         SELECT alert_id, tenant_id, warehouse_id, sku, status, projected, reorder_point, suggested_quantity, opened_at, resolved_at
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[])
           AS changed(alert_id, tenant_id, warehouse_id, sku, status, projected, reorder_point, suggested_quantity, opened_at, resolved_at)
         ON CONFLICT (alert_id) DO UPDATE SET
           status = EXCLUDED.status, projected = EXCLUDED.projected, reorder_point = EXCLUDED.reorder_point,
           suggested_quantity = EXCLUDED.suggested_quantity,
           resolved_at = COALESCE(EXCLUDED.resolved_at, reorder_alerts.resolved_at)",
    )
    .bind(texts(&rows, |row| &row.last.alert_id))
    .bind(texts(&rows, |row| &row.last.tenant_id))
    .bind(texts(&rows, |row| &row.last.warehouse_id))
    .bind(texts(&rows, |row| &row.last.sku))
    .bind(rows.iter().map(|row| if row.resolved_at.is_some() { "RESOLVED" } else { "OPEN" }).collect::<Vec<_>>())
    .bind(number(|alert| alert.projected))
    .bind(number(|alert| alert.reorder_point))
    .bind(number(|alert| alert.suggested_quantity))
    // Used only when the row is new: then the batch's first change of it is its OPENED.
    .bind(rows.iter().map(|row| row.first.changed_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|row| row.resolved_at).collect::<Vec<_>>())
    .execute(connection)
    .await?
    .rows_affected();
    Ok(written as usize)
}

/// Every open alert and every alert resolved at or after `resolved_since`, with its tenant.
pub(crate) async fn read(
    connection: &mut PgConnection,
    resolved_since: Time,
) -> Result<Vec<(Id, AlertView)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT alert_id, tenant_id, warehouse_id, sku, projected, reorder_point, suggested_quantity, opened_at, resolved_at
         FROM reorder_alerts WHERE resolved_at IS NULL OR resolved_at >= $1",
    )
    .bind(resolved_since as i64)
    .fetch_all(connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let resolved_at = row.get::<Option<i64>, _>("resolved_at").map(|at| at as Time);
            let alert = AlertView {
                alert_id: id(&row, "alert_id"),
                warehouse_id: id(&row, "warehouse_id"),
                sku: id(&row, "sku"),
                state: if resolved_at.is_some() { AlertState::Resolved } else { AlertState::Open },
                projected: row.get("projected"),
                reorder_point: row.get("reorder_point"),
                suggested_quantity: row.get("suggested_quantity"),
                opened_at: row.get::<i64, _>("opened_at") as Time,
                resolved_at,
            };
            (id(&row, "tenant_id"), alert)
        })
        .collect())
}

/// The stock operator's alert state: the alert open per position and its last check.
pub(crate) fn open_alerts(alerts: &[(Id, AlertView)]) -> Vec<(PositionKey, OpenAlert)> {
    alerts
        .iter()
        .filter(|(_, alert)| alert.state == AlertState::Open)
        .map(|(tenant_id, alert)| {
            let position = PositionKey::new(tenant_id.clone(), alert.warehouse_id.clone(), alert.sku.clone());
            let last = ReorderCheck {
                projected: alert.projected,
                reorder_point: alert.reorder_point,
                suggested_quantity: alert.suggested_quantity,
            };
            (position, OpenAlert { alert_id: alert.alert_id.clone(), last })
        })
        .collect()
}
