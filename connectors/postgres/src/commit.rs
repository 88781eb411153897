//! One batch, one transaction: every table's writer in turn.

use flowmart_runtime::{ChangeBatch, InputTopic, Topics};
use flowmart_schemas::{Outputs, Retention};
use sqlx::PgConnection;

use crate::history_partitions;
use crate::tables::{
    alert_outbox, event_ids, orders, policies, progress, reorder_alerts, settlement_history, settlement_totals,
    stock_history, stock_levels,
};

/// Writes the batch's results, what recovery needs, progress and frontier in one transaction,
/// with the first `alerts_published` alert changes known to be on the alerts topic; returns
/// result rows written.
pub(crate) async fn commit(
    connection: &mut PgConnection,
    batch: &ChangeBatch,
    alerts_published: u64,
    topics: &Topics,
    retention: Retention,
) -> Result<usize, sqlx::Error> {
    // Every output named, so a new one is a compile error here until it has a table (refused
    // records reach sinks as dead letters, which the DLQ sink publishes: no table).
    let Outputs {
        stock,
        settlements,
        alerts,
        orders,
        policies,
        inventory_ids,
        payment_ids,
        stock_history,
        settlement_history,
        refused: _,
    } = &batch.changes;
    let mut transaction = sqlx::Connection::begin(connection).await?;
    // Every other table takes a batch applied twice (its commit outcome unknown, so retried) as
    // once; lineage is appended, so it is written only if the stored frontier is not past the
    // batch yet. (One writer: nothing moves the frontier between this read and the commit.)
    let applied_before =
        progress::read_frontier(&mut transaction).await?.is_some_and(|stored| stored.as_of >= batch.upper);
    if !applied_before {
        let mut created = stock_history::write(&mut transaction, stock_history, topics).await?;
        created |= settlement_history::write(&mut transaction, settlement_history, topics).await?;
        if created && let Some(history_ms) = retention.history_ms {
            history_partitions::expire(&mut transaction, batch.upper, history_ms).await?;
        }
    }
    let mut rows = stock_levels::write(&mut transaction, stock).await?;
    rows += settlement_totals::write(&mut transaction, settlements).await?;
    rows += reorder_alerts::write(&mut transaction, alerts).await?;
    alert_outbox::write(&mut transaction, alerts, batch.alerts_before, batch.upper).await?;
    orders::write(&mut transaction, orders, batch.upper, retention.orders_ms).await?;
    policies::write(&mut transaction, policies).await?;
    for (topic, seen) in [(InputTopic::Inventory, inventory_ids), (InputTopic::Payments, payment_ids)] {
        event_ids::write(&mut transaction, topics.name(topic), seen, batch.upper, retention.event_ids_ms).await?;
    }
    let frontier = progress::Frontier {
        as_of: batch.upper,
        alert_changes: batch.alerts_before + alerts.len() as u64,
        alerts_published: Some(alerts_published),
    };
    progress::write(&mut transaction, &batch.progress, topics, &frontier).await?;
    transaction.commit().await?;
    Ok(rows)
}
