//! `settlement_history`: the lineage of the settlements, one row per payment applied, appended
//! with COPY in the batch's transaction. Read by the API's history route, never by recovery.

use std::fmt::Write;

use flowmart_runtime::Topics;
use flowmart_schemas::SettlementHistoryRow;
use sqlx::PgConnection;

use crate::copy_text;
use crate::history_partitions::{self, day_of};

/// Appends the batch's settlement lineage; returns whether a new day's partition was created.
pub(crate) async fn write(
    connection: &mut PgConnection,
    rows: &[SettlementHistoryRow],
    topics: &Topics,
) -> Result<bool, sqlx::Error> {
    if rows.is_empty() {
        return Ok(false);
    }
    let created =
        history_partitions::ensure(connection, "settlement_history", rows.iter().map(|row| row.applied_at)).await?;
    // In the index's order (settlement row, then time), as `stock_history` writes.
    let mut sorted = rows.iter().collect::<Vec<_>>();
    sorted.sort_unstable_by(|a, b| (&a.settlement, a.applied_at).cmp(&(&b.settlement, b.applied_at)));
    copy_text::copy_in(
        connection,
        "COPY settlement_history (tenant_id, currency, settlement_date, event_id, topic, partition, \"offset\",
               kind, amount_minor, occurred_at, applied_at, applied_day) FROM STDIN",
        sorted,
        |text, row| {
            copy_text::field(text, &row.settlement.tenant_id);
            write!(text, "{}\t{}\t", row.settlement.currency, row.settlement.settlement_date)
                .expect("writing to a String cannot fail");
            copy_text::field(text, &row.event_id);
            copy_text::field(text, topics.name(row.source.topic));
            writeln!(
                text,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                row.source.partition,
                row.source.offset,
                row.kind.as_str(),
                row.amount_minor,
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
