//! Stock positions: on_hand, reserved and on_order per (tenant, warehouse, sku).

use differential_dataflow::operators::CountTotal;
use flowmart_schemas::{InventoryEvent, OrderKey, OrderState, PositionKey, StockLevels};

use crate::{Collection, Sourced};

/// **In:** deduplicated inventory events, the current version of every order, and recovered
/// levels (the levels a recovered pipeline starts from, each position's as its difference).
/// **Out:** per position touched by any of them, `(position, levels)`; when the levels change at
/// a time the output retracts the old pair and adds the new one. A position whose every record is
/// retracted leaves the collection.
///
/// **State:** one consolidated [`StockLevels`] per position (the input arrangement, its updates
/// carried in the difference), compacted as the frontier advances — bounded by the number of
/// positions, not by the number of events.
pub fn stock_positions<'scope>(
    inventory: Collection<'scope, Sourced<InventoryEvent>>,
    orders: Collection<'scope, (OrderKey, OrderState)>,
    recovered: Collection<'scope, PositionKey, StockLevels>,
) -> Collection<'scope, (PositionKey, StockLevels)> {
    let inventory = inventory.explode(|record| {
        let event = record.event;
        let levels = StockLevels::of_inventory(&event);
        Some((PositionKey { tenant_id: event.tenant_id, warehouse_id: event.warehouse_id, sku: event.sku }, levels))
    });
    inventory.concat(order_lines(orders)).concat(recovered).count_total()
}

/// What the current versions of `orders` add to each position, as differences.
pub fn order_lines<'scope>(
    orders: Collection<'scope, (OrderKey, OrderState)>,
) -> Collection<'scope, PositionKey, StockLevels> {
    orders.explode(|((tenant_id, _), OrderState { status, lines, .. })| {
        lines.into_iter().map(move |(warehouse_id, sku, quantity)| {
            let levels = StockLevels::of_order_line(status, quantity);
            (PositionKey { tenant_id: tenant_id.clone(), warehouse_id, sku }, levels)
        })
    })
}
