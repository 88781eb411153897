//! Reading the sink's lineage tables (`stock_history`, `settlement_history`, written by the
//! Postgres sink in the transaction of each batch) for the history routes: a page of one position's
//! or one settlement row's rows, oldest first, complete up to the stored frontier.

use flowmart_schemas::{Currency, SettlementDate};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::Store;

/// Where a page of history starts: the sort key of the last row served (`applied_at`,
/// partition, offset, topic — the order the pipeline applied the records in).
pub type HistoryCursor = (i64, i32, i64, String);

/// One stock lineage row as stored (the history route's item).
pub struct StockHistoryRow {
    /// The record's `event_id`.
    pub event_id: String,
    /// The topic it was read from.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// The inventory kind, order status transition (`order:PLACED->SHIPPED`) or payment kind.
    pub kind: String,
    /// Its change to `on_hand`.
    pub on_hand_delta: i64,
    /// Its change to `reserved`.
    pub reserved_delta: i64,
    /// Its change to `on_order`.
    pub on_order_delta: i64,
    /// The record's `occurred_at` (ms).
    pub occurred_at: i64,
    /// The pipeline time (ms) it was applied at.
    pub applied_at: i64,
}

/// One settlement lineage row as stored (the history route's item).
pub struct SettlementHistoryRow {
    /// The record's `event_id`.
    pub event_id: String,
    /// The topic it was read from.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// The inventory kind, order status transition (`order:PLACED->SHIPPED`) or payment kind.
    pub kind: String,
    /// The payment's `amount_minor`.
    pub amount_minor: i64,
    /// The record's `occurred_at` (ms).
    pub occurred_at: i64,
    /// The pipeline time (ms) it was applied at.
    pub applied_at: i64,
}

/// Which rows of a history a page holds.
pub struct HistoryPage {
    /// Rows applied at or after this pipeline time (ms).
    pub from: Option<i64>,
    /// Rows applied before this pipeline time (ms).
    pub to: Option<i64>,
    /// Rows after this one.
    pub after: Option<HistoryCursor>,
    /// At most this many rows.
    pub limit: usize,
}

/// The frontier the stored results are complete up to (0: nothing stored).
async fn stored_as_of(store: &Store) -> Result<i64, sqlx::Error> {
    // The sink's table: absent until the sink first migrated the database.
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('pipeline_frontier') IS NOT NULL").fetch_one(&store.0).await?;
    if !exists {
        return Ok(0);
    }
    let as_of = sqlx::query_scalar::<_, i64>("SELECT as_of FROM pipeline_frontier").fetch_optional(&store.0).await?;
    Ok(as_of.unwrap_or(0))
}

/// The bounds a page's query scans, on `applied_at` and on the partition key `applied_day`:
/// `[lower, upper)`, with `upper` at most `as_of` so a page never shows a batch's rows before its
/// frontier is stored.
fn bounds(page: &HistoryPage, as_of: i64) -> (i64, i64, String, String) {
    let lower = page.from.unwrap_or(0).max(page.after.as_ref().map_or(0, |after| after.0)).max(0);
    let upper = page.to.map_or(as_of, |to| to.min(as_of)).max(lower);
    let day = |ms: i64| SettlementDate::of(ms).to_string();
    (lower, upper, day(lower), day(upper))
}

impl Store {
    /// A page of the history of `tenant_id`'s position, oldest first, with the frontier it is
    /// complete up to.
    pub async fn stock_history(
        &self,
        tenant_id: &str,
        warehouse_id: &str,
        sku: &str,
        page: &HistoryPage,
    ) -> Result<(i64, Vec<StockHistoryRow>), sqlx::Error> {
        let as_of = stored_as_of(self).await?;
        let (lower, upper, lower_day, upper_day) = bounds(page, as_of);
        let after = page.after.clone().unwrap_or((i64::MIN, i32::MIN, i64::MIN, String::new()));
        let rows = sqlx::query(
            "SELECT event_id, topic, partition, \"offset\", kind, on_hand_delta, reserved_delta, on_order_delta,
                    occurred_at, applied_at
             FROM stock_history
             WHERE tenant_id = $1 AND warehouse_id = $2 AND sku = $3
               AND applied_at >= $4 AND applied_at < $5
               AND applied_day >= $6::text::date AND applied_day <= $7::text::date
               AND (applied_at, partition, \"offset\", topic) > ($8, $9, $10, $11)
             ORDER BY applied_at, partition, \"offset\", topic
             LIMIT $12",
        )
        .bind(tenant_id)
        .bind(warehouse_id)
        .bind(sku)
        .bind(lower)
        .bind(upper)
        .bind(lower_day)
        .bind(upper_day)
        .bind(after.0)
        .bind(after.1)
        .bind(after.2)
        .bind(after.3)
        .bind(page.limit as i64)
        .fetch_all(&self.0)
        .await?;
        Ok((as_of, rows.iter().map(stock_row).collect()))
    }

    /// A page of the history of `tenant_id`'s settlement row, oldest first, with the frontier it
    /// is complete up to.
    pub async fn settlement_history(
        &self,
        tenant_id: &str,
        currency: Currency,
        settlement_date: SettlementDate,
        page: &HistoryPage,
    ) -> Result<(i64, Vec<SettlementHistoryRow>), sqlx::Error> {
        let as_of = stored_as_of(self).await?;
        let (lower, upper, lower_day, upper_day) = bounds(page, as_of);
        let after = page.after.clone().unwrap_or((i64::MIN, i32::MIN, i64::MIN, String::new()));
        let rows = sqlx::query(
            "SELECT event_id, topic, partition, \"offset\", kind, amount_minor, occurred_at, applied_at
             FROM settlement_history
             WHERE tenant_id = $1 AND currency = $2 AND settlement_date = $3::text::date
               AND applied_at >= $4 AND applied_at < $5
               AND applied_day >= $6::text::date AND applied_day <= $7::text::date
               AND (applied_at, partition, \"offset\", topic) > ($8, $9, $10, $11)
             ORDER BY applied_at, partition, \"offset\", topic
             LIMIT $12",
        )
        .bind(tenant_id)
        .bind(currency.to_string())
        .bind(settlement_date.to_string())
        .bind(lower)
        .bind(upper)
        .bind(lower_day)
        .bind(upper_day)
        .bind(after.0)
        .bind(after.1)
        .bind(after.2)
        .bind(after.3)
        .bind(page.limit as i64)
        .fetch_all(&self.0)
        .await?;
        Ok((as_of, rows.iter().map(settlement_row).collect()))
    }
}

fn stock_row(row: &PgRow) -> StockHistoryRow {
    StockHistoryRow {
        event_id: row.get("event_id"),
        topic: row.get("topic"),
        partition: row.get("partition"),
        offset: row.get("offset"),
        kind: row.get("kind"),
        on_hand_delta: row.get("on_hand_delta"),
        reserved_delta: row.get("reserved_delta"),
        on_order_delta: row.get("on_order_delta"),
        occurred_at: row.get("occurred_at"),
        applied_at: row.get("applied_at"),
    }
}

fn settlement_row(row: &PgRow) -> SettlementHistoryRow {
    SettlementHistoryRow {
        event_id: row.get("event_id"),
        topic: row.get("topic"),
        partition: row.get("partition"),
        offset: row.get("offset"),
        kind: row.get("kind"),
        amount_minor: row.get("amount_minor"),
        occurred_at: row.get("occurred_at"),
        applied_at: row.get("applied_at"),
    }
}
