//! One batch, one transaction: every table's writer in turn.

use flowmart_runtime::{ChangeBatch, InputTopic, Topics};
use flowmart_schemas::{Outputs, Retention};
use sqlx::PgConnection;

use crate::tables::{
    alert_outbox, event_ids, orders, policies, progress, reorder_alerts, settlement_totals, stock_levels,
};

/// Writes the batch's results, what recovery needs, progress and frontier in one transaction;
/// returns result rows written.
pub(crate) async fn commit(
    connection: &mut PgConnection,
    batch: &ChangeBatch,
    topics: &Topics,
    retention: Retention,
) -> Result<usize, sqlx::Error> {
    // Every output named, so a new one is a compile error here until it has a table (refused
    // records reach sinks as dead letters, which the DLQ sink publishes: no table).
    let Outputs { stock, settlements, alerts, orders, policies, inventory_ids, payment_ids, refused: _ } =
        &batch.changes;
    let mut transaction = sqlx::Connection::begin(connection).await?;
    let mut rows = stock_levels::write(&mut transaction, stock).await?;
    rows += settlement_totals::write(&mut transaction, settlements).await?;
    rows += reorder_alerts::write(&mut transaction, alerts).await?;
    alert_outbox::write(&mut transaction, alerts, batch.alerts_before, batch.upper).await?;
    orders::write(&mut transaction, orders, batch.upper, retention.orders_ms).await?;
    policies::write(&mut transaction, policies).await?;
    for (topic, seen) in [(InputTopic::Inventory, inventory_ids), (InputTopic::Payments, payment_ids)] {
        event_ids::write(&mut transaction, topics.name(topic), seen, batch.upper, retention.event_ids_ms).await?;
    }
    // The runtime hands this batch over only once every sink took the one before, the alert sink
    // included: every change before this batch's is on the alerts topic.
    let frontier = progress::Frontier {
        as_of: batch.upper,
        alert_changes: batch.alerts_before + alerts.len() as u64,
        alerts_published: Some(batch.alerts_before),
    };
    progress::write(&mut transaction, &batch.progress, topics, &frontier).await?;
    transaction.commit().await?;
    Ok(rows)
}
