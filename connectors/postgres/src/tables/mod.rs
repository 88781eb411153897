//! One module per table (or per table and its recovery companion): how a batch's changes are
//! written to it inside the batch's transaction, and how it is read back at start.

pub(crate) mod alert_outbox;
pub(crate) mod event_ids;
pub(crate) mod orders;
pub(crate) mod policies;
pub(crate) mod progress;
pub(crate) mod reorder_alerts;
pub(crate) mod settlement_history;
pub(crate) mod settlement_totals;
pub(crate) mod stock_history;
pub(crate) mod stock_levels;

use flowmart_schemas::Id;
use sqlx::Row;
use sqlx::postgres::PgRow;

/// A text column as an [`Id`].
pub(crate) fn id(row: &PgRow, column: &str) -> Id {
    Id::from(row.get::<&str, _>(column))
}

/// One text column of `rows`, for binding as an array.
pub(crate) fn texts<T>(rows: &[T], column: impl Fn(&T) -> &str) -> Vec<String> {
    rows.iter().map(|row| column(row).to_string()).collect()
}
