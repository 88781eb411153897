//! The contract's rules on input records (`CONTRACT.md` §2). A record that breaks one goes to the
//! DLQ; the error's [`InvalidRecord::kind`] is its `error.kind` header and its text the message.

use crate::{Currency, InventoryEvent, InventoryKind, OrderEvent, PaymentEvent, PolicyUpdate, ReorderPolicy};

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

impl Validate for InventoryEvent {
    fn validate(&self) -> Result<(), InvalidRecord> {
        non_empty(
            "InventoryEvent",
            &[
                ("event_id", &self.event_id),
                ("tenant_id", &self.tenant_id),
                ("warehouse_id", &self.warehouse_id),
                ("sku", &self.sku),
                ("purchase_order_id", self.purchase_order_id.as_deref().unwrap_or("-")),
            ],
        )?;
        match self.kind {
            InventoryKind::Adjusted if self.quantity == 0 => Err(InvalidRecord::ZeroAdjustment),
            InventoryKind::Adjusted => Ok(()),
            kind if self.quantity <= 0 => Err(InvalidRecord::NonPositiveQuantity { kind, quantity: self.quantity }),
            _ => Ok(()),
        }
    }
}

impl Validate for OrderEvent {
    fn validate(&self) -> Result<(), InvalidRecord> {
        non_empty(
            "OrderEvent",
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
        currency(&self.currency)
    }
}

impl Validate for PaymentEvent {
    fn validate(&self) -> Result<(), InvalidRecord> {
        non_empty(
            "PaymentEvent",
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
        currency(&self.currency)
    }
}

impl Validate for ReorderPolicy {
    fn validate(&self) -> Result<(), InvalidRecord> {
        non_empty(
            "ReorderPolicy",
            &[("tenant_id", &self.tenant_id), ("warehouse_id", &self.warehouse_id), ("sku", &self.sku)],
        )?;
        if self.reorder_point < 0 {
            return Err(InvalidRecord::NegativeReorderPoint { reorder_point: self.reorder_point });
        }
        if self.reorder_quantity <= 0 {
            return Err(InvalidRecord::NonPositiveReorderQuantity { reorder_quantity: self.reorder_quantity });
        }
        match self.order_multiple {
            Some(order_multiple) if order_multiple <= 0 => {
                Err(InvalidRecord::NonPositiveOrderMultiple { order_multiple })
            }
            _ => Ok(()),
        }
    }
}

impl Validate for crate::InputRecord {
    fn validate(&self) -> Result<(), InvalidRecord> {
        match self {
            crate::InputRecord::Inventory(event) => event.validate(),
            crate::InputRecord::Order(event) => event.validate(),
            crate::InputRecord::Payment(event) => event.validate(),
            crate::InputRecord::Policy(update) => update.policy.as_ref().map_or(Ok(()), Validate::validate),
        }
    }
}

impl PolicyUpdate {
    /// Builds an update from a policies-topic record: its key and its value (`None` for a null
    /// value, which deletes). Checks the key's shape, the policy's rules, and that both name the
    /// same position.
    pub fn from_record(key: &str, policy: Option<ReorderPolicy>) -> Result<PolicyUpdate, InvalidRecord> {
        let position =
            PolicyUpdate::parse_key(key).ok_or_else(|| InvalidRecord::InvalidPolicyKey { key: key.to_string() })?;
        if let Some(policy) = &policy {
            policy.validate()?;
            if policy.position() != position {
                return Err(InvalidRecord::PolicyKeyMismatch { key: key.to_string() });
            }
        }
        Ok(PolicyUpdate { position, policy })
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
            occurred_at: 0,
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
            occurred_at: 0,
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
            occurred_at: 0,
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
        for kind in [
            InventoryKind::Received,
            InventoryKind::TransferredIn,
            InventoryKind::TransferredOut,
            InventoryKind::Damaged,
            InventoryKind::PurchaseOrdered,
            InventoryKind::PurchaseCancelled,
        ] {
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
