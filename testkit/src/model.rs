use std::collections::BTreeMap;

use flowmart_operators::reference::ReferenceModel;
use flowmart_schemas::AlertState;
use flowmart_schemas::SettlementKey;
use flowmart_schemas::{InputRecord, PositionKey};
use flowmart_serving::Snapshot;

/// The reference model after `records`, in the order they are read; alerts evaluated at the end.
pub fn model_of(records: impl IntoIterator<Item = InputRecord>) -> ReferenceModel {
    let mut model = ReferenceModel::new();
    for record in records {
        // A record that breaks a rule changes nothing: the model refuses it, as the pipeline does.
        let _ = model.apply(record);
    }
    model.end_time(0);
    model
}

/// The model's stock as the rows of `stock_levels` would read (`tenant_id, warehouse_id, sku,
/// on_hand, reserved, on_order, available, projected`, as text), sorted.
pub fn stock_rows(model: &ReferenceModel) -> Vec<Vec<String>> {
    let mut rows = model
        .stock()
        .iter()
        .map(|(position, levels)| {
            [position.tenant_id.to_string(), position.warehouse_id.to_string(), position.sku.to_string()]
                .into_iter()
                .chain(
                    [levels.on_hand, levels.reserved, levels.on_order, levels.available(), levels.projected()]
                        .map(|n| n.to_string()),
                )
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>();
    rows.sort();
    rows
}

/// The query reading `stock_levels` as [`stock_rows`] gives the model's.
pub const STOCK_ROWS_QUERY: &str = "SELECT tenant_id, warehouse_id, sku, on_hand::text, reserved::text, on_order::text, \
     available::text, projected::text FROM stock_levels ORDER BY 1, 2, 3";

/// The model's settlement totals as the rows of `settlement_totals` would read (every column as
/// text, in the table's order), sorted.
pub fn settlement_rows(model: &ReferenceModel) -> Vec<Vec<String>> {
    let mut rows = model
        .settlements()
        .iter()
        .map(|(key, totals)| {
            let key = [key.tenant_id.to_string(), key.currency.to_string(), key.settlement_date.to_string()];
            let values = [
                totals.captured,
                totals.refunded,
                totals.chargebacks,
                totals.fees,
                totals.payouts,
                totals.net(),
                totals.authorized,
            ];
            key.into_iter().chain(values.iter().map(i64::to_string)).collect::<Vec<_>>()
        })
        .collect::<Vec<_>>();
    rows.sort();
    rows
}

/// Asserts that a serving snapshot holds exactly the model's stock, settlements and open alerts
/// (open alerts compared by position and numbers: their ids depend on when they opened).
pub fn assert_snapshot_equals_model(snapshot: &Snapshot, model: &ReferenceModel) {
    let stock = snapshot
        .tenants
        .iter()
        .flat_map(|(tenant_id, view)| {
            view.stock.iter().map(move |((warehouse_id, sku), levels)| {
                (PositionKey::new(tenant_id.clone(), warehouse_id.clone(), sku.clone()), *levels)
            })
        })
        .collect::<BTreeMap<_, _>>();
    assert_eq!(stock.len(), model.stock().len(), "number of positions");
    assert_eq!(stock, model.stock(), "stock levels");

    let settlements = snapshot
        .tenants
        .iter()
        .flat_map(|(tenant_id, view)| {
            view.settlements.iter().map(move |((settlement_date, currency), totals)| {
                let key = SettlementKey {
                    tenant_id: tenant_id.clone(),
                    currency: *currency,
                    settlement_date: *settlement_date,
                };
                (key, *totals)
            })
        })
        .collect::<BTreeMap<_, _>>();
    assert_eq!(settlements, model.settlements(), "settlement totals");

    let open_alerts = snapshot
        .tenants
        .iter()
        .flat_map(|(tenant_id, view)| {
            view.alerts.values().filter(|alert| alert.state == AlertState::Open).map(move |alert| {
                let position = PositionKey::new(tenant_id.clone(), alert.warehouse_id.clone(), alert.sku.clone());
                (position, (alert.projected, alert.reorder_point, alert.suggested_quantity))
            })
        })
        .collect::<BTreeMap<_, _>>();
    let model_open = model
        .open_alerts()
        .iter()
        .map(|(position, (_, check))| {
            (position.clone(), (check.projected, check.reorder_point, check.suggested_quantity))
        })
        .collect::<BTreeMap<_, _>>();
    assert!(!model_open.is_empty(), "the workload leaves alerts open");
    assert_eq!(open_alerts, model_open, "open alerts");
    for (tenant_id, view) in &snapshot.tenants {
        let open = view.alerts.values().filter(|alert| alert.state == AlertState::Open).count();
        assert_eq!(view.open_alerts, open, "open alert count of {tenant_id}");
    }
}
