//! One batch, one transaction.

use std::collections::BTreeMap;

use flowmart_operators::dataflow::Retention;
use flowmart_pipelines::{ChangeBatch, Topics};

use super::copy_text;
use flowmart_schemas::{Id, ReorderAlert, ReorderAlertStatus};
use sqlx::PgConnection;

/// How many recent alert changes the outbox keeps (as many as the serving index keeps).
const ALERTS_KEPT: u64 = 65_536;
/// From this many staged rows on, the staging table is analyzed before it is merged.
const LARGE_BATCH: usize = 1_000;

/// The change an alert ends the batch with, the first one the batch has of it, and when it
/// resolved if it did.
struct AlertRow<'a> {
    first: &'a ReorderAlert,
    last: &'a ReorderAlert,
    resolved_at: Option<i64>,
}

/// Writes the batch's results, what recovery needs, progress and frontier in one transaction;
/// returns result rows written.
pub(super) async fn commit(
    connection: &mut PgConnection,
    batch: &ChangeBatch,
    topics: &Topics,
    retention: Retention,
) -> Result<usize, sqlx::Error> {
    let mut transaction = sqlx::Connection::begin(connection).await?;
    let mut rows = 0;

    let (stock_upserts, stock_deletes): (Vec<_>, Vec<_>) = batch.stock.iter().partition(|(_, levels)| levels.is_some());
    if !stock_upserts.is_empty() {
        // Large change sets: COPY into a temporary staging table, then one MERGE per table from
        // it (measured faster here than binding UNNEST arrays; see BENCHMARKS.md).
        sqlx::query(
            "CREATE TEMPORARY TABLE IF NOT EXISTS staged_stock (
               tenant_id text, warehouse_id text, sku text,
               on_hand bigint, reserved bigint, on_order bigint, records bigint
             ) ON COMMIT DELETE ROWS",
        )
        .execute(&mut *transaction)
        .await?;
        let mut text = String::with_capacity(stock_upserts.len() * 64);
        for (position, levels) in &stock_upserts {
            let levels = levels.as_ref().expect("partitioned on Some");
            copy_text::field(&mut text, &position.tenant_id);
            copy_text::field(&mut text, &position.warehouse_id);
            copy_text::field(&mut text, &position.sku);
            copy_text::numbers(&mut text, &[levels.on_hand, levels.reserved, levels.on_order, levels.records]);
        }
        let mut copy = (*transaction).copy_in_raw("COPY staged_stock FROM STDIN").await?;
        copy.send(text.as_bytes()).await?;
        copy.finish().await?;
        if stock_upserts.len() >= LARGE_BATCH {
            // Row counts for the planner: a large batch joins best by hashing, a small one by
            // probing the primary key.
            sqlx::query("ANALYZE staged_stock").execute(&mut *transaction).await?;
        }
        // MERGE joins the batch with the table once; measured faster here than
        // INSERT … ON CONFLICT, which probes the index row by row (BENCHMARKS.md).
        rows += sqlx::query(
            "MERGE INTO stock_levels AS t USING staged_stock AS s
               ON t.tenant_id = s.tenant_id AND t.warehouse_id = s.warehouse_id AND t.sku = s.sku
             WHEN MATCHED THEN UPDATE SET
               on_hand = s.on_hand, reserved = s.reserved, on_order = s.on_order,
               available = s.on_hand - s.reserved, projected = s.on_hand - s.reserved + s.on_order
             WHEN NOT MATCHED THEN INSERT (tenant_id, warehouse_id, sku, on_hand, reserved, on_order, available, projected)
               VALUES (s.tenant_id, s.warehouse_id, s.sku, s.on_hand, s.reserved, s.on_order,
                       s.on_hand - s.reserved, s.on_hand - s.reserved + s.on_order)",
        )
        .execute(&mut *transaction)
        .await?
        .rows_affected() as usize;
        sqlx::query(
            "MERGE INTO recovery_stock_records AS t USING staged_stock AS s
               ON t.tenant_id = s.tenant_id AND t.warehouse_id = s.warehouse_id AND t.sku = s.sku
             WHEN MATCHED AND t.records <> s.records THEN UPDATE SET records = s.records
             WHEN NOT MATCHED THEN INSERT (tenant_id, warehouse_id, sku, records)
               VALUES (s.tenant_id, s.warehouse_id, s.sku, s.records)",
        )
        .execute(&mut *transaction)
        .await?;
    }
    if !stock_deletes.is_empty() {
        rows += sqlx::query(
            "WITH gone AS (SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) AS gone(tenant_id, warehouse_id, sku)),
                  records AS (DELETE FROM recovery_stock_records WHERE (tenant_id, warehouse_id, sku) IN (SELECT * FROM gone))
             DELETE FROM stock_levels WHERE (tenant_id, warehouse_id, sku) IN (SELECT * FROM gone)",
        )
        .bind(stock_deletes.iter().map(|(position, _)| position.tenant_id.to_string()).collect::<Vec<_>>())
        .bind(stock_deletes.iter().map(|(position, _)| position.warehouse_id.to_string()).collect::<Vec<_>>())
        .bind(stock_deletes.iter().map(|(position, _)| position.sku.to_string()).collect::<Vec<_>>())
        .execute(&mut *transaction)
        .await?
        .rows_affected() as usize;
    }

    let (settlement_upserts, settlement_deletes): (Vec<_>, Vec<_>) =
        batch.settlements.iter().partition(|(_, totals)| totals.is_some());
    if !settlement_upserts.is_empty() {
        let column = |field: fn(&flowmart_operators::settlement_totals::SettlementTotals) -> i64| {
            settlement_upserts.iter().map(|(_, totals)| totals.as_ref().map_or(0, field)).collect::<Vec<i64>>()
        };
        rows += sqlx::query(
            "INSERT INTO settlement_totals (tenant_id, currency, date, captured, refunded, chargebacks, fees, payouts, net, authorized)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]::date[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[])
             ON CONFLICT (tenant_id, currency, date) DO UPDATE SET
               captured = EXCLUDED.captured, refunded = EXCLUDED.refunded, chargebacks = EXCLUDED.chargebacks,
               fees = EXCLUDED.fees, payouts = EXCLUDED.payouts, net = EXCLUDED.net, authorized = EXCLUDED.authorized",
        )
        .bind(settlement_upserts.iter().map(|(key, _)| key.tenant_id.to_string()).collect::<Vec<_>>())
        .bind(settlement_upserts.iter().map(|(key, _)| key.currency.to_string()).collect::<Vec<_>>())
        .bind(settlement_upserts.iter().map(|(key, _)| key.settlement_date.to_string()).collect::<Vec<_>>())
        .bind(column(|totals| totals.captured))
        .bind(column(|totals| totals.refunded))
        .bind(column(|totals| totals.chargebacks))
        .bind(column(|totals| totals.fees))
        .bind(column(|totals| totals.payouts))
        .bind(column(|totals| totals.net()))
        .bind(column(|totals| totals.authorized))
        .execute(&mut *transaction)
        .await?
        .rows_affected() as usize;
        sqlx::query(
            "INSERT INTO recovery_settlement_payments (tenant_id, currency, date, payments)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]::date[], $4::int8[])
             ON CONFLICT (tenant_id, currency, date) DO UPDATE SET payments = EXCLUDED.payments",
        )
        .bind(settlement_upserts.iter().map(|(key, _)| key.tenant_id.to_string()).collect::<Vec<_>>())
        .bind(settlement_upserts.iter().map(|(key, _)| key.currency.to_string()).collect::<Vec<_>>())
        .bind(settlement_upserts.iter().map(|(key, _)| key.settlement_date.to_string()).collect::<Vec<_>>())
        .bind(column(|totals| totals.payments))
        .execute(&mut *transaction)
        .await?;
    }
    if !settlement_deletes.is_empty() {
        rows += sqlx::query(
            "WITH gone AS (SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]::date[]) AS gone(tenant_id, currency, date)),
                  payments AS (DELETE FROM recovery_settlement_payments WHERE (tenant_id, currency, date) IN (SELECT * FROM gone))
             DELETE FROM settlement_totals WHERE (tenant_id, currency, date) IN (SELECT * FROM gone)",
        )
        .bind(settlement_deletes.iter().map(|(key, _)| key.tenant_id.to_string()).collect::<Vec<_>>())
        .bind(settlement_deletes.iter().map(|(key, _)| key.currency.to_string()).collect::<Vec<_>>())
        .bind(settlement_deletes.iter().map(|(key, _)| key.settlement_date.to_string()).collect::<Vec<_>>())
        .execute(&mut *transaction)
        .await?
        .rows_affected() as usize;
    }

    // Fold the batch's alert changes (in order) into each alert's final row.
    let mut alerts = BTreeMap::<&Id, AlertRow<'_>>::new();
    for change in &batch.alerts {
        let row = alerts.entry(&change.alert_id).or_insert(AlertRow { first: change, last: change, resolved_at: None });
        row.last = change;
        if change.status == ReorderAlertStatus::Resolved {
            row.resolved_at = Some(change.changed_at);
        }
    }
    if !alerts.is_empty() {
        let rows_of = alerts.values().collect::<Vec<_>>();
        let text =
            |field: fn(&ReorderAlert) -> &Id| rows_of.iter().map(|row| field(row.last).to_string()).collect::<Vec<_>>();
        let number = |field: fn(&ReorderAlert) -> i64| rows_of.iter().map(|row| field(row.last)).collect::<Vec<_>>();
        rows += sqlx::query(
            "INSERT INTO reorder_alerts (alert_id, tenant_id, warehouse_id, sku, status, projected, reorder_point, suggested_quantity, opened_at, resolved_at)
             SELECT alert_id, tenant_id, warehouse_id, sku, status, projected, reorder_point, suggested_quantity, opened_at, resolved_at
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[])
               AS changed(alert_id, tenant_id, warehouse_id, sku, status, projected, reorder_point, suggested_quantity, opened_at, resolved_at)
             ON CONFLICT (alert_id) DO UPDATE SET
               status = EXCLUDED.status, projected = EXCLUDED.projected, reorder_point = EXCLUDED.reorder_point,
               suggested_quantity = EXCLUDED.suggested_quantity,
               resolved_at = COALESCE(EXCLUDED.resolved_at, reorder_alerts.resolved_at)",
        )
        .bind(text(|alert| &alert.alert_id))
        .bind(text(|alert| &alert.tenant_id))
        .bind(text(|alert| &alert.warehouse_id))
        .bind(text(|alert| &alert.sku))
        .bind(rows_of.iter().map(|row| if row.resolved_at.is_some() { "RESOLVED" } else { "OPEN" }).collect::<Vec<_>>())
        .bind(number(|alert| alert.projected))
        .bind(number(|alert| alert.reorder_point))
        .bind(number(|alert| alert.suggested_quantity))
        // Used only when the row is new: then the batch's first change of it is its OPENED.
        .bind(rows_of.iter().map(|row| row.first.changed_at).collect::<Vec<_>>())
        .bind(rows_of.iter().map(|row| row.resolved_at).collect::<Vec<_>>())
        .execute(&mut *transaction)
        .await?
        .rows_affected() as usize;
    }

    // The outbox keeps the last ALERTS_KEPT changes. Only the last batch's can be missing from
    // the alerts topic: the runtime applied every earlier batch to the alert sink before handing
    // this one to Postgres.
    sqlx::query("DELETE FROM alert_outbox WHERE sequence <= $1")
        .bind(batch.alerts_before.saturating_sub(ALERTS_KEPT) as i64)
        .execute(&mut *transaction)
        .await?;
    if !batch.alerts.is_empty() {
        let numbered = batch.numbered_alerts().collect::<Vec<_>>();
        let text = |field: fn(&ReorderAlert) -> &Id| {
            numbered.iter().map(|(_, alert)| field(alert).to_string()).collect::<Vec<_>>()
        };
        let number =
            |field: fn(&ReorderAlert) -> i64| numbered.iter().map(|(_, alert)| field(alert)).collect::<Vec<_>>();
        sqlx::query(
            "INSERT INTO alert_outbox (sequence, alert_id, tenant_id, warehouse_id, sku, status, projected, reorder_point, suggested_quantity, changed_at, committed_as_of)
             SELECT *, $11 FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::int8[], $9::int8[], $10::int8[])
             ON CONFLICT (sequence) DO NOTHING",
        )
        .bind(numbered.iter().map(|(sequence, _)| *sequence as i64).collect::<Vec<_>>())
        .bind(text(|alert| &alert.alert_id))
        .bind(text(|alert| &alert.tenant_id))
        .bind(text(|alert| &alert.warehouse_id))
        .bind(text(|alert| &alert.sku))
        .bind(numbered.iter().map(|(_, alert)| alert.status.as_str()).collect::<Vec<_>>())
        .bind(number(|alert| alert.projected))
        .bind(number(|alert| alert.reorder_point))
        .bind(number(|alert| alert.suggested_quantity))
        .bind(number(|alert| alert.changed_at))
        .bind(batch.upper as i64)
        .execute(&mut *transaction)
        .await?;
    }
    super::recovery_state::write(&mut transaction, batch, topics, retention).await?;

    let progress = batch.progress.iter().collect::<Vec<_>>();
    if !progress.is_empty() {
        sqlx::query(
            "INSERT INTO pipeline_progress (topic, partition, next_offset)
             SELECT * FROM UNNEST($1::text[], $2::int4[], $3::int8[])
             ON CONFLICT (topic, partition) DO UPDATE SET next_offset = GREATEST(pipeline_progress.next_offset, EXCLUDED.next_offset)",
        )
        .bind(progress.iter().map(|(topic, _, _)| topics.name(*topic).to_string()).collect::<Vec<_>>())
        .bind(progress.iter().map(|(_, partition, _)| *partition as i32).collect::<Vec<_>>())
        .bind(progress.iter().map(|(_, _, next)| *next as i64).collect::<Vec<_>>())
        .execute(&mut *transaction)
        .await?;
    }
    sqlx::query(
        "INSERT INTO pipeline_frontier (singleton, as_of, alert_changes) VALUES (true, $1, $2)
         ON CONFLICT (singleton) DO UPDATE SET
           as_of = GREATEST(pipeline_frontier.as_of, EXCLUDED.as_of),
           alert_changes = GREATEST(pipeline_frontier.alert_changes, EXCLUDED.alert_changes)",
    )
    .bind(batch.upper as i64)
    .bind((batch.alerts_before + batch.alerts.len() as u64) as i64)
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(rows)
}
