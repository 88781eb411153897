//! `alert_outbox`: the last alert changes, numbered, for the alert sink to publish exactly once
//! and for a restarted index to resume streams and webhooks from.

use flowmart_schemas::{Id, ReorderAlert, ReorderAlertStatus, Time};
use sqlx::{PgConnection, Row};

use super::{id, texts};
use crate::RecoverError;

/// How many recent alert changes the outbox keeps (as many as the serving index keeps).
const ALERTS_KEPT: u64 = 65_536;

/// Stores the batch's `changes`, numbered from `alerts_before + 1` and committed at `upper`, and
/// forgets what falls out of the window.
pub(crate) async fn write(
    connection: &mut PgConnection,
    changes: &[ReorderAlert],
    alerts_before: u64,
    upper: Time,
) -> Result<(), sqlx::Error> {
    // Only the changes above the published mark can be missing from the alerts topic: those of
    // the batch before, and of the last commit before a restart — far fewer than are kept.
    sqlx::query("DELETE FROM alert_outbox WHERE sequence <= $1")
        .bind(alerts_before.saturating_sub(ALERTS_KEPT) as i64)
        .execute(&mut *connection)
        .await?;
    if changes.is_empty() {
        return Ok(());
    }
    let number = |field: fn(&ReorderAlert) -> i64| changes.iter().map(field).collect::<Vec<_>>();
    let text = |field: fn(&ReorderAlert) -> &Id| texts(changes, |alert| field(alert).as_str());
    sqlx::query(
        "INSERT INTO alert_outbox (sequence, alert_id, tenant_id, warehouse_id, sku, status, projected, reorder_point, suggested_quantity, changed_at, committed_as_of)
         SELECT *, $11 FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::int8[], $9::int8[], $10::int8[])
         ON CONFLICT (sequence) DO NOTHING",
    )
    .bind((1..=changes.len() as u64).map(|index| (alerts_before + index) as i64).collect::<Vec<_>>())
    .bind(text(|alert| &alert.alert_id))
    .bind(text(|alert| &alert.tenant_id))
    .bind(text(|alert| &alert.warehouse_id))
    .bind(text(|alert| &alert.sku))
    .bind(changes.iter().map(|alert| alert.status.as_str()).collect::<Vec<_>>())
    .bind(number(|alert| alert.projected))
    .bind(number(|alert| alert.reorder_point))
    .bind(number(|alert| alert.suggested_quantity))
    .bind(number(|alert| alert.changed_at))
    .bind(upper as i64)
    .execute(connection)
    .await?;
    Ok(())
}

/// What the outbox holds, numbered and in order: every change kept, and those that may not have
/// reached the alerts topic.
pub(crate) struct Outbox {
    pub(crate) recent: Vec<(u64, ReorderAlert)>,
    pub(crate) unconfirmed: Vec<(u64, ReorderAlert)>,
}

/// Reads the outbox; the changes above `published` (when known; else those of the last commit, as
/// a database written before the mark was kept) are the unconfirmed ones.
pub(crate) async fn read(connection: &mut PgConnection, published: Option<u64>) -> Result<Outbox, RecoverError> {
    let rows = sqlx::query(
        "SELECT sequence, alert_id, tenant_id, warehouse_id, sku, status, projected, reorder_point, suggested_quantity, changed_at, committed_as_of
         FROM alert_outbox ORDER BY sequence",
    )
    .fetch_all(connection)
    .await?;
    let stored = rows
        .into_iter()
        .map(|row| {
            let status: &str = row.get("status");
            let alert = ReorderAlert {
                alert_id: id(&row, "alert_id"),
                tenant_id: id(&row, "tenant_id"),
                warehouse_id: id(&row, "warehouse_id"),
                sku: id(&row, "sku"),
                status: ReorderAlertStatus::from_symbol(status)
                    .ok_or_else(|| RecoverError::Corrupt(format!("alert status {status:?}")))?,
                projected: row.get("projected"),
                reorder_point: row.get("reorder_point"),
                suggested_quantity: row.get("suggested_quantity"),
                changed_at: row.get("changed_at"),
            };
            Ok((row.get::<i64, _>("committed_as_of"), (row.get::<i64, _>("sequence") as u64, alert)))
        })
        .collect::<Result<Vec<_>, RecoverError>>()?;
    let last_commit = stored.iter().map(|(committed_as_of, _)| *committed_as_of).max();
    let unconfirmed = stored
        .iter()
        .filter(|(committed_as_of, (sequence, _))| match published {
            Some(published) => *sequence > published,
            None => Some(*committed_as_of) == last_commit,
        })
        .map(|(_, numbered)| numbered.clone())
        .collect();
    Ok(Outbox { recent: stored.into_iter().map(|(_, numbered)| numbered).collect(), unconfirmed })
}
