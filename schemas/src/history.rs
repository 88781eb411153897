//! Lineage (`CONTRACT.md` §5, "Audit trail"): one row per record and result it changed — which
//! record (event id, topic, partition, offset) moved a stock position or a settlement row, by how
//! much, and when the pipeline applied it. The values of the stock and settlements outputs are
//! the sums of their rows' deltas.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{
    Id, InputTopic, InventoryKind, OrderStatus, PaymentKind, PositionKey, SettlementKey, Time, TimestampMillis,
};

/// Where a record was read: its topic, partition and offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordSource {
    /// The topic it was read from.
    pub topic: InputTopic,
    /// Its partition.
    pub partition: u32,
    /// Its offset in the partition.
    pub offset: u64,
}

/// What kind of record moved a stock position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum StockChangeKind {
    /// An inventory event of this kind.
    Inventory(InventoryKind),
    /// An order version: its status, and the status of the version it replaced (`None` for an
    /// order's first version the pipeline applied).
    Order {
        /// The replaced version's status.
        from: Option<OrderStatus>,
        /// The new version's status.
        to: OrderStatus,
    },
}

impl fmt::Display for StockChangeKind {
    /// The inventory kind (`RECEIVED`), or `order:PLACED` for an order's first version and
    /// `order:PLACED->SHIPPED` for a version that replaced another.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StockChangeKind::Inventory(kind) => f.write_str(kind.as_str()),
            StockChangeKind::Order { from: None, to } => write!(f, "order:{}", to.as_str()),
            StockChangeKind::Order { from: Some(from), to } => write!(f, "order:{}->{}", from.as_str(), to.as_str()),
        }
    }
}

/// One record's change to one stock position.
///
/// The deltas are exact (128-bit): an order version replacing one that shipped `2^63` units moves
/// `on_hand` by more than a 64-bit value holds, though the levels before and after are in range.
/// A sink that stores 64-bit deltas refuses such a row (and the record is dead-lettered as
/// `sink_rejected`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StockHistoryRow {
    /// The pipeline time the change was applied at (`applied_at`); first, so rows sort by it.
    pub applied_at: Time,
    /// Where the record was read.
    pub source: RecordSource,
    /// The position it changed.
    pub position: PositionKey,
    /// The record's `event_id`.
    pub event_id: Id,
    /// What kind of record it was.
    pub kind: StockChangeKind,
    /// Its change to `on_hand`.
    pub on_hand_delta: i128,
    /// Its change to `reserved`.
    pub reserved_delta: i128,
    /// Its change to `on_order`.
    pub on_order_delta: i128,
    /// The record's `occurred_at`.
    pub occurred_at: TimestampMillis,
}

/// One payment's change to one settlement row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SettlementHistoryRow {
    /// The pipeline time the payment was applied at (`applied_at`); first, so rows sort by it.
    pub applied_at: Time,
    /// Where the payment was read.
    pub source: RecordSource,
    /// The settlement row it changed.
    pub settlement: SettlementKey,
    /// The payment's `event_id`.
    pub event_id: Id,
    /// Its kind: which sum it added to.
    pub kind: PaymentKind,
    /// Its `amount_minor`.
    pub amount_minor: i64,
    /// Its `occurred_at`.
    pub occurred_at: TimestampMillis,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_version_names_the_status_transition_it_made() {
        let first = StockChangeKind::Order { from: None, to: OrderStatus::Placed };
        let next = StockChangeKind::Order { from: Some(OrderStatus::Placed), to: OrderStatus::Shipped };
        assert_eq!(first.to_string(), "order:PLACED");
        assert_eq!(next.to_string(), "order:PLACED->SHIPPED");
        assert_eq!(StockChangeKind::Inventory(InventoryKind::PurchaseOrdered).to_string(), "PURCHASE_ORDERED");
    }
}
