//! `stock_history`: the lineage of the stock, one row per (record, position it changed), appended
//! with COPY in the batch's transaction. Read by the API's history route, never by recovery.

use std::fmt::Write;

use flowmart_runtime::Topics;
use flowmart_schemas::StockHistoryRow;
use sqlx::PgConnection;

use crate::copy_text;
use crate::history_partitions::{self, day_of};

/// Appends the batch's stock lineage; returns whether a new day's partition was created. A delta
/// beyond 64 bits is refused by the database (a data error: the record goes to the DLQ as
/// `sink_rejected`).
pub(crate) async fn write(
    connection: &mut PgConnection,
    rows: &[StockHistoryRow],
    topics: &Topics,
) -> Result<bool, sqlx::Error> {
    if rows.is_empty() {
        return Ok(false);
    }
    let created =
        history_partitions::ensure(connection, "stock_history", rows.iter().map(|row| row.applied_at)).await?;
    // In the index's order (position, then time): the index takes a sorted run page by page
    // instead of seeking a random leaf for every row (BENCHMARKS.md, "Postgres sink with lineage").
    let mut sorted = rows.iter().collect::<Vec<_>>();
    sorted.sort_unstable_by(|a, b| (&a.position, a.applied_at).cmp(&(&b.position, b.applied_at)));
    copy_text::copy_in(
        connection,
        "COPY stock_history (tenant_id, warehouse_id, sku, event_id, topic, partition, \"offset\", kind,
               on_hand_delta, reserved_delta, on_order_delta, occurred_at, applied_at, applied_day) FROM STDIN",
        sorted,
        |text, row| {
            copy_text::field(text, &row.position.tenant_id);
            copy_text::field(text, &row.position.warehouse_id);
            copy_text::field(text, &row.position.sku);
            copy_text::field(text, &row.event_id);
            copy_text::field(text, topics.name(row.source.topic));
            writeln!(
                text,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                row.source.partition,
                row.source.offset,
                row.kind,
                row.on_hand_delta,
                row.reserved_delta,
                row.on_order_delta,
                row.occurred_at,
                row.applied_at,
                day_of(row.applied_at),
            )
            .expect("writing to a String cannot fail");
        },
    )
    .await?;
    Ok(created)
}
