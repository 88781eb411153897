//! `recovery_orders`: the current state of each order within the order retention.

use flowmart_schemas::{OrderState, RecoveredOrder, Time};
use sqlx::{PgConnection, Row};

use super::{id, texts};
use crate::RecoverError;

/// Stores the batch's changed orders, and forgets those the upsert no longer remembers at
/// `upper` (unchanged for `retention_ms`).
pub(crate) async fn write(
    connection: &mut PgConnection,
    changes: &[RecoveredOrder],
    upper: Time,
    retention_ms: Option<Time>,
) -> Result<(), sqlx::Error> {
    if !changes.is_empty() {
        let states = changes
            .iter()
            .map(|(_, (state, _))| serde_json::to_string(state).map_err(|error| sqlx::Error::Encode(Box::new(error))))
            .collect::<Result<Vec<_>, _>>()?;
        sqlx::query(
            "INSERT INTO recovery_orders (tenant_id, order_id, state, changed_at)
             SELECT tenant_id, order_id, state::jsonb, changed_at
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[]) AS changed(tenant_id, order_id, state, changed_at)
             ON CONFLICT (tenant_id, order_id) DO UPDATE SET state = EXCLUDED.state, changed_at = EXCLUDED.changed_at",
        )
        .bind(texts(changes, |((tenant_id, _), _)| tenant_id))
        .bind(texts(changes, |((_, order_id), _)| order_id))
        .bind(states)
        .bind(changes.iter().map(|(_, (_, changed_at))| *changed_at as i64).collect::<Vec<_>>())
        .execute(&mut *connection)
        .await?;
    }
    // An order unchanged for the retention is forgotten by the upsert once time reaches
    // changed_at + retention; every later record comes at or after `upper`.
    if let Some(retention) = retention_ms {
        sqlx::query("DELETE FROM recovery_orders WHERE changed_at <= $1")
            .bind(upper.saturating_sub(retention) as i64)
            .execute(connection)
            .await?;
    }
    Ok(())
}

/// Every order changed after `forgotten_before`.
pub(crate) async fn read(
    connection: &mut PgConnection,
    forgotten_before: i64,
) -> Result<Vec<RecoveredOrder>, RecoverError> {
    let rows = sqlx::query(
        "SELECT tenant_id, order_id, state::text AS state, changed_at FROM recovery_orders WHERE changed_at > $1",
    )
    .bind(forgotten_before)
    .fetch_all(connection)
    .await?;
    rows.into_iter()
        .map(|row| {
            let state = serde_json::from_str::<OrderState>(row.get("state"))
                .map_err(|error| RecoverError::Corrupt(format!("order state: {error}")))?;
            Ok(((id(&row, "tenant_id"), id(&row, "order_id")), (state, row.get::<i64, _>("changed_at") as Time)))
        })
        .collect()
}
