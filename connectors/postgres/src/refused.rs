//! Which changes of a batch Postgres refuses, when it refuses the batch.
//!
//! A data error (a value the database will not store, a constraint) names neither the row nor the
//! record behind it. In one transaction that is rolled back at the end, each table's writer is run
//! on halves of the batch's changes under savepoints, splitting the halves that fail until the
//! single refused changes are left — a few round trips per refused change, and nothing kept. The
//! runtime then takes back the records behind them (`runtime/src/repairs.rs`).

use flowmart_runtime::{ChangeBatch, ErrorClass, InputTopic, RefusedChange, Topics};
use flowmart_schemas::{
    Alerts, InventoryIds, NetChanges, Orders, Output, Outputs, PaymentIds, Policies, Retention, SettlementHistory,
    Settlements, Stock, StockHistory,
};
use sqlx::{Connection, PgConnection};

use crate::class_of;
use crate::tables::{
    alert_outbox, event_ids, orders, policies, reorder_alerts, settlement_history, settlement_totals, stock_history,
    stock_levels,
};

/// The changes of `batch` the database refuses, each alone, with the database's reason.
pub(crate) async fn refused_changes(
    connection: &mut PgConnection,
    batch: &ChangeBatch,
    topics: &Topics,
    retention: Retention,
) -> Result<Vec<RefusedChange>, sqlx::Error> {
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
    let (upper, alerts_before) = (batch.upper, batch.alerts_before);
    let mut transaction = connection.begin().await?;
    let mut refused = Vec::new();
    refused.extend(
        split::<Stock>(&mut transaction, stock, async |db, _, part| stock_levels::write(db, part).await.map(drop))
            .await?,
    );
    refused.extend(
        split::<Settlements>(&mut transaction, settlements, async |db, _, part| {
            settlement_totals::write(db, part).await.map(drop)
        })
        .await?,
    );
    refused.extend(
        split::<Alerts>(&mut transaction, alerts, async |db, first, part| {
            reorder_alerts::write(db, part).await?;
            alert_outbox::write(db, part, alerts_before + first as u64, upper).await
        })
        .await?,
    );
    refused.extend(
        split::<Orders>(&mut transaction, orders, async |db, _, part| {
            orders::write(db, part, upper, retention.orders_ms).await
        })
        .await?,
    );
    refused.extend(
        split::<Policies>(&mut transaction, policies, async |db, _, part| policies::write(db, part).await).await?,
    );
    let inventory = topics.name(InputTopic::Inventory);
    refused.extend(
        split::<InventoryIds>(&mut transaction, inventory_ids, async |db, _, part| {
            event_ids::write(db, inventory, part, upper, retention.event_ids_ms).await
        })
        .await?,
    );
    let payments = topics.name(InputTopic::Payments);
    refused.extend(
        split::<PaymentIds>(&mut transaction, payment_ids, async |db, _, part| {
            event_ids::write(db, payments, part, upper, retention.event_ids_ms).await
        })
        .await?,
    );
    refused.extend(
        split::<StockHistory>(&mut transaction, stock_history, async |db, _, part| {
            stock_history::write(db, part, topics).await.map(drop)
        })
        .await?,
    );
    refused.extend(
        split::<SettlementHistory>(&mut transaction, settlement_history, async |db, _, part| {
            settlement_history::write(db, part, topics).await.map(drop)
        })
        .await?,
    );
    transaction.rollback().await?;
    Ok(refused)
}

/// Writes `changes` of output `O` with `write` (given the index of a part's first change), in
/// order, splitting every part the database refuses in halves under savepoints; what it takes
/// stays written for the parts after. Returns the single changes it refuses.
async fn split<O: Output>(
    connection: &mut PgConnection,
    changes: &[O::Change],
    mut write: impl AsyncFnMut(&mut PgConnection, usize, &[O::Change]) -> Result<(), sqlx::Error>,
) -> Result<Vec<RefusedChange>, sqlx::Error> {
    let mut refused = Vec::new();
    // Parts still to write, the next on top.
    let mut parts = vec![(0, changes.len())];
    while let Some((start, end)) = parts.pop() {
        if start == end {
            continue;
        }
        let mut savepoint = connection.begin().await?;
        match write(&mut savepoint, start, &changes[start..end]).await {
            Ok(()) => savepoint.commit().await?,
            Err(error) if class_of(&error) == ErrorClass::Data => {
                savepoint.rollback().await?;
                if end - start == 1 {
                    let mut change = Outputs::<NetChanges>::default();
                    O::of_mut(&mut change).push(changes[start].clone());
                    refused.push(RefusedChange { change, reason: format!("a {} change: {error}", O::NAME) });
                } else {
                    let middle = start + (end - start) / 2;
                    parts.push((middle, end));
                    parts.push((start, middle));
                }
            }
            Err(error) => return Err(error),
        }
    }
    Ok(refused)
}
