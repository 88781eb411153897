//! `recovery_policies`: the current reorder policy per position.

use flowmart_schemas::{PositionKey, ReorderPolicy};
use sqlx::{PgConnection, Row};

use super::{id, texts};

/// Stores the batch's new policies and deletes those that were deleted.
pub(crate) async fn write(
    connection: &mut PgConnection,
    changes: &[(PositionKey, Option<ReorderPolicy>)],
) -> Result<(), sqlx::Error> {
    let set = changes.iter().filter_map(|(_, policy)| policy.as_ref()).collect::<Vec<_>>();
    let deleted =
        changes.iter().filter(|(_, policy)| policy.is_none()).map(|(position, _)| position).collect::<Vec<_>>();
    if !set.is_empty() {
        let number = |field: fn(&ReorderPolicy) -> i64| set.iter().map(|policy| field(policy)).collect::<Vec<_>>();
        sqlx::query(
            "INSERT INTO recovery_policies (tenant_id, warehouse_id, sku, reorder_point, reorder_quantity, max_level, order_multiple, lead_time_days)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], $8::int4[])
             ON CONFLICT (tenant_id, warehouse_id, sku) DO UPDATE SET
               reorder_point = EXCLUDED.reorder_point, reorder_quantity = EXCLUDED.reorder_quantity,
               max_level = EXCLUDED.max_level, order_multiple = EXCLUDED.order_multiple,
               lead_time_days = EXCLUDED.lead_time_days",
        )
        .bind(texts(&set, |policy| &policy.tenant_id))
        .bind(texts(&set, |policy| &policy.warehouse_id))
        .bind(texts(&set, |policy| &policy.sku))
        .bind(number(|policy| policy.reorder_point))
        .bind(number(|policy| policy.reorder_quantity))
        .bind(set.iter().map(|policy| policy.max_level).collect::<Vec<_>>())
        .bind(set.iter().map(|policy| policy.order_multiple).collect::<Vec<_>>())
        .bind(set.iter().map(|policy| policy.lead_time_days).collect::<Vec<_>>())
        .execute(&mut *connection)
        .await?;
    }
    if !deleted.is_empty() {
        sqlx::query(
            "DELETE FROM recovery_policies WHERE (tenant_id, warehouse_id, sku) IN (SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]))",
        )
        .bind(texts(&deleted, |position| &position.tenant_id))
        .bind(texts(&deleted, |position| &position.warehouse_id))
        .bind(texts(&deleted, |position| &position.sku))
        .execute(connection)
        .await?;
    }
    Ok(())
}

/// Every stored policy.
pub(crate) async fn read(connection: &mut PgConnection) -> Result<Vec<(PositionKey, ReorderPolicy)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT tenant_id, warehouse_id, sku, reorder_point, reorder_quantity, max_level, order_multiple, lead_time_days
         FROM recovery_policies",
    )
    .fetch_all(connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let policy = ReorderPolicy {
                tenant_id: id(&row, "tenant_id"),
                warehouse_id: id(&row, "warehouse_id"),
                sku: id(&row, "sku"),
                reorder_point: row.get("reorder_point"),
                reorder_quantity: row.get("reorder_quantity"),
                max_level: row.get("max_level"),
                order_multiple: row.get("order_multiple"),
                lead_time_days: row.get("lead_time_days"),
            };
            (policy.position(), policy)
        })
        .collect())
}
