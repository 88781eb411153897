//! `stock_levels` (the API's rows) and `recovery_stock_records` (how many records each position
//! counts, which the API does not show but recovery needs).

use flowmart_schemas::{PositionKey, StockLevels};
use sqlx::{PgConnection, Row};

use super::{id, texts};
use crate::copy_text;

/// From this many staged rows on, the staging table is analyzed before it is merged.
const LARGE_BATCH: usize = 1_000;

/// Writes the batch's new levels (`None`: the position is gone); returns result rows written.
pub(crate) async fn write(
    connection: &mut PgConnection,
    changes: &[(PositionKey, Option<StockLevels>)],
) -> Result<usize, sqlx::Error> {
    let (upserts, deletes): (Vec<_>, Vec<_>) = changes.iter().partition(|(_, levels)| levels.is_some());
    let upserts = upserts.into_iter().filter_map(|(position, levels)| Some((position, (*levels)?))).collect::<Vec<_>>();
    let deletes = deletes.into_iter().map(|(position, _)| position).collect::<Vec<_>>();
    Ok(upsert(connection, &upserts).await? + delete(connection, &deletes).await?)
}

async fn upsert(connection: &mut PgConnection, upserts: &[(&PositionKey, StockLevels)]) -> Result<usize, sqlx::Error> {
    if upserts.is_empty() {
        return Ok(0);
    }
    // Large change sets: COPY into a temporary staging table, then one MERGE per table from it
    // (measured faster here than binding UNNEST arrays; see BENCHMARKS.md).
    sqlx::query(
        "CREATE TEMPORARY TABLE IF NOT EXISTS staged_stock (
           tenant_id text, warehouse_id text, sku text,
           on_hand bigint, reserved bigint, on_order bigint, records bigint
         ) ON COMMIT DELETE ROWS",
    )
    .execute(&mut *connection)
    .await?;
    copy_text::copy_in(connection, "COPY staged_stock FROM STDIN", upserts, |text, (position, levels)| {
        copy_text::field(text, &position.tenant_id);
        copy_text::field(text, &position.warehouse_id);
        copy_text::field(text, &position.sku);
        copy_text::numbers(text, &[levels.on_hand, levels.reserved, levels.on_order, levels.records]);
    })
    .await?;
    if upserts.len() >= LARGE_BATCH {
        // Row counts for the planner: a large batch joins best by hashing, a small one by
        // probing the primary key.
        sqlx::query("ANALYZE staged_stock").execute(&mut *connection).await?;
    }
    // MERGE joins the batch with the table once; measured faster here than
    // INSERT … ON CONFLICT, which probes the index row by row (BENCHMARKS.md).
    let rows = sqlx::query(
        "MERGE INTO stock_levels AS t USING staged_stock AS s
           ON t.tenant_id = s.tenant_id AND t.warehouse_id = s.warehouse_id AND t.sku = s.sku
         WHEN MATCHED THEN UPDATE SET
           on_hand = s.on_hand, reserved = s.reserved, on_order = s.on_order,
           available = s.on_hand - s.reserved, projected = s.on_hand - s.reserved + s.on_order
         WHEN NOT MATCHED THEN INSERT (tenant_id, warehouse_id, sku, on_hand, reserved, on_order, available, projected)
           VALUES (s.tenant_id, s.warehouse_id, s.sku, s.on_hand, s.reserved, s.on_order,
                   s.on_hand - s.reserved, s.on_hand - s.reserved + s.on_order)",
    )
    .execute(&mut *connection)
    .await?
    .rows_affected() as usize;
    sqlx::query(
        "MERGE INTO recovery_stock_records AS t USING staged_stock AS s
           ON t.tenant_id = s.tenant_id AND t.warehouse_id = s.warehouse_id AND t.sku = s.sku
         WHEN MATCHED AND t.records <> s.records THEN UPDATE SET records = s.records
         WHEN NOT MATCHED THEN INSERT (tenant_id, warehouse_id, sku, records)
           VALUES (s.tenant_id, s.warehouse_id, s.sku, s.records)",
    )
    .execute(&mut *connection)
    .await?;
    Ok(rows)
}

async fn delete(connection: &mut PgConnection, deletes: &[&PositionKey]) -> Result<usize, sqlx::Error> {
    if deletes.is_empty() {
        return Ok(0);
    }
    let rows = sqlx::query(
        "WITH gone AS (SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) AS gone(tenant_id, warehouse_id, sku)),
              records AS (DELETE FROM recovery_stock_records WHERE (tenant_id, warehouse_id, sku) IN (SELECT * FROM gone))
         DELETE FROM stock_levels WHERE (tenant_id, warehouse_id, sku) IN (SELECT * FROM gone)",
    )
    .bind(texts(deletes, |position| &position.tenant_id))
    .bind(texts(deletes, |position| &position.warehouse_id))
    .bind(texts(deletes, |position| &position.sku))
    .execute(&mut *connection)
    .await?
    .rows_affected();
    Ok(rows as usize)
}

/// Every stored position with its levels.
pub(crate) async fn read(connection: &mut PgConnection) -> Result<Vec<(PositionKey, StockLevels)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT tenant_id, warehouse_id, sku, on_hand, reserved, on_order, records
         FROM stock_levels JOIN recovery_stock_records USING (tenant_id, warehouse_id, sku)",
    )
    .fetch_all(connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let position = PositionKey::new(id(&row, "tenant_id"), id(&row, "warehouse_id"), id(&row, "sku"));
            let levels = StockLevels {
                on_hand: row.get("on_hand"),
                reserved: row.get("reserved"),
                on_order: row.get("on_order"),
                records: row.get("records"),
            };
            (position, levels)
        })
        .collect())
}
