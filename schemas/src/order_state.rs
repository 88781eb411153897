//! The current state of an order: what the order upsert outputs per order and what recovery
//! stores of it.

use serde::{Deserialize, Serialize};

use crate::{Id, OrderEvent, OrderStatus, Time};

/// An order's identity: the seller and the order id.
pub type OrderKey = (Id, Id);

/// What of an order's current version moves stock: its version, status and, per line, where and
/// how many. (Prices, buyer and timestamps stay behind: they would only be copied through every
/// operator.)
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OrderState {
    /// The version this state is of.
    pub version: i32,
    /// The status of the current version.
    pub status: OrderStatus,
    /// `(warehouse_id, sku, quantity)` per line of the current version.
    pub lines: Vec<(Id, Id, i64)>,
}

impl From<OrderEvent> for OrderState {
    fn from(order: OrderEvent) -> Self {
        OrderState {
            version: order.version,
            status: order.status,
            lines: order.lines.into_iter().map(|line| (line.warehouse_id, line.sku, line.quantity)).collect(),
        }
    }
}

/// An order as recovered: its current state and the pipeline time it last changed.
pub type RecoveredOrder = (OrderKey, (OrderState, Time));
