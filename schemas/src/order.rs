use serde::{Deserialize, Serialize};

use crate::{Id, TimestampMillis};

/// The full current state of one sales order, re-sent on every change (`OrderEvent.avsc`).
///
/// Only the highest `version` of each (tenant_id, order_id) counts.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OrderEvent {
    /// Unique per event.
    pub event_id: Id,
    /// The seller, whose stock moves.
    pub tenant_id: Id,
    /// The order, unique within the tenant.
    pub order_id: Id,
    /// The buying business.
    pub buyer_id: Id,
    /// At least 1; a higher version supersedes a lower one whatever the arrival order.
    pub version: i32,
    /// Where the order is in its life.
    pub status: OrderStatus,
    /// At least one line.
    pub lines: Vec<OrderLine>,
    /// ISO 4217 code of the prices.
    pub currency: Id,
    /// When this version was made.
    pub occurred_at: TimestampMillis,
}

/// One line of an order (Avro record `OrderLine`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OrderLine {
    /// The stock-keeping unit sold.
    pub sku: Id,
    /// The warehouse it ships from.
    pub warehouse_id: Id,
    /// How many, > 0.
    pub quantity: i64,
    /// Price per unit in minor units, >= 0.
    pub unit_price_minor: i64,
}

/// The life of a sales order (Avro enum `OrderStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Placed by the buyer: its lines are reserved.
    Placed,
    /// Confirmed by the seller: its lines stay reserved.
    Confirmed,
    /// Shipped: its lines left on_hand.
    Shipped,
    /// Delivered: its lines stay out of on_hand.
    Delivered,
    /// Cancelled: no effect on stock.
    Cancelled,
    /// Returned: no effect (the goods are back on hand).
    Returned,
}

impl OrderStatus {
    /// Every status, in the Avro enum's order.
    pub const ALL: [OrderStatus; 6] = [
        OrderStatus::Placed,
        OrderStatus::Confirmed,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Returned,
    ];

    /// The Avro symbol, as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "PLACED",
            OrderStatus::Confirmed => "CONFIRMED",
            OrderStatus::Shipped => "SHIPPED",
            OrderStatus::Delivered => "DELIVERED",
            OrderStatus::Cancelled => "CANCELLED",
            OrderStatus::Returned => "RETURNED",
        }
    }
}
