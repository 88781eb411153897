//! The daily partitions of the lineage tables (`stock_history`, `settlement_history`,
//! `migrations/0007_history.sql`): created by the writer in the transaction of the first batch
//! with a row of that day, and dropped whole once every row in them is past the history
//! retention.

use std::collections::BTreeSet;

use flowmart_schemas::{SettlementDate, Time};
use sqlx::{PgConnection, Row};

/// The lineage tables, each partitioned by `applied_day`.
pub(crate) const TABLES: [&str; 2] = ["stock_history", "settlement_history"];

/// The UTC date of a pipeline time: the partition its rows go to.
pub(crate) fn day_of(applied_at: Time) -> SettlementDate {
    SettlementDate::of(applied_at.min(i64::MAX as Time) as i64)
}

/// The name of `table`'s partition for `day`: `<table>_YYYYMMDD`.
fn partition_name(table: &str, day: SettlementDate) -> String {
    format!("{table}_{}", day.to_string().replace('-', ""))
}

/// Makes sure `table` has a partition for every day of `applied_at`; returns whether it created
/// one. Inside the batch's transaction: a partition created by a batch that rolls back is gone
/// with it.
pub(crate) async fn ensure(
    connection: &mut PgConnection,
    table: &'static str,
    applied_at: impl IntoIterator<Item = Time>,
) -> Result<bool, sqlx::Error> {
    let days = applied_at.into_iter().map(day_of).collect::<BTreeSet<_>>();
    let mut created = false;
    for day in days {
        let name = partition_name(table, day);
        let exists: bool =
            sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(&name).fetch_one(&mut *connection).await?;
        if exists {
            continue;
        }
        let next = SettlementDate(day.0.saturating_add(1));
        // Names and dates are formed here from numbers: nothing from outside is spliced in.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} FOR VALUES FROM ('{day}') TO ('{next}')"
        )))
        .execute(&mut *connection)
        .await?;
        created = true;
    }
    Ok(created)
}

/// Drops every partition of the lineage tables whose rows are all older than `retention_ms` at
/// pipeline time `now` (a partition of day `d` goes once `now` is `retention_ms` past its end).
/// Returns how many it dropped.
pub(crate) async fn expire(connection: &mut PgConnection, now: Time, retention_ms: Time) -> Result<usize, sqlx::Error> {
    // Day d holds [d, d + 1) days: all of it is older than the cutoff when d + 1 <= the cutoff's
    // day.
    let Some(cutoff) = now.checked_sub(retention_ms) else { return Ok(0) };
    let first_kept = day_of(cutoff).0;
    let mut dropped = 0;
    for table in TABLES {
        let partitions: Vec<String> = sqlx::query(
            "SELECT child.relname::text FROM pg_inherits
               JOIN pg_class child ON child.oid = pg_inherits.inhrelid
             WHERE pg_inherits.inhparent = to_regclass($1)",
        )
        .bind(table)
        .fetch_all(&mut *connection)
        .await?
        .into_iter()
        .map(|row| row.get::<String, _>(0))
        .collect();
        for partition in partitions {
            let Some(day) = partition_day(table, &partition) else { continue };
            if day.0 < first_kept {
                // A name of ours (`partition_day` parsed it): nothing from outside is spliced in.
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {partition}")))
                    .execute(&mut *connection)
                    .await?;
                dropped += 1;
            }
        }
    }
    Ok(dropped)
}

/// The day of a partition named as [`partition_name`] names them (`None`: a partition someone
/// else made, which is left alone).
fn partition_day(table: &str, partition: &str) -> Option<SettlementDate> {
    let digits = partition.strip_prefix(table)?.strip_prefix('_')?;
    if digits.len() != 8 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    SettlementDate::parse(&format!("{}-{}-{}", &digits[..4], &digits[4..6], &digits[6..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_is_named_for_its_utc_day_and_read_back_from_its_name() {
        let day = day_of(1_764_460_800_000 + 5); // 2025-11-30T00:00:00.005Z
        assert_eq!(partition_name("stock_history", day), "stock_history_20251130");
        assert_eq!(partition_day("stock_history", "stock_history_20251130"), Some(day));
        assert_eq!(partition_day("stock_history", "settlement_history_20251130"), None);
        assert_eq!(partition_day("stock_history", "stock_history_2025113"), None);
    }
}
