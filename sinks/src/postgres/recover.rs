//! Reading back what the sink stored: the operator state, the offsets it covers, the serving
//! index's contents, and the alert changes that may not have reached the alerts topic.

use std::collections::BTreeMap;

use flowmart_operators::Time;
use flowmart_operators::dataflow::Retention;
use flowmart_operators::order_upsert::OrderState;
use flowmart_operators::recovery::RecoveredState;
use flowmart_operators::reorder_alerts::{OpenAlert, ReorderCheck};
use flowmart_operators::settlement_totals::{SettlementDate, SettlementKey, SettlementTotals};
use flowmart_operators::stock_positions::StockLevels;
use flowmart_pipelines::runtime::Resume;
use flowmart_pipelines::serving::{AlertState, AlertView, Snapshot};
use flowmart_pipelines::{InputTopic, SourceProgress, Topics};
use flowmart_schemas::{Currency, Id, PositionKey, ReorderAlert, ReorderAlertStatus, ReorderPolicy};
use sqlx::{PgConnection, Row};

/// Everything a restarted pipeline takes from the database.
#[derive(Clone, Debug, Default)]
pub struct Recovered {
    /// Where the pipeline resumes: its operator state, offsets, and alert numbering.
    pub resume: Resume,
    /// What the serving index starts with.
    pub snapshot: Snapshot,
    /// The last committed batch's alert changes, numbered: the alert sink publishes those not
    /// yet on the alerts topic before anything else.
    pub unconfirmed_alerts: Vec<(u64, ReorderAlert)>,
    /// The last alert changes stored (up to 65,536), numbered, in order: what the serving index
    /// starts with, for streams and webhooks to resume from.
    pub recent_alerts: Vec<(u64, ReorderAlert)>,
}

/// Why stored state could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// The database failed.
    #[error("cannot read the stored state: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value does not parse.
    #[error("stored state is corrupt: {0}")]
    Corrupt(String),
}

/// Reads the stored state. `retention` is the pipeline's (orders and ids it would have
/// forgotten are left out); resolved alerts older than `resolved_alert_retention_ms` are left out
/// of the index, as the index would have expired them.
pub(super) async fn recover(
    connection: &mut PgConnection,
    topics: &Topics,
    retention: Retention,
    resolved_alert_retention_ms: Time,
) -> Result<Recovered, RecoverError> {
    let Some(frontier) =
        sqlx::query("SELECT as_of, alert_changes FROM pipeline_frontier").fetch_optional(&mut *connection).await?
    else {
        return Ok(Recovered::default());
    };
    let as_of = frontier.get::<i64, _>("as_of") as Time;
    let alerts_before = frontier.get::<i64, _>("alert_changes") as u64;
    let topic_of = |name: &str| {
        InputTopic::ALL.into_iter().find(|topic| topics.name(*topic) == name).ok_or_else(|| {
            RecoverError::Corrupt(format!("stored progress names topic {name:?}, which is not an input"))
        })
    };

    let mut progress = SourceProgress::default();
    for row in
        sqlx::query("SELECT topic, partition, next_offset FROM pipeline_progress").fetch_all(&mut *connection).await?
    {
        let next = row.get::<i64, _>("next_offset");
        if next > 0 {
            progress.consumed(topic_of(row.get("topic"))?, row.get::<i32, _>("partition") as u32, next as u64 - 1);
        }
    }

    let stock = sqlx::query(
        "SELECT tenant_id, warehouse_id, sku, on_hand, reserved, on_order, records
         FROM stock_levels JOIN recovery_stock_records USING (tenant_id, warehouse_id, sku)",
    )
    .fetch_all(&mut *connection)
    .await?
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
    .collect::<Vec<_>>();

    let settlements = sqlx::query(
        "SELECT tenant_id, currency, date::text AS date, captured, refunded, chargebacks, fees, payouts, authorized, payments
         FROM settlement_totals JOIN recovery_settlement_payments USING (tenant_id, currency, date)",
    )
    .fetch_all(&mut *connection)
    .await?
    .into_iter()
    .map(|row| {
        let currency: &str = row.get("currency");
        let date: &str = row.get("date");
        let key = SettlementKey {
            tenant_id: id(&row, "tenant_id"),
            currency: Currency::parse(currency).ok_or_else(|| RecoverError::Corrupt(format!("currency {currency:?}")))?,
            settlement_date: SettlementDate::parse(date).ok_or_else(|| RecoverError::Corrupt(format!("date {date:?}")))?,
        };
        let totals = SettlementTotals {
            captured: row.get("captured"),
            refunded: row.get("refunded"),
            chargebacks: row.get("chargebacks"),
            fees: row.get("fees"),
            payouts: row.get("payouts"),
            authorized: row.get("authorized"),
            payments: row.get("payments"),
        };
        Ok((key, totals))
    })
    .collect::<Result<Vec<_>, RecoverError>>()?;

    let forgotten_before = |retention: Option<Time>| retention.map_or(i64::MIN, |ms| as_of.saturating_sub(ms) as i64);
    let orders = sqlx::query(
        "SELECT tenant_id, order_id, state::text AS state, changed_at FROM recovery_orders WHERE changed_at > $1",
    )
    .bind(forgotten_before(retention.orders_ms))
    .fetch_all(&mut *connection)
    .await?
    .into_iter()
    .map(|row| {
        let state = serde_json::from_str::<OrderState>(row.get("state"))
            .map_err(|error| RecoverError::Corrupt(format!("order state: {error}")))?;
        Ok(((id(&row, "tenant_id"), id(&row, "order_id")), (state, row.get::<i64, _>("changed_at") as Time)))
    })
    .collect::<Result<Vec<_>, RecoverError>>()?;

    let policies = sqlx::query(
        "SELECT tenant_id, warehouse_id, sku, reorder_point, reorder_quantity, max_level, order_multiple, lead_time_days
         FROM recovery_policies",
    )
    .fetch_all(&mut *connection)
    .await?
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
    .collect::<Vec<_>>();

    let alerts = sqlx::query(
        "SELECT alert_id, tenant_id, warehouse_id, sku, projected, reorder_point, suggested_quantity, opened_at, resolved_at
         FROM reorder_alerts WHERE resolved_at IS NULL OR resolved_at >= $1",
    )
    .bind(as_of.saturating_sub(resolved_alert_retention_ms) as i64)
    .fetch_all(&mut *connection)
    .await?
    .into_iter()
    .map(|row| {
        let resolved_at = row.get::<Option<i64>, _>("resolved_at").map(|at| at as Time);
        let alert = AlertView {
            alert_id: id(&row, "alert_id"),
            warehouse_id: id(&row, "warehouse_id"),
            sku: id(&row, "sku"),
            state: if resolved_at.is_some() { AlertState::Resolved } else { AlertState::Open },
            projected: row.get("projected"),
            reorder_point: row.get("reorder_point"),
            suggested_quantity: row.get("suggested_quantity"),
            opened_at: row.get::<i64, _>("opened_at") as Time,
            resolved_at,
        };
        (id(&row, "tenant_id"), alert)
    })
    .collect::<Vec<_>>();
    let open_alerts = alerts
        .iter()
        .filter(|(_, alert)| alert.state == AlertState::Open)
        .map(|(tenant_id, alert)| {
            let position = PositionKey::new(tenant_id.clone(), alert.warehouse_id.clone(), alert.sku.clone());
            let last = ReorderCheck {
                projected: alert.projected,
                reorder_point: alert.reorder_point,
                suggested_quantity: alert.suggested_quantity,
            };
            (position, OpenAlert { alert_id: alert.alert_id.clone(), last })
        })
        .collect();

    let mut seen = BTreeMap::<InputTopic, Vec<(Id, Time)>>::new();
    let rows = sqlx::query("SELECT topic, seen_at, event_ids FROM recovery_event_ids WHERE seen_at > $1")
        .bind(forgotten_before(retention.event_ids_ms))
        .fetch_all(&mut *connection)
        .await?;
    for row in rows {
        let seen_at = row.get::<i64, _>("seen_at") as Time;
        let ids = seen.entry(topic_of(row.get("topic"))?).or_default();
        ids.extend(row.get::<Vec<String>, _>("event_ids").into_iter().map(|event_id| (Id::from(event_id), seen_at)));
    }

    let recent_alerts = sqlx::query(
        "SELECT sequence, alert_id, tenant_id, warehouse_id, sku, status, projected, reorder_point, suggested_quantity, changed_at, committed_as_of
         FROM alert_outbox ORDER BY sequence",
    )
    .fetch_all(&mut *connection)
    .await?
    .into_iter()
    .map(|row| {
        let status: &str = row.get("status");
        let alert = ReorderAlert {
            alert_id: id(&row, "alert_id"),
            tenant_id: id(&row, "tenant_id"),
            warehouse_id: id(&row, "warehouse_id"),
            sku: id(&row, "sku"),
            status: ReorderAlertStatus::from_symbol(status)
                .ok_or_else(|| RecoverError::Corrupt(format!("alert status {status:?}")))?,
            projected: row.get("projected"),
            reorder_point: row.get("reorder_point"),
            suggested_quantity: row.get("suggested_quantity"),
            changed_at: row.get("changed_at"),
        };
        Ok((row.get::<i64, _>("committed_as_of"), (row.get::<i64, _>("sequence") as u64, alert)))
    })
    .collect::<Result<Vec<_>, RecoverError>>()?;
    let last_commit = recent_alerts.iter().map(|(committed_as_of, _)| *committed_as_of).max();
    let unconfirmed_alerts = recent_alerts
        .iter()
        .filter(|(committed_as_of, _)| Some(*committed_as_of) == last_commit)
        .map(|(_, numbered)| numbered.clone())
        .collect();
    let recent_alerts = recent_alerts.into_iter().map(|(_, numbered)| numbered).collect();

    let snapshot =
        Snapshot::restored(as_of, progress.clone(), alerts_before, stock.clone(), settlements.clone(), alerts);
    let state = RecoveredState {
        as_of,
        stock,
        settlements,
        orders,
        policies,
        open_alerts,
        inventory_ids: seen.remove(&InputTopic::Inventory).unwrap_or_default(),
        payment_ids: seen.remove(&InputTopic::Payments).unwrap_or_default(),
    };
    Ok(Recovered { resume: Resume { state, progress, alerts_before }, snapshot, unconfirmed_alerts, recent_alerts })
}

fn id(row: &sqlx::postgres::PgRow, column: &str) -> Id {
    Id::from(row.get::<&str, _>(column))
}
