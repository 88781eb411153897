use serde::{Deserialize, Serialize};

use crate::{Id, TimestampMillis};

/// A money movement for one merchant (`PaymentEvent.avsc`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PaymentEvent {
    /// Unique per event.
    pub event_id: Id,
    /// The merchant paid.
    pub tenant_id: Id,
    /// The payment.
    pub payment_id: Id,
    /// The paying business.
    pub buyer_id: Id,
    /// The order paid for, if any.
    #[serde(default)]
    pub order_id: Option<Id>,
    /// What kind of money movement.
    pub kind: PaymentKind,
    /// How much, in minor units, > 0.
    pub amount_minor: i64,
    /// ISO 4217 code of the amount.
    pub currency: Id,
    /// When it happened; its UTC date is the settlement date.
    pub occurred_at: TimestampMillis,
}

/// The kinds of money movement (Avro enum `PaymentKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentKind {
    /// Funds reserved on the buyer's instrument: pending, not in net.
    Authorized,
    /// Funds taken.
    Captured,
    /// Funds given back to the buyer.
    Refunded,
    /// Funds reclaimed by the buyer's bank.
    Chargeback,
    /// Fees charged to the merchant.
    Fee,
    /// Money paid out to the merchant.
    Payout,
}

impl PaymentKind {
    /// Every kind, in the Avro enum's order.
    pub const ALL: [PaymentKind; 6] = [
        PaymentKind::Authorized,
        PaymentKind::Captured,
        PaymentKind::Refunded,
        PaymentKind::Chargeback,
        PaymentKind::Fee,
        PaymentKind::Payout,
    ];

    /// The Avro symbol, as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentKind::Authorized => "AUTHORIZED",
            PaymentKind::Captured => "CAPTURED",
            PaymentKind::Refunded => "REFUNDED",
            PaymentKind::Chargeback => "CHARGEBACK",
            PaymentKind::Fee => "FEE",
            PaymentKind::Payout => "PAYOUT",
        }
    }
}
