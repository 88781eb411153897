//! Stock positions: on_hand, reserved and on_order per (tenant, warehouse, sku).

use differential_dataflow::difference::{Abelian, IsZero, Monoid, Multiply, Semigroup};
use differential_dataflow::operators::CountTotal;
use flowmart_schemas::{InventoryEvent, InventoryKind, OrderStatus, PositionKey};
use serde::{Deserialize, Serialize};

use crate::order_upsert::{OrderKey, OrderState};
use crate::{Collection, Sourced};

/// The stock at one position: the sums of every effect the contract assigns to inventory events
/// and to the lines of current order versions.
///
/// It is also the difference type the operator accumulates: each record contributes its effect,
/// and differential dataflow keeps one consolidated sum per position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StockLevels {
    /// Units physically in the warehouse.
    pub on_hand: i64,
    /// Units promised to placed or confirmed orders.
    pub reserved: i64,
    /// Units ordered from suppliers and not yet received.
    pub on_order: i64,
    /// How many current records touch the position: it exists (has been seen) while this is
    /// positive, even when every level is zero.
    pub records: i64,
}

impl StockLevels {
    /// `on_hand - reserved`.
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }

    /// `on_hand - reserved + on_order`.
    pub fn projected(&self) -> i64 {
        self.on_hand - self.reserved + self.on_order
    }

    /// The effect of one inventory event (`CONTRACT.md` §2).
    pub fn of_inventory(event: &InventoryEvent) -> StockLevels {
        let quantity = event.quantity;
        let (on_hand, on_order) = match event.kind {
            InventoryKind::Received if event.purchase_order_id.is_some() => (quantity, -quantity),
            InventoryKind::Received | InventoryKind::TransferredIn | InventoryKind::Adjusted => (quantity, 0),
            InventoryKind::TransferredOut | InventoryKind::Damaged => (-quantity, 0),
            InventoryKind::PurchaseOrdered => (0, quantity),
            InventoryKind::PurchaseCancelled => (0, -quantity),
        };
        StockLevels { on_hand, reserved: 0, on_order, records: 1 }
    }

    /// The effect of a line of `quantity` units of the current version of an order in `status`.
    pub fn of_order_line(status: OrderStatus, quantity: i64) -> StockLevels {
        let (on_hand, reserved) = match status {
            OrderStatus::Placed | OrderStatus::Confirmed => (0, quantity),
            OrderStatus::Shipped | OrderStatus::Delivered => (-quantity, 0),
            OrderStatus::Cancelled | OrderStatus::Returned => (0, 0),
        };
        StockLevels { on_hand, reserved, on_order: 0, records: 1 }
    }
}

impl IsZero for StockLevels {
    fn is_zero(&self) -> bool {
        *self == StockLevels::default()
    }
}

impl Semigroup for StockLevels {
    fn plus_equals(&mut self, rhs: &Self) {
        self.on_hand += rhs.on_hand;
        self.reserved += rhs.reserved;
        self.on_order += rhs.on_order;
        self.records += rhs.records;
    }
}

impl Monoid for StockLevels {
    fn zero() -> Self {
        StockLevels::default()
    }
}

impl Abelian for StockLevels {
    fn negate(&mut self) {
        *self = StockLevels {
            on_hand: -self.on_hand,
            reserved: -self.reserved,
            on_order: -self.on_order,
            records: -self.records,
        };
    }
}

impl Multiply<isize> for StockLevels {
    type Output = StockLevels;
    fn multiply(self, rhs: &isize) -> StockLevels {
        let factor = *rhs as i64;
        StockLevels {
            on_hand: self.on_hand * factor,
            reserved: self.reserved * factor,
            on_order: self.on_order * factor,
            records: self.records * factor,
        }
    }
}

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
