//! "Nothing wraps" (`CONTRACT.md` §2): a record whose effect would take an aggregate outside the
//! signed 64-bit range is refused, and the pipeline dead-letters it with `error.kind`
//! [`AggregateOutOfRange::KIND`].
//!
//! # Which aggregate a refusal names
//!
//! A record can take several aggregates out of range at once; its refusal names the first in this
//! order, so that every worker count and the reference model name the same one:
//!
//! - a payment: its kind's sum, then `payment count`, then `net`;
//! - an inventory event or a policy, at its position: `on_hand`, `reserved`, `on_order`,
//!   `record count`, `available`, `projected`, then (when the position has a policy)
//!   `suggested_quantity`;
//! - an order version: first its own line effects — per position, in the order the position first
//!   appears among its lines, the sums of its lines there (`reserved` or `on_hand`, then `record
//!   count`), keyed by order and position; then each position it touches as above — the positions
//!   of its lines in that order, then those only the version it replaces had lines at.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{InputTopic, OrderKey, PositionKey, SettlementKey};

/// An aggregate the pipeline keeps, named as in the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Aggregate {
    /// A stock position's `on_hand` (or an order version's effect on it).
    OnHand,
    /// A stock position's `reserved` (or an order version's effect on it).
    Reserved,
    /// A stock position's `on_order`.
    OnOrder,
    /// How many current records touch a position (or how many lines an order version has there).
    RecordCount,
    /// `on_hand - reserved`.
    Available,
    /// `on_hand - reserved + on_order`.
    Projected,
    /// The policy's suggested quantity at the position's projected stock.
    SuggestedQuantity,
    /// The settlement sum of CAPTURED payments.
    Captured,
    /// The settlement sum of REFUNDED payments.
    Refunded,
    /// The settlement sum of CHARGEBACK payments.
    Chargebacks,
    /// The settlement sum of FEE payments.
    Fees,
    /// The settlement sum of PAYOUT payments.
    Payouts,
    /// The settlement sum of AUTHORIZED payments.
    Authorized,
    /// How many payments count in a settlement.
    PaymentCount,
    /// `captured - refunded - chargebacks - fees`.
    Net,
}

impl Aggregate {
    /// The aggregate's name in the contract (the API's field name where it has one).
    pub fn name(self) -> &'static str {
        match self {
            Aggregate::OnHand => "on_hand",
            Aggregate::Reserved => "reserved",
            Aggregate::OnOrder => "on_order",
            Aggregate::RecordCount => "record count",
            Aggregate::Available => "available",
            Aggregate::Projected => "projected",
            Aggregate::SuggestedQuantity => "suggested_quantity",
            Aggregate::Captured => "captured",
            Aggregate::Refunded => "refunded",
            Aggregate::Chargebacks => "chargebacks",
            Aggregate::Fees => "fees",
            Aggregate::Payouts => "payouts",
            Aggregate::Authorized => "authorized",
            Aggregate::PaymentCount => "payment count",
            Aggregate::Net => "net",
        }
    }
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an out-of-range aggregate belongs to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AggregateKey {
    /// A stock position.
    Position(PositionKey),
    /// The lines an order version has at one position: their sum is the version's effect there.
    OrderLines {
        /// The order (tenant, order id).
        order: OrderKey,
        /// The position its lines are at.
        position: PositionKey,
    },
    /// A settlement (tenant, currency, date).
    Settlement(SettlementKey),
}

impl fmt::Display for AggregateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AggregateKey::Position(position) => write!(f, "position {}", Position(position)),
            AggregateKey::OrderLines { order: (tenant_id, order_id), position } => {
                write!(f, "the lines of order {tenant_id}/{order_id} at position {}", Position(position))
            }
            AggregateKey::Settlement(key) => {
                write!(f, "settlement {}/{}/{}", key.tenant_id, key.currency, key.settlement_date)
            }
        }
    }
}

/// A position as `tenant/warehouse/sku`.
struct Position<'a>(&'a PositionKey);

impl fmt::Display for Position<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.0.tenant_id, self.0.warehouse_id, self.0.sku)
    }
}

/// A record refused because its effect would take an aggregate outside the signed 64-bit range:
/// the first one, in the order the [module documentation](self) gives.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, thiserror::Error)]
#[error("{aggregate} of {key} would leave the signed 64-bit range")]
pub struct AggregateOutOfRange {
    /// Which aggregate.
    pub aggregate: Aggregate,
    /// Whose (boxed: the keys are large, and a refusal is rare).
    pub key: Box<AggregateKey>,
}

impl AggregateOutOfRange {
    /// The DLQ's `error.kind` for such a record.
    pub const KIND: &'static str = "aggregate_out_of_range";

    /// `aggregate` of `key` would leave the range.
    pub fn new(aggregate: Aggregate, key: AggregateKey) -> Self {
        AggregateOutOfRange { aggregate, key: Box::new(key) }
    }
}

/// A record the dataflow refused, where it was read and why: what the runtime turns into a dead
/// letter (the refused output's data).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RefusedRecord {
    /// The topic it was read from.
    pub topic: InputTopic,
    /// Its partition.
    pub partition: u32,
    /// Its offset in the partition.
    pub offset: u64,
    /// Why it was refused.
    pub error: AggregateOutOfRange,
}

impl RefusedRecord {
    /// The DLQ's `error.kind`.
    pub fn kind(&self) -> &'static str {
        AggregateOutOfRange::KIND
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Currency, SettlementDate};

    #[test]
    fn the_message_names_the_aggregate_and_its_key() {
        let position = PositionKey::new("acme", "berlin", "SKU-1");
        let on_hand = AggregateOutOfRange::new(Aggregate::OnHand, AggregateKey::Position(position.clone()));
        assert_eq!(on_hand.to_string(), "on_hand of position acme/berlin/SKU-1 would leave the signed 64-bit range");
        let lines = AggregateOutOfRange::new(
            Aggregate::Reserved,
            AggregateKey::OrderLines { order: ("acme".into(), "o-1".into()), position },
        );
        assert_eq!(
            lines.to_string(),
            "reserved of the lines of order acme/o-1 at position acme/berlin/SKU-1 would leave the signed 64-bit range"
        );
        let settlement = SettlementKey {
            tenant_id: "acme".into(),
            currency: Currency::parse("EUR").unwrap(),
            settlement_date: SettlementDate::of(1_764_028_800_000),
        };
        let net = AggregateOutOfRange::new(Aggregate::Net, AggregateKey::Settlement(settlement));
        assert_eq!(net.to_string(), "net of settlement acme/EUR/2025-11-25 would leave the signed 64-bit range");
    }
}
