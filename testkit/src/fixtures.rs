//! Records and batches that tests build by hand: sensible values for every field, so a test
//! names only what it is about (`ReorderAlert { status, ..reorder_alert("acme", "SKU-1") }`).

use flowmart_runtime::ChangeBatch;
use flowmart_schemas::{
    InventoryEvent, InventoryKind, PositionKey, ReorderAlert, ReorderAlertStatus, StockLevels, Time, TimestampMillis,
};

/// 2026-01-05T00:00:00Z: an `occurred_at` inside the contract's range.
pub const OCCURRED_AT: TimestampMillis = 1_767_571_200_000;

/// An OPENED change of the alert `alert-{sku}` for `tenant_id`'s `sku` in warehouse `berlin`.
pub fn reorder_alert(tenant_id: &str, sku: &str) -> ReorderAlert {
    ReorderAlert {
        alert_id: format!("alert-{sku}").into(),
        tenant_id: tenant_id.into(),
        warehouse_id: "berlin".into(),
        sku: sku.into(),
        status: ReorderAlertStatus::Opened,
        projected: 1,
        reorder_point: 5,
        suggested_quantity: 10,
        changed_at: OCCURRED_AT,
    }
}

/// A receipt of `quantity` units of acme's `SKU-1` in `berlin`.
pub fn inventory_event(event_id: &str, quantity: i64) -> InventoryEvent {
    InventoryEvent {
        event_id: event_id.into(),
        tenant_id: "acme".into(),
        warehouse_id: "berlin".into(),
        sku: "SKU-1".into(),
        kind: InventoryKind::Received,
        quantity,
        occurred_at: OCCURRED_AT,
        purchase_order_id: None,
    }
}

/// A batch holding `alerts`, numbered from `alerts_before + 1`, and nothing else.
pub fn alert_batch(alerts_before: u64, alerts: Vec<ReorderAlert>) -> ChangeBatch {
    let mut batch = ChangeBatch { alerts_before, ..ChangeBatch::default() };
    batch.changes.alerts = alerts;
    batch
}

/// A batch of the times `[lower, upper)` holding new stock levels (`None`: gone), and nothing else.
pub fn stock_batch(lower: Time, upper: Time, stock: Vec<(PositionKey, Option<StockLevels>)>) -> ChangeBatch {
    let mut batch = ChangeBatch { lower, upper, ..ChangeBatch::default() };
    batch.changes.stock = stock;
    batch
}
