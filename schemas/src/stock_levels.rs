//! Stock levels at one position: the value the stock output holds per key.

use differential_dataflow::difference::{Abelian, IsZero, Monoid, Multiply, Semigroup};
use serde::{Deserialize, Serialize};

use crate::{InventoryEvent, InventoryKind, OrderStatus};

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
