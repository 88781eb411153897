//! The contract's rules on input records (`CONTRACT.md` §2). A record that breaks one goes to the
//! DLQ; the error's [`InvalidRecord::kind`] is its `error.kind` header and its text the message.
//!
//! # Which rule a record breaks first
//!
//! A record can break several rules; it is reported under exactly one kind, the first in this
//! order:
//!
//! 1. The shape and sign rules (`empty_field`, `non_positive_quantity`, `zero_adjustment`,
//!    `invalid_order_version`, `no_order_lines`, `non_positive_line_quantity`,
//!    `negative_unit_price`, `invalid_currency`, `non_positive_amount`, `negative_reorder_point`,
//!    `non_positive_reorder_quantity`, `non_positive_order_multiple`), in the record's field order
//!    as before the value ranges existed. So a record refused before the ranges were added keeps
//!    its kind: an empty id stays `empty_field` (not `invalid_id`), a quantity of `i64::MIN` on a
//!    `DAMAGED` event stays `non_positive_quantity`.
//! 2. The value ranges (`CONTRACT.md` §2 "Value ranges"), which only refuse records that the
//!    rules above accept: first every string id (`invalid_id`: the record's own ids in field
//!    order, then each order line's in line order), then `occurred_at`
//!    (`timestamp_out_of_range`), then every quantity, price and amount in field and line order
//!    (`value_out_of_range`).
//!
//! For the policies topic, the key's shape (`invalid_policy_key`) comes before all of these, and
//! the key naming another position than the policy's fields (`policy_key_mismatch`) after them.
//! A delete (null value) has no fields: the key's three ids are held to the id range instead.
//!
//! The checks run on every record: they scan bytes and compare integers, and allocate nothing
//! unless the record is refused.

use std::fmt;

use crate::{
    Currency, InventoryEvent, InventoryKind, OrderEvent, PaymentEvent, PolicyUpdate, ReorderPolicy, TimestampMillis,
};

/// The most bytes (of UTF-8) a string id may have.
pub const MAX_ID_BYTES: usize = 256;
/// The earliest `occurred_at` accepted: 2000-01-01T00:00:00Z, in milliseconds since the epoch.
pub const OCCURRED_AT_MIN: TimestampMillis = 946_684_800_000;
/// The first `occurred_at` no longer accepted: 2100-01-01T00:00:00Z, in milliseconds since the
/// epoch.
pub const OCCURRED_AT_END: TimestampMillis = 4_102_444_800_000;
/// The largest absolute value of a quantity, price, amount or policy level: 10^15.
pub const MAX_ABS_VALUE: i64 = 1_000_000_000_000_000;

/// Where in a record a refused value sits: `OrderEvent.lines[2].sku`, `PaymentEvent.amount_minor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldPath {
    /// The record type (`PolicyKey` for the key of a policy delete).
    pub record: &'static str,
    /// The index of the order line, for a field of an order line.
    pub line: Option<usize>,
    /// The field.
    pub field: &'static str,
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}.lines[{line}].{}", self.record, self.field),
            None => write!(f, "{}.{}", self.record, self.field),
        }
    }
}

/// What is wrong with a non-empty string id. Names the length or the character, never repeats
/// the id itself (which may be long or hold bytes a log or a Kafka header should not carry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdProblem {
    /// Longer than [`MAX_ID_BYTES`].
    TooLong {
        /// Its length in bytes.
        bytes: usize,
    },
    /// Holds a control character (U+0000–U+001F or U+007F).
    ControlCharacter {
        /// The character's code point.
        code_point: u32,
        /// Its byte offset in the id.
        byte: usize,
    },
}

impl fmt::Display for IdProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdProblem::TooLong { bytes } => write!(f, "is {bytes} bytes long, more than {MAX_ID_BYTES}"),
            IdProblem::ControlCharacter { code_point, byte } => {
                write!(f, "holds the control character U+{code_point:04X} at byte {byte}")
            }
        }
    }
}

/// A contract rule that a record breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRecord {
    /// A required string is empty.
    #[error("{record}.{field} is empty")]
    EmptyField {
        /// The record type.
        record: &'static str,
        /// The field.
        field: &'static str,
    },
    /// An inventory quantity that must be positive is not.
    #[error("{kind:?} quantity must be > 0, got {quantity}")]
    NonPositiveQuantity {
        /// The movement kind.
        kind: InventoryKind,
        /// The quantity received.
        quantity: i64,
    },
    /// An `ADJUSTED` event with quantity 0.
    #[error("ADJUSTED quantity must be != 0")]
    ZeroAdjustment,
    /// An order version below 1.
    #[error("order version must be >= 1, got {version}")]
    InvalidOrderVersion {
        /// The version received.
        version: i32,
    },
    /// An order with no lines.
    #[error("an order needs at least one line")]
    NoOrderLines,
    /// An order line whose quantity is not positive.
    #[error("order line {line} quantity must be > 0, got {quantity}")]
    NonPositiveLineQuantity {
        /// Index of the line.
        line: usize,
        /// The quantity received.
        quantity: i64,
    },
    /// An order line with a negative unit price.
    #[error("order line {line} unit_price_minor must be >= 0, got {unit_price_minor}")]
    NegativeUnitPrice {
        /// Index of the line.
        line: usize,
        /// The price received.
        unit_price_minor: i64,
    },
    /// A currency that is not three upper-case letters.
    #[error("currency must be an ISO 4217 code (3 upper-case letters), got {currency:?}")]
    InvalidCurrency {
        /// The code received.
        currency: String,
    },
    /// A payment amount that is not positive.
    #[error("amount_minor must be > 0, got {amount_minor}")]
    NonPositiveAmount {
        /// The amount received.
        amount_minor: i64,
    },
    /// A reorder point below zero.
    #[error("reorder_point must be >= 0, got {reorder_point}")]
    NegativeReorderPoint {
        /// The value received.
        reorder_point: i64,
    },
    /// A reorder quantity that is not positive.
    #[error("reorder_quantity must be > 0, got {reorder_quantity}")]
    NonPositiveReorderQuantity {
        /// The value received.
        reorder_quantity: i64,
    },
    /// An order multiple that is set but not positive.
    #[error("order_multiple must be > 0 when set, got {order_multiple}")]
    NonPositiveOrderMultiple {
        /// The value received.
        order_multiple: i64,
    },
    /// A policies-topic key that is not `tenant_id/warehouse_id/sku`.
    #[error("policy key must be tenant_id/warehouse_id/sku, got {key:?}")]
    InvalidPolicyKey {
        /// The key received.
        key: String,
    },
    /// A policy whose fields name another position than its key.
    #[error("policy key {key:?} names another position than the record's fields")]
    PolicyKeyMismatch {
        /// The key received.
        key: String,
    },
    /// A string id longer than [`MAX_ID_BYTES`] or holding a control character (an empty one is
    /// [`InvalidRecord::EmptyField`]).
    #[error("{field} {problem}")]
    InvalidId {
        /// Where the id is.
        field: FieldPath,
        /// What is wrong with it.
        problem: IdProblem,
    },
    /// An `occurred_at` before 2000-01-01T00:00:00Z or from 2100-01-01T00:00:00Z on: most likely
    /// seconds or microseconds sent as milliseconds.
    #[error(
        "{record}.occurred_at must be milliseconds since the epoch from 2000-01-01T00:00:00Z up to \
         2100-01-01T00:00:00Z, got {occurred_at}{}",
        unit_hint(*.occurred_at)
    )]
    TimestampOutOfRange {
        /// The record type.
        record: &'static str,
        /// The value received.
        occurred_at: TimestampMillis,
    },
    /// A quantity, price, amount or policy level whose absolute value is above [`MAX_ABS_VALUE`].
    #[error("{field} must be between -10^15 and 10^15, got {value}")]
    ValueOutOfRange {
        /// Where the value is.
        field: FieldPath,
        /// The value received.
        value: i64,
    },
}

/// For an `occurred_at` out of range: the unit it looks like it was sent in, if any.
fn unit_hint(occurred_at: TimestampMillis) -> &'static str {
    let in_range_as = |per_ms: i64| (OCCURRED_AT_MIN / per_ms..OCCURRED_AT_END / per_ms).contains(&occurred_at);
    let in_range_times = |per_ms: i64| {
        (OCCURRED_AT_MIN.saturating_mul(per_ms)..OCCURRED_AT_END.saturating_mul(per_ms)).contains(&occurred_at)
    };
    if in_range_as(1_000) {
        " (seconds?)"
    } else if in_range_times(1_000) {
        " (microseconds?)"
    } else if in_range_times(1_000_000) {
        " (nanoseconds?)"
    } else {
        ""
    }
}

impl InvalidRecord {
    /// A stable, machine-readable name of the rule: the DLQ's `error.kind` header and the
    /// metrics label.
    pub fn kind(&self) -> &'static str {
        match self {
            InvalidRecord::EmptyField { .. } => "empty_field",
            InvalidRecord::NonPositiveQuantity { .. } => "non_positive_quantity",
            InvalidRecord::ZeroAdjustment => "zero_adjustment",
            InvalidRecord::InvalidOrderVersion { .. } => "invalid_order_version",
            InvalidRecord::NoOrderLines => "no_order_lines",
            InvalidRecord::NonPositiveLineQuantity { .. } => "non_positive_line_quantity",
            InvalidRecord::NegativeUnitPrice { .. } => "negative_unit_price",
            InvalidRecord::InvalidCurrency { .. } => "invalid_currency",
            InvalidRecord::NonPositiveAmount { .. } => "non_positive_amount",
            InvalidRecord::NegativeReorderPoint { .. } => "negative_reorder_point",
            InvalidRecord::NonPositiveReorderQuantity { .. } => "non_positive_reorder_quantity",
            InvalidRecord::NonPositiveOrderMultiple { .. } => "non_positive_order_multiple",
            InvalidRecord::InvalidPolicyKey { .. } => "invalid_policy_key",
            InvalidRecord::PolicyKeyMismatch { .. } => "policy_key_mismatch",
            InvalidRecord::InvalidId { .. } => "invalid_id",
            InvalidRecord::TimestampOutOfRange { .. } => "timestamp_out_of_range",
            InvalidRecord::ValueOutOfRange { .. } => "value_out_of_range",
        }
    }
}

/// Checks a record against every contract rule that applies to it.
pub trait Validate {
    /// `Ok` if the record keeps every rule, else the first rule it breaks.
    fn validate(&self) -> Result<(), InvalidRecord>;
}

fn non_empty(record: &'static str, fields: &[(&'static str, &str)]) -> Result<(), InvalidRecord> {
    match fields.iter().find(|(_, value)| value.is_empty()) {
        Some((field, _)) => Err(InvalidRecord::EmptyField { record, field }),
        None => Ok(()),
    }
}

fn currency(code: &str) -> Result<(), InvalidRecord> {
    Currency::parse(code).map(drop).ok_or_else(|| InvalidRecord::InvalidCurrency { currency: code.to_string() })
}

/// A control character of the contract's id rule. In UTF-8 every byte of a multi-byte character
/// is >= 0x80, so a byte below 0x20 or equal to 0x7F is always the whole character.
const fn is_control(byte: u8) -> bool {
    byte < 0x20 || byte == 0x7f
}

/// What is wrong with a (non-empty) id, if anything.
#[inline]
fn id_problem(id: &str) -> Option<IdProblem> {
    let bytes = id.as_bytes();
    if bytes.len() > MAX_ID_BYTES {
        return Some(IdProblem::TooLong { bytes: bytes.len() });
    }
    // No early exit on the good path: a branch-free fold over at most 256 bytes, which the
    // compiler vectorises. Where the character is is only looked for once one is found.
    if !bytes.iter().fold(false, |seen, &byte| seen | is_control(byte)) {
        return None;
    }
    let byte = bytes.iter().position(|&byte| is_control(byte))?;
    Some(IdProblem::ControlCharacter { code_point: u32::from(bytes[byte]), byte })
}

/// Holds every present id to [`MAX_ID_BYTES`] and no control characters, in the order given.
fn ids(
    record: &'static str,
    line: Option<usize>,
    fields: &[(&'static str, Option<&str>)],
) -> Result<(), InvalidRecord> {
    for &(field, id) in fields {
        if let Some(problem) = id.and_then(id_problem) {
            return Err(InvalidRecord::InvalidId { field: FieldPath { record, line, field }, problem });
        }
    }
    Ok(())
}

fn occurred_at(record: &'static str, occurred_at: TimestampMillis) -> Result<(), InvalidRecord> {
    if (OCCURRED_AT_MIN..OCCURRED_AT_END).contains(&occurred_at) {
        Ok(())
    } else {
        Err(InvalidRecord::TimestampOutOfRange { record, occurred_at })
    }
}

/// Holds every present value to `|v| <= 10^15`, in the order given. (No `abs`: `i64::MIN` has none.)
fn values(
    record: &'static str,
    line: Option<usize>,
    fields: &[(&'static str, Option<i64>)],
) -> Result<(), InvalidRecord> {
    for &(field, value) in fields {
        if let Some(value) = value.filter(|value| !(-MAX_ABS_VALUE..=MAX_ABS_VALUE).contains(value)) {
            return Err(InvalidRecord::ValueOutOfRange { field: FieldPath { record, line, field }, value });
        }
    }
    Ok(())
}

impl Validate for InventoryEvent {
    fn validate(&self) -> Result<(), InvalidRecord> {
        const RECORD: &str = "InventoryEvent";
        non_empty(
            RECORD,
            &[
                ("event_id", &self.event_id),
                ("tenant_id", &self.tenant_id),
                ("warehouse_id", &self.warehouse_id),
                ("sku", &self.sku),
                ("purchase_order_id", self.purchase_order_id.as_deref().unwrap_or("-")),
            ],
        )?;
        match self.kind {
            InventoryKind::Adjusted if self.quantity == 0 => return Err(InvalidRecord::ZeroAdjustment),
            InventoryKind::Adjusted => {}
            kind if self.quantity <= 0 => {
                return Err(InvalidRecord::NonPositiveQuantity { kind, quantity: self.quantity });
            }
            _ => {}
        }
        ids(
            RECORD,
            None,
            &[
                ("event_id", Some(&self.event_id)),
                ("tenant_id", Some(&self.tenant_id)),
                ("warehouse_id", Some(&self.warehouse_id)),
                ("sku", Some(&self.sku)),
                ("purchase_order_id", self.purchase_order_id.as_deref()),
            ],
        )?;
        occurred_at(RECORD, self.occurred_at)?;
        values(RECORD, None, &[("quantity", Some(self.quantity))])
    }
}

impl Validate for OrderEvent {
    fn validate(&self) -> Result<(), InvalidRecord> {
        const RECORD: &str = "OrderEvent";
        non_empty(
            RECORD,
            &[
                ("event_id", &self.event_id),
                ("tenant_id", &self.tenant_id),
                ("order_id", &self.order_id),
                ("buyer_id", &self.buyer_id),
            ],
        )?;
        if self.version < 1 {
            return Err(InvalidRecord::InvalidOrderVersion { version: self.version });
        }
        if self.lines.is_empty() {
            return Err(InvalidRecord::NoOrderLines);
        }
        for (line, order_line) in self.lines.iter().enumerate() {
            non_empty("OrderLine", &[("sku", &order_line.sku), ("warehouse_id", &order_line.warehouse_id)])?;
            if order_line.quantity <= 0 {
                return Err(InvalidRecord::NonPositiveLineQuantity { line, quantity: order_line.quantity });
            }
            if order_line.unit_price_minor < 0 {
                return Err(InvalidRecord::NegativeUnitPrice { line, unit_price_minor: order_line.unit_price_minor });
            }
        }
        currency(&self.currency)?;
        ids(
            RECORD,
            None,
            &[
                ("event_id", Some(&self.event_id)),
                ("tenant_id", Some(&self.tenant_id)),
                ("order_id", Some(&self.order_id)),
                ("buyer_id", Some(&self.buyer_id)),
            ],
        )?;
        for (line, order_line) in self.lines.iter().enumerate() {
            ids(
                RECORD,
                Some(line),
                &[("sku", Some(&order_line.sku)), ("warehouse_id", Some(&order_line.warehouse_id))],
            )?;
        }
        occurred_at(RECORD, self.occurred_at)?;
        for (line, order_line) in self.lines.iter().enumerate() {
            values(
                RECORD,
                Some(line),
                &[("quantity", Some(order_line.quantity)), ("unit_price_minor", Some(order_line.unit_price_minor))],
            )?;
        }
        Ok(())
    }
}

impl Validate for PaymentEvent {
    fn validate(&self) -> Result<(), InvalidRecord> {
        const RECORD: &str = "PaymentEvent";
        non_empty(
            RECORD,
            &[
                ("event_id", &self.event_id),
                ("tenant_id", &self.tenant_id),
                ("payment_id", &self.payment_id),
                ("buyer_id", &self.buyer_id),
                ("order_id", self.order_id.as_deref().unwrap_or("-")),
            ],
        )?;
        if self.amount_minor <= 0 {
            return Err(InvalidRecord::NonPositiveAmount { amount_minor: self.amount_minor });
        }
        currency(&self.currency)?;
        ids(
            RECORD,
            None,
            &[
                ("event_id", Some(&self.event_id)),
                ("tenant_id", Some(&self.tenant_id)),
                ("payment_id", Some(&self.payment_id)),
                ("buyer_id", Some(&self.buyer_id)),
                ("order_id", self.order_id.as_deref()),
            ],
        )?;
        occurred_at(RECORD, self.occurred_at)?;
        values(RECORD, None, &[("amount_minor", Some(self.amount_minor))])
    }
}

impl Validate for ReorderPolicy {
    fn validate(&self) -> Result<(), InvalidRecord> {
        const RECORD: &str = "ReorderPolicy";
        non_empty(RECORD, &[("tenant_id", &self.tenant_id), ("warehouse_id", &self.warehouse_id), ("sku", &self.sku)])?;
        if self.reorder_point < 0 {
            return Err(InvalidRecord::NegativeReorderPoint { reorder_point: self.reorder_point });
        }
        if self.reorder_quantity <= 0 {
            return Err(InvalidRecord::NonPositiveReorderQuantity { reorder_quantity: self.reorder_quantity });
        }
        if let Some(order_multiple) = self.order_multiple.filter(|order_multiple| *order_multiple <= 0) {
            return Err(InvalidRecord::NonPositiveOrderMultiple { order_multiple });
        }
        ids(
            RECORD,
            None,
            &[
                ("tenant_id", Some(&self.tenant_id)),
                ("warehouse_id", Some(&self.warehouse_id)),
                ("sku", Some(&self.sku)),
            ],
        )?;
        values(
            RECORD,
            None,
            &[
                ("reorder_point", Some(self.reorder_point)),
                ("reorder_quantity", Some(self.reorder_quantity)),
                ("max_level", self.max_level),
                ("order_multiple", self.order_multiple),
            ],
        )
    }
}

/// A policy's rules; a delete (no policy) has only its key's ids to keep. That the key and the
/// policy name the same position is checked where the two meet, in
/// [`PolicyUpdate::from_record`].
impl Validate for PolicyUpdate {
    fn validate(&self) -> Result<(), InvalidRecord> {
        match &self.policy {
            Some(policy) => policy.validate(),
            None => {
                let position = &self.position;
                // Unreachable from the topic, whose key parser refuses empty parts; kept so that
                // an update built in code is held to the same rules.
                non_empty(
                    "PolicyKey",
                    &[
                        ("tenant_id", &position.tenant_id),
                        ("warehouse_id", &position.warehouse_id),
                        ("sku", &position.sku),
                    ],
                )?;
                ids(
                    "PolicyKey",
                    None,
                    &[
                        ("tenant_id", Some(&position.tenant_id)),
                        ("warehouse_id", Some(&position.warehouse_id)),
                        ("sku", Some(&position.sku)),
                    ],
                )
            }
        }
    }
}

impl Validate for crate::InputRecord {
    fn validate(&self) -> Result<(), InvalidRecord> {
        match self {
            crate::InputRecord::Inventory(event) => event.validate(),
            crate::InputRecord::Order(event) => event.validate(),
            crate::InputRecord::Payment(event) => event.validate(),
            crate::InputRecord::Policy(update) => update.validate(),
        }
    }
}

impl PolicyUpdate {
    /// Builds an update from a policies-topic record: its key and its value (`None` for a null
    /// value, which deletes). Checks the key's shape, the policy's rules (or, for a delete, the
    /// key's ids), and that both name the same position.
    pub fn from_record(key: &str, policy: Option<ReorderPolicy>) -> Result<PolicyUpdate, InvalidRecord> {
        let position =
            PolicyUpdate::parse_key(key).ok_or_else(|| InvalidRecord::InvalidPolicyKey { key: key.to_string() })?;
        let update = PolicyUpdate { position, policy };
        update.validate()?;
        let position = &update.position;
        let names_another_position = |policy: &ReorderPolicy| {
            (&policy.tenant_id, &policy.warehouse_id, &policy.sku)
                != (&position.tenant_id, &position.warehouse_id, &position.sku)
        };
        if update.policy.as_ref().is_some_and(names_another_position) {
            return Err(InvalidRecord::PolicyKeyMismatch { key: key.to_string() });
        }
        Ok(update)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OrderLine, OrderStatus, PaymentKind, PositionKey};

    fn inventory(kind: InventoryKind, quantity: i64) -> InventoryEvent {
        InventoryEvent {
            event_id: "e".into(),
            tenant_id: "t".into(),
            warehouse_id: "w".into(),
            sku: "s".into(),
            kind,
            quantity,
            occurred_at: 1_767_571_200_000,
            purchase_order_id: None,
        }
    }

    fn order() -> OrderEvent {
        OrderEvent {
            event_id: "e".into(),
            tenant_id: "t".into(),
            order_id: "o".into(),
            buyer_id: "b".into(),
            version: 1,
            status: OrderStatus::Placed,
            lines: vec![OrderLine { sku: "s".into(), warehouse_id: "w".into(), quantity: 1, unit_price_minor: 0 }],
            currency: "EUR".into(),
            occurred_at: 1_767_571_200_000,
        }
    }

    fn payment() -> PaymentEvent {
        PaymentEvent {
            event_id: "e".into(),
            tenant_id: "t".into(),
            payment_id: "p".into(),
            buyer_id: "b".into(),
            order_id: None,
            kind: PaymentKind::Captured,
            amount_minor: 1,
            currency: "EUR".into(),
            occurred_at: 1_767_571_200_000,
        }
    }

    fn policy() -> ReorderPolicy {
        ReorderPolicy {
            tenant_id: "t".into(),
            warehouse_id: "w".into(),
            sku: "s".into(),
            reorder_point: 0,
            reorder_quantity: 1,
            max_level: None,
            order_multiple: None,
            lead_time_days: None,
        }
    }

    #[test]
    fn quantities_must_be_positive_except_adjustments_which_must_be_non_zero() {
        for kind in InventoryKind::ALL.into_iter().filter(|kind| *kind != InventoryKind::Adjusted) {
            assert_eq!(inventory(kind, 1).validate(), Ok(()));
            assert_eq!(inventory(kind, 0).validate().unwrap_err().kind(), "non_positive_quantity");
            assert_eq!(inventory(kind, -4).validate().unwrap_err().kind(), "non_positive_quantity");
        }
        assert_eq!(inventory(InventoryKind::Adjusted, -4).validate(), Ok(()));
        assert_eq!(inventory(InventoryKind::Adjusted, 0).validate(), Err(InvalidRecord::ZeroAdjustment));
    }

    #[test]
    fn empty_ids_are_named() {
        let event = InventoryEvent { sku: "".into(), ..inventory(InventoryKind::Received, 1) };
        assert_eq!(event.validate(), Err(InvalidRecord::EmptyField { record: "InventoryEvent", field: "sku" }));
        let event = PaymentEvent { order_id: Some("".into()), ..payment() };
        assert_eq!(event.validate(), Err(InvalidRecord::EmptyField { record: "PaymentEvent", field: "order_id" }));
        let mut event = order();
        event.lines[0].warehouse_id = "".into();
        assert_eq!(event.validate(), Err(InvalidRecord::EmptyField { record: "OrderLine", field: "warehouse_id" }));
    }

    #[test]
    fn orders_need_a_version_lines_positive_quantities_and_a_currency() {
        assert_eq!(order().validate(), Ok(()));
        assert_eq!(OrderEvent { version: 0, ..order() }.validate().unwrap_err().kind(), "invalid_order_version");
        assert_eq!(OrderEvent { lines: vec![], ..order() }.validate(), Err(InvalidRecord::NoOrderLines));
        assert_eq!(OrderEvent { currency: "eur".into(), ..order() }.validate().unwrap_err().kind(), "invalid_currency");
        let mut event = order();
        event.lines[0].quantity = 0;
        assert_eq!(event.validate().unwrap_err().kind(), "non_positive_line_quantity");
        let mut event = order();
        event.lines[0].unit_price_minor = -1;
        assert_eq!(event.validate().unwrap_err().kind(), "negative_unit_price");
    }

    #[test]
    fn payments_need_a_positive_amount_and_a_currency() {
        assert_eq!(payment().validate(), Ok(()));
        assert_eq!(PaymentEvent { amount_minor: 0, ..payment() }.validate().unwrap_err().kind(), "non_positive_amount");
        assert_eq!(
            PaymentEvent { currency: "EURO".into(), ..payment() }.validate().unwrap_err().kind(),
            "invalid_currency"
        );
    }

    #[test]
    fn policies_keep_their_rules_and_match_their_key() {
        assert_eq!(policy().validate(), Ok(()));
        assert_eq!(
            ReorderPolicy { reorder_point: -1, ..policy() }.validate().unwrap_err().kind(),
            "negative_reorder_point"
        );
        assert_eq!(
            ReorderPolicy { reorder_quantity: 0, ..policy() }.validate().unwrap_err().kind(),
            "non_positive_reorder_quantity"
        );
        assert_eq!(
            ReorderPolicy { order_multiple: Some(0), ..policy() }.validate().unwrap_err().kind(),
            "non_positive_order_multiple"
        );
        assert_eq!(
            PolicyUpdate::from_record("t/w/s", Some(policy())),
            Ok(PolicyUpdate { position: PositionKey::new("t", "w", "s"), policy: Some(policy()) })
        );
        assert_eq!(PolicyUpdate::from_record("t/w/other", Some(policy())).unwrap_err().kind(), "policy_key_mismatch");
        assert_eq!(PolicyUpdate::from_record("t/w", None).unwrap_err().kind(), "invalid_policy_key");
        assert_eq!(PolicyUpdate::from_record("t/w/s", None).map(|update| update.policy), Ok(None));
    }
}
