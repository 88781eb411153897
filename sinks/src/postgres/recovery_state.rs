//! Writing what recovery needs beyond the results: orders, policies and event ids
//! (`migrations/0002_recovery_state.sql`), inside the batch's transaction.

use flowmart_operators::dataflow::Retention;
use flowmart_pipelines::{ChangeBatch, Topics};
use sqlx::{PgConnection, Postgres, Transaction};

/// Stores the batch's order, policy and event-id changes and forgets what the operators no
/// longer remember at `batch.upper`.
pub(super) async fn write(
    transaction: &mut Transaction<'_, Postgres>,
    batch: &ChangeBatch,
    topics: &Topics,
    retention: Retention,
) -> Result<(), sqlx::Error> {
    let connection: &mut PgConnection = transaction;
    if !batch.orders.is_empty() {
        let states = batch
            .orders
            .iter()
            .map(|(_, state, _)| serde_json::to_string(state).map_err(|error| sqlx::Error::Encode(Box::new(error))))
            .collect::<Result<Vec<_>, _>>()?;
        sqlx::query(
            "INSERT INTO recovery_orders (tenant_id, order_id, state, changed_at)
             SELECT tenant_id, order_id, state::jsonb, changed_at
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[]) AS changed(tenant_id, order_id, state, changed_at)
             ON CONFLICT (tenant_id, order_id) DO UPDATE SET state = EXCLUDED.state, changed_at = EXCLUDED.changed_at",
        )
        .bind(batch.orders.iter().map(|((tenant_id, _), _, _)| tenant_id.to_string()).collect::<Vec<_>>())
        .bind(batch.orders.iter().map(|((_, order_id), _, _)| order_id.to_string()).collect::<Vec<_>>())
        .bind(states)
        .bind(batch.orders.iter().map(|(_, _, changed_at)| *changed_at as i64).collect::<Vec<_>>())
        .execute(&mut *connection)
        .await?;
    }
    // An order unchanged for the retention is forgotten by the upsert once time reaches
    // changed_at + retention; every later record comes at or after `upper`.
    if let Some(retention) = retention.orders_ms {
        sqlx::query("DELETE FROM recovery_orders WHERE changed_at <= $1")
            .bind(batch.upper.saturating_sub(retention) as i64)
            .execute(&mut *connection)
            .await?;
    }

    let (set, deleted): (Vec<_>, Vec<_>) = batch.policies.iter().partition(|(_, policy)| policy.is_some());
    let policies = set.iter().filter_map(|(_, policy)| policy.as_ref()).collect::<Vec<_>>();
    if !policies.is_empty() {
        sqlx::query(
            "INSERT INTO recovery_policies (tenant_id, warehouse_id, sku, reorder_point, reorder_quantity, max_level, order_multiple, lead_time_days)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], $8::int4[])
             ON CONFLICT (tenant_id, warehouse_id, sku) DO UPDATE SET
               reorder_point = EXCLUDED.reorder_point, reorder_quantity = EXCLUDED.reorder_quantity,
               max_level = EXCLUDED.max_level, order_multiple = EXCLUDED.order_multiple,
               lead_time_days = EXCLUDED.lead_time_days",
        )
        .bind(policies.iter().map(|policy| policy.tenant_id.to_string()).collect::<Vec<_>>())
        .bind(policies.iter().map(|policy| policy.warehouse_id.to_string()).collect::<Vec<_>>())
        .bind(policies.iter().map(|policy| policy.sku.to_string()).collect::<Vec<_>>())
        .bind(policies.iter().map(|policy| policy.reorder_point).collect::<Vec<_>>())
        .bind(policies.iter().map(|policy| policy.reorder_quantity).collect::<Vec<_>>())
        .bind(policies.iter().map(|policy| policy.max_level).collect::<Vec<_>>())
        .bind(policies.iter().map(|policy| policy.order_multiple).collect::<Vec<_>>())
        .bind(policies.iter().map(|policy| policy.lead_time_days).collect::<Vec<_>>())
        .execute(&mut *connection)
        .await?;
    }
    if !deleted.is_empty() {
        sqlx::query(
            "DELETE FROM recovery_policies WHERE (tenant_id, warehouse_id, sku) IN (SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]))",
        )
        .bind(deleted.iter().map(|(position, _)| position.tenant_id.to_string()).collect::<Vec<_>>())
        .bind(deleted.iter().map(|(position, _)| position.warehouse_id.to_string()).collect::<Vec<_>>())
        .bind(deleted.iter().map(|(position, _)| position.sku.to_string()).collect::<Vec<_>>())
        .execute(&mut *connection)
        .await?;
    }

    if !batch.event_ids.is_empty() {
        let count = batch.event_ids.iter().map(|(_, _, ids)| ids.len()).sum();
        let (mut topic_names, mut seen_at, mut event_ids) =
            (Vec::with_capacity(count), Vec::with_capacity(count), Vec::with_capacity(count));
        for (topic, time, ids) in &batch.event_ids {
            for id in ids {
                topic_names.push(topics.name(*topic));
                seen_at.push(*time as i64);
                event_ids.push(id.as_str());
            }
        }
        sqlx::query(
            "INSERT INTO recovery_event_ids (topic, seen_at, event_ids)
             SELECT topic, seen_at, array_agg(event_id)
             FROM UNNEST($1::text[], $2::int8[], $3::text[]) AS read(topic, seen_at, event_id)
             GROUP BY topic, seen_at
             ON CONFLICT (topic, seen_at) DO NOTHING",
        )
        .bind(topic_names)
        .bind(seen_at)
        .bind(event_ids)
        .execute(&mut *connection)
        .await?;
    }
    if let Some(retention) = retention.event_ids_ms {
        sqlx::query("DELETE FROM recovery_event_ids WHERE seen_at <= $1")
            .bind(batch.upper.saturating_sub(retention) as i64)
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}
