use serde::{Deserialize, Serialize};

use crate::{Id, TimestampMillis};

/// A movement of stock at one (tenant, warehouse, sku) position (`InventoryEvent.avsc`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InventoryEvent {
    /// Unique per event; a repeat is a producer retry and changes nothing.
    pub event_id: Id,
    /// The tenant that owns the stock.
    pub tenant_id: Id,
    /// The warehouse where the stock moved.
    pub warehouse_id: Id,
    /// The stock-keeping unit that moved.
    pub sku: Id,
    /// What happened.
    pub kind: InventoryKind,
    /// How much; positive for every kind but `ADJUSTED`, which is signed and non-zero.
    pub quantity: i64,
    /// When it happened.
    pub occurred_at: TimestampMillis,
    /// The purchase order a `RECEIVED` delivery fulfils, if any.
    #[serde(default)]
    pub purchase_order_id: Option<Id>,
}

/// The kinds of stock movement (Avro enum `InventoryKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InventoryKind {
    /// Goods arrived: on_hand += q; with a purchase order, also on_order -= q.
    Received,
    /// Goods came in from another warehouse: on_hand += q.
    TransferredIn,
    /// Goods left for another warehouse: on_hand -= q.
    TransferredOut,
    /// Goods were written off: on_hand -= q.
    Damaged,
    /// A stock count corrected on_hand by a signed q.
    Adjusted,
    /// Goods were ordered from a supplier: on_order += q.
    PurchaseOrdered,
    /// A supplier order was cancelled: on_order -= q.
    PurchaseCancelled,
}

impl InventoryKind {
    /// Every kind, in the Avro enum's order.
    pub const ALL: [InventoryKind; 7] = [
        InventoryKind::Received,
        InventoryKind::TransferredIn,
        InventoryKind::TransferredOut,
        InventoryKind::Damaged,
        InventoryKind::Adjusted,
        InventoryKind::PurchaseOrdered,
        InventoryKind::PurchaseCancelled,
    ];

    /// The Avro symbol, as it appears on the wire and in error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            InventoryKind::Received => "RECEIVED",
            InventoryKind::TransferredIn => "TRANSFERRED_IN",
            InventoryKind::TransferredOut => "TRANSFERRED_OUT",
            InventoryKind::Damaged => "DAMAGED",
            InventoryKind::Adjusted => "ADJUSTED",
            InventoryKind::PurchaseOrdered => "PURCHASE_ORDERED",
            InventoryKind::PurchaseCancelled => "PURCHASE_CANCELLED",
        }
    }
}
