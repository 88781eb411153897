//! The contract's value ranges (`CONTRACT.md` §2 "Value ranges") at every boundary, for every
//! record type and field they cover, and which kind a record breaking several rules gets.

use flowmart_schemas::{
    FieldPath, IdProblem, InputRecord, InvalidRecord, InventoryEvent, InventoryKind, MAX_ABS_VALUE, MAX_ID_BYTES,
    OCCURRED_AT_END, OCCURRED_AT_MIN, OrderEvent, OrderLine, OrderStatus, PaymentEvent, PaymentKind, PolicyUpdate,
    PositionKey, ReorderPolicy, Validate,
};

const E15: i64 = 1_000_000_000_000_000;
/// 2026-01-05T00:00:00Z.
const JAN_2026: i64 = 1_767_571_200_000;

// ---- Valid records with every optional field set ------------------------------------------

fn inventory() -> InventoryEvent {
    InventoryEvent {
        event_id: "evt-1".into(),
        tenant_id: "acme".into(),
        warehouse_id: "berlin".into(),
        sku: "SKU-1".into(),
        kind: InventoryKind::Received,
        quantity: 5,
        occurred_at: JAN_2026,
        purchase_order_id: Some("PO-1".into()),
    }
}

fn order() -> OrderEvent {
    let line =
        |sku: &str| OrderLine { sku: sku.into(), warehouse_id: "berlin".into(), quantity: 2, unit_price_minor: 250 };
    OrderEvent {
        event_id: "evt-2".into(),
        tenant_id: "acme".into(),
        order_id: "SO-1".into(),
        buyer_id: "buyer-1".into(),
        version: 1,
        status: OrderStatus::Placed,
        lines: vec![line("SKU-1"), line("SKU-2")],
        currency: "EUR".into(),
        occurred_at: JAN_2026,
    }
}

fn payment() -> PaymentEvent {
    PaymentEvent {
        event_id: "evt-3".into(),
        tenant_id: "acme".into(),
        payment_id: "pay-1".into(),
        buyer_id: "buyer-1".into(),
        order_id: Some("SO-1".into()),
        kind: PaymentKind::Captured,
        amount_minor: 1_000,
        currency: "EUR".into(),
        occurred_at: JAN_2026,
    }
}

fn policy() -> ReorderPolicy {
    ReorderPolicy {
        tenant_id: "acme".into(),
        warehouse_id: "berlin".into(),
        sku: "SKU-1".into(),
        reorder_point: 10,
        reorder_quantity: 40,
        max_level: Some(200),
        order_multiple: Some(12),
        lead_time_days: Some(3),
    }
}

fn policy_record(policy: ReorderPolicy) -> InputRecord {
    InputRecord::Policy(PolicyUpdate { position: policy.position(), policy: Some(policy) })
}

fn delete(position: PositionKey) -> InputRecord {
    InputRecord::Policy(PolicyUpdate { position, policy: None })
}

fn at(record: &'static str, field: &'static str) -> FieldPath {
    FieldPath { record, line: None, field }
}

fn line(line: usize, field: &'static str) -> FieldPath {
    FieldPath { record: "OrderEvent", line: Some(line), field }
}

/// The kind the record is refused with, or `None` if it is accepted.
fn kind(record: &InputRecord) -> Option<&'static str> {
    record.validate().err().map(|invalid| invalid.kind())
}

// ---- The fields of each range --------------------------------------------------------------

type WithId = Box<dyn Fn(&str) -> InputRecord>;

/// Every string id of every record type: where it is, and a valid record with it set to a value.
fn id_fields() -> Vec<(FieldPath, WithId)> {
    fn order_line(index: usize, id: &str, sku: bool) -> InputRecord {
        let mut order = order();
        if sku {
            order.lines[index].sku = id.into();
        } else {
            order.lines[index].warehouse_id = id.into();
        }
        InputRecord::Order(order)
    }
    vec![
        (
            at("InventoryEvent", "event_id"),
            Box::new(|id| InputRecord::Inventory(InventoryEvent { event_id: id.into(), ..inventory() })),
        ),
        (
            at("InventoryEvent", "tenant_id"),
            Box::new(|id| InputRecord::Inventory(InventoryEvent { tenant_id: id.into(), ..inventory() })),
        ),
        (
            at("InventoryEvent", "warehouse_id"),
            Box::new(|id| InputRecord::Inventory(InventoryEvent { warehouse_id: id.into(), ..inventory() })),
        ),
        (
            at("InventoryEvent", "sku"),
            Box::new(|id| InputRecord::Inventory(InventoryEvent { sku: id.into(), ..inventory() })),
        ),
        (
            at("InventoryEvent", "purchase_order_id"),
            Box::new(|id| InputRecord::Inventory(InventoryEvent { purchase_order_id: Some(id.into()), ..inventory() })),
        ),
        (
            at("OrderEvent", "event_id"),
            Box::new(|id| InputRecord::Order(OrderEvent { event_id: id.into(), ..order() })),
        ),
        (
            at("OrderEvent", "tenant_id"),
            Box::new(|id| InputRecord::Order(OrderEvent { tenant_id: id.into(), ..order() })),
        ),
        (
            at("OrderEvent", "order_id"),
            Box::new(|id| InputRecord::Order(OrderEvent { order_id: id.into(), ..order() })),
        ),
        (
            at("OrderEvent", "buyer_id"),
            Box::new(|id| InputRecord::Order(OrderEvent { buyer_id: id.into(), ..order() })),
        ),
        (line(0, "sku"), Box::new(|id| order_line(0, id, true))),
        (line(0, "warehouse_id"), Box::new(|id| order_line(0, id, false))),
        (line(1, "sku"), Box::new(|id| order_line(1, id, true))),
        (line(1, "warehouse_id"), Box::new(|id| order_line(1, id, false))),
        (
            at("PaymentEvent", "event_id"),
            Box::new(|id| InputRecord::Payment(PaymentEvent { event_id: id.into(), ..payment() })),
        ),
        (
            at("PaymentEvent", "tenant_id"),
            Box::new(|id| InputRecord::Payment(PaymentEvent { tenant_id: id.into(), ..payment() })),
        ),
        (
            at("PaymentEvent", "payment_id"),
            Box::new(|id| InputRecord::Payment(PaymentEvent { payment_id: id.into(), ..payment() })),
        ),
        (
            at("PaymentEvent", "buyer_id"),
            Box::new(|id| InputRecord::Payment(PaymentEvent { buyer_id: id.into(), ..payment() })),
        ),
        (
            at("PaymentEvent", "order_id"),
            Box::new(|id| InputRecord::Payment(PaymentEvent { order_id: Some(id.into()), ..payment() })),
        ),
        (
            at("ReorderPolicy", "tenant_id"),
            Box::new(|id| policy_record(ReorderPolicy { tenant_id: id.into(), ..policy() })),
        ),
        (
            at("ReorderPolicy", "warehouse_id"),
            Box::new(|id| policy_record(ReorderPolicy { warehouse_id: id.into(), ..policy() })),
        ),
        (at("ReorderPolicy", "sku"), Box::new(|id| policy_record(ReorderPolicy { sku: id.into(), ..policy() }))),
        (at("PolicyKey", "tenant_id"), Box::new(|id| delete(PositionKey::new(id, "berlin", "SKU-1")))),
        (at("PolicyKey", "warehouse_id"), Box::new(|id| delete(PositionKey::new("acme", id, "SKU-1")))),
        (at("PolicyKey", "sku"), Box::new(|id| delete(PositionKey::new("acme", "berlin", id)))),
    ]
}

type WithValue = Box<dyn Fn(i64) -> InputRecord>;

/// Every quantity, price, amount and policy level: where it is, a valid record with it set to a
/// value, and the kind a negative value breaks first (`None` where negatives are allowed).
fn value_fields() -> Vec<(FieldPath, WithValue, Option<&'static str>)> {
    let mut fields: Vec<(FieldPath, WithValue, Option<&'static str>)> = vec![(
        at("InventoryEvent", "quantity"),
        Box::new(|quantity| {
            InputRecord::Inventory(InventoryEvent { kind: InventoryKind::Adjusted, quantity, ..inventory() })
        }),
        None,
    )];
    for kind in InventoryKind::ALL.into_iter().filter(|kind| *kind != InventoryKind::Adjusted) {
        fields.push((
            at("InventoryEvent", "quantity"),
            Box::new(move |quantity| InputRecord::Inventory(InventoryEvent { kind, quantity, ..inventory() })),
            Some("non_positive_quantity"),
        ));
    }
    for index in 0..2 {
        fields.push((
            line(index, "quantity"),
            Box::new(move |quantity| {
                let mut order = order();
                order.lines[index].quantity = quantity;
                InputRecord::Order(order)
            }),
            Some("non_positive_line_quantity"),
        ));
        fields.push((
            line(index, "unit_price_minor"),
            Box::new(move |price| {
                let mut order = order();
                order.lines[index].unit_price_minor = price;
                InputRecord::Order(order)
            }),
            Some("negative_unit_price"),
        ));
    }
    fields.extend::<[(FieldPath, WithValue, Option<&'static str>); 5]>([
        (
            at("PaymentEvent", "amount_minor"),
            Box::new(|amount_minor| InputRecord::Payment(PaymentEvent { amount_minor, ..payment() })),
            Some("non_positive_amount"),
        ),
        (
            at("ReorderPolicy", "reorder_point"),
            Box::new(|reorder_point| policy_record(ReorderPolicy { reorder_point, ..policy() })),
            Some("negative_reorder_point"),
        ),
        (
            at("ReorderPolicy", "reorder_quantity"),
            Box::new(|reorder_quantity| policy_record(ReorderPolicy { reorder_quantity, ..policy() })),
            Some("non_positive_reorder_quantity"),
        ),
        (
            at("ReorderPolicy", "max_level"),
            Box::new(|max_level| policy_record(ReorderPolicy { max_level: Some(max_level), ..policy() })),
            None,
        ),
        (
            at("ReorderPolicy", "order_multiple"),
            Box::new(|order_multiple| {
                policy_record(ReorderPolicy { order_multiple: Some(order_multiple), ..policy() })
            }),
            Some("non_positive_order_multiple"),
        ),
    ]);
    fields
}

type WithTimestamp = Box<dyn Fn(i64) -> InputRecord>;

/// Every record type with an `occurred_at`.
fn timestamp_fields() -> Vec<(&'static str, WithTimestamp)> {
    vec![
        (
            "InventoryEvent",
            Box::new(|occurred_at| InputRecord::Inventory(InventoryEvent { occurred_at, ..inventory() })),
        ),
        ("OrderEvent", Box::new(|occurred_at| InputRecord::Order(OrderEvent { occurred_at, ..order() }))),
        ("PaymentEvent", Box::new(|occurred_at| InputRecord::Payment(PaymentEvent { occurred_at, ..payment() }))),
    ]
}

// ---- Ids -------------------------------------------------------------------------------------

#[test]
fn the_valid_fixtures_are_accepted() {
    for record in [
        InputRecord::Inventory(inventory()),
        InputRecord::Order(order()),
        InputRecord::Payment(payment()),
        policy_record(policy()),
        delete(policy().position()),
    ] {
        assert_eq!(record.validate(), Ok(()), "{record:?}");
    }
}

#[test]
fn an_id_of_1_to_256_bytes_is_accepted_and_of_257_is_invalid_id() {
    for (field, with_id) in id_fields() {
        for accepted in ["x".to_string(), "a".repeat(255), "a".repeat(256)] {
            assert_eq!(with_id(&accepted).validate(), Ok(()), "{field}: {} bytes", accepted.len());
        }
        let too_long = with_id(&"a".repeat(257)).validate();
        assert_eq!(too_long, Err(InvalidRecord::InvalidId { field, problem: IdProblem::TooLong { bytes: 257 } }));
        let way_too_long = with_id(&"a".repeat(100_000)).validate();
        assert_eq!(
            way_too_long,
            Err(InvalidRecord::InvalidId { field, problem: IdProblem::TooLong { bytes: 100_000 } })
        );
    }
}

#[test]
fn a_multi_byte_character_counts_every_byte_against_the_256_byte_limit() {
    for (field, with_id) in id_fields() {
        for character in ["é", "€", "😀"] {
            let fits = format!("{}{character}", "a".repeat(MAX_ID_BYTES - character.len()));
            assert_eq!((fits.len(), with_id(&fits).validate()), (256, Ok(())), "{field} {character}");
            // The character starts within the limit but its last byte is the 257th.
            let straddles = format!("{}{character}", "a".repeat(MAX_ID_BYTES - character.len() + 1));
            assert_eq!(
                with_id(&straddles).validate(),
                Err(InvalidRecord::InvalidId { field, problem: IdProblem::TooLong { bytes: 257 } }),
                "{field} {character}"
            );
        }
    }
}

#[test]
fn an_empty_id_stays_empty_field_rather_than_invalid_id() {
    for (field, with_id) in id_fields() {
        let record = match field.line {
            // Order lines were named `OrderLine` by the emptiness rule before the ranges existed.
            Some(_) => "OrderLine",
            None => field.record,
        };
        assert_eq!(with_id("").validate(), Err(InvalidRecord::EmptyField { record, field: field.field }), "{field}");
    }
}

#[test]
fn an_id_holding_a_control_character_is_invalid_id_naming_its_code_point_and_byte() {
    for (field, with_id) in id_fields() {
        for (id, code_point, byte) in [
            ("\u{0}", 0x00, 0),
            ("ab\u{1f}", 0x1f, 2),
            ("\u{7f}ab", 0x7f, 0),
            ("a\tb", 0x09, 1),
            ("a\nb", 0x0a, 1),
            ("é\u{1b}[31m", 0x1b, 2),
            ("a\u{0}\u{1f}", 0x00, 1),
        ] {
            assert_eq!(
                with_id(id).validate(),
                Err(InvalidRecord::InvalidId { field, problem: IdProblem::ControlCharacter { code_point, byte } }),
                "{field} {id:?}"
            );
        }
        // The character right after the range, the one before DEL, and the C1 controls (which
        // the contract does not list) are accepted.
        for id in [" ", "a b", "~", "\u{80}", "\u{9f}", "é", "SKU/1"] {
            assert_eq!(with_id(id).validate(), Ok(()), "{field} {id:?}");
        }
        // A control character in the 256 bytes: invalid_id, by its character.
        let last = format!("{}\u{7f}", "a".repeat(255));
        assert_eq!(
            with_id(&last).validate(),
            Err(InvalidRecord::InvalidId {
                field,
                problem: IdProblem::ControlCharacter { code_point: 0x7f, byte: 255 }
            })
        );
    }
}

#[test]
fn an_invalid_id_message_names_the_field_and_the_problem_never_the_id() {
    let (_, with_id) = id_fields().into_iter().find(|(field, _)| *field == line(1, "sku")).expect("listed");
    let message = with_id("\u{1b}[2Jsecret").validate().unwrap_err().to_string();
    assert_eq!(message, "OrderEvent.lines[1].sku holds the control character U+001B at byte 0");
    let message = with_id(&"z".repeat(300)).validate().unwrap_err().to_string();
    assert_eq!(message, "OrderEvent.lines[1].sku is 300 bytes long, more than 256");
    let delete = delete(PositionKey::new("acme", "berlin", "\u{0}")).validate().unwrap_err();
    assert_eq!(delete.to_string(), "PolicyKey.sku holds the control character U+0000 at byte 0");
    assert_eq!(delete.kind(), "invalid_id");
}

// ---- occurred_at -----------------------------------------------------------------------------

/// Days from 1970-01-01 to January 1st of `year`, counted year by year.
fn days_to(year: i64) -> i64 {
    (1970..year).map(|y| if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 { 366 } else { 365 }).sum()
}

#[test]
fn the_timestamp_bounds_are_2000_and_2100_at_midnight_utc() {
    assert_eq!(OCCURRED_AT_MIN, days_to(2000) * 86_400_000);
    assert_eq!(OCCURRED_AT_END, days_to(2100) * 86_400_000);
}

#[test]
fn occurred_at_from_2000_up_to_not_including_2100_is_accepted() {
    for (record, with_timestamp) in timestamp_fields() {
        for accepted in [OCCURRED_AT_MIN, OCCURRED_AT_MIN + 1, JAN_2026, OCCURRED_AT_END - 1] {
            assert_eq!(with_timestamp(accepted).validate(), Ok(()), "{record} {accepted}");
        }
        let refused = [
            OCCURRED_AT_MIN - 1, // 1999-12-31T23:59:59.999Z
            OCCURRED_AT_END,     // 2100-01-01T00:00:00Z
            0,
            -1,
            1 << 62,
            i64::MIN,
            i64::MAX,
            JAN_2026 / 1_000,     // seconds
            JAN_2026 * 1_000,     // microseconds
            JAN_2026 * 1_000_000, // nanoseconds
        ];
        for occurred_at in refused {
            assert_eq!(
                with_timestamp(occurred_at).validate(),
                Err(InvalidRecord::TimestampOutOfRange { record, occurred_at }),
                "{record} {occurred_at}"
            );
        }
    }
}

#[test]
fn a_timestamp_out_of_range_says_which_unit_it_looks_like() {
    let message = |occurred_at| {
        InputRecord::Payment(PaymentEvent { occurred_at, ..payment() }).validate().unwrap_err().to_string()
    };
    assert_eq!(
        message(JAN_2026 / 1_000),
        "PaymentEvent.occurred_at must be milliseconds since the epoch from 2000-01-01T00:00:00Z up to \
         2100-01-01T00:00:00Z, got 1767571200 (seconds?)"
    );
    assert!(message(JAN_2026 * 1_000).ends_with("got 1767571200000000 (microseconds?)"));
    assert!(message(JAN_2026 * 1_000_000).ends_with("got 1767571200000000000 (nanoseconds?)"));
    assert!(message(0).ends_with("got 0"));
    assert!(message(i64::MIN).ends_with(&format!("got {}", i64::MIN)));
}

// ---- Quantities, prices, amounts, policy levels -----------------------------------------------

#[test]
fn a_value_up_to_10_to_the_15_is_accepted_and_beyond_is_value_out_of_range() {
    assert_eq!(MAX_ABS_VALUE, E15);
    for (field, with_value, _) in value_fields() {
        assert_eq!(with_value(E15).validate(), Ok(()), "{field}");
        assert_eq!(with_value(E15 - 1).validate(), Ok(()), "{field}");
        for value in [E15 + 1, 1 << 62, i64::MAX] {
            assert_eq!(
                with_value(value).validate(),
                Err(InvalidRecord::ValueOutOfRange { field, value }),
                "{field} {value}"
            );
        }
    }
}

#[test]
fn a_negative_value_beyond_10_to_the_15_is_value_out_of_range_unless_its_sign_rule_refuses_it_first() {
    for (field, with_value, negative_kind) in value_fields() {
        for value in [-E15, -(E15 + 1), i64::MIN] {
            let expected = match negative_kind {
                Some(sign_rule) => Some(sign_rule),
                None if value < -E15 => Some("value_out_of_range"),
                None => None,
            };
            assert_eq!(kind(&with_value(value)), expected, "{field} {value}");
        }
        if negative_kind.is_none() {
            assert_eq!(with_value(i64::MIN).validate(), Err(InvalidRecord::ValueOutOfRange { field, value: i64::MIN }));
        }
    }
}

#[test]
fn a_value_out_of_range_message_names_the_field_and_the_value() {
    let mut order = order();
    order.lines[1].unit_price_minor = E15 + 1;
    assert_eq!(
        order.validate().unwrap_err().to_string(),
        "OrderEvent.lines[1].unit_price_minor must be between -10^15 and 10^15, got 1000000000000001"
    );
    let adjusted = InventoryEvent { kind: InventoryKind::Adjusted, quantity: i64::MIN, ..inventory() };
    assert_eq!(
        adjusted.validate().unwrap_err().to_string(),
        "InventoryEvent.quantity must be between -10^15 and 10^15, got -9223372036854775808"
    );
}

// ---- Precedence ------------------------------------------------------------------------------

#[test]
fn the_new_kinds_are_named_for_the_dlq() {
    let invalid_id =
        InvalidRecord::InvalidId { field: at("PaymentEvent", "buyer_id"), problem: IdProblem::TooLong { bytes: 999 } };
    let timestamp = InvalidRecord::TimestampOutOfRange { record: "OrderEvent", occurred_at: 0 };
    let value = InvalidRecord::ValueOutOfRange { field: at("ReorderPolicy", "max_level"), value: i64::MAX };
    assert_eq!(
        [invalid_id.kind(), timestamp.kind(), value.kind()],
        ["invalid_id", "timestamp_out_of_range", "value_out_of_range"]
    );
}

#[test]
fn a_record_breaking_a_rule_that_existed_before_the_ranges_keeps_that_rules_kind() {
    let long = "a".repeat(257);
    // Empty beats a later too-long id, a bad timestamp and a bad value.
    let event = InventoryEvent {
        event_id: long.as_str().into(),
        sku: "".into(),
        occurred_at: 0,
        kind: InventoryKind::Adjusted,
        quantity: i64::MIN,
        ..inventory()
    };
    assert_eq!(event.validate().unwrap_err().kind(), "empty_field");
    // The sign rule beats the range of the same value and a bad timestamp.
    let event = InventoryEvent { quantity: i64::MIN, occurred_at: 0, ..inventory() };
    assert_eq!(event.validate().unwrap_err().kind(), "non_positive_quantity");
    let event = InventoryEvent { kind: InventoryKind::Adjusted, quantity: 0, tenant_id: "\u{0}".into(), ..inventory() };
    assert_eq!(event.validate(), Err(InvalidRecord::ZeroAdjustment));
    // A bad currency beats ids, the timestamp and the values.
    let event = OrderEvent { currency: "eur".into(), buyer_id: long.as_str().into(), occurred_at: 0, ..order() };
    assert_eq!(event.validate().unwrap_err().kind(), "invalid_currency");
    let event = PaymentEvent { amount_minor: 0, payment_id: "\u{7f}".into(), occurred_at: 1, ..payment() };
    assert_eq!(event.validate().unwrap_err().kind(), "non_positive_amount");
    let event = ReorderPolicy { reorder_quantity: 0, sku: long.as_str().into(), max_level: Some(i64::MAX), ..policy() };
    assert_eq!(event.validate().unwrap_err().kind(), "non_positive_reorder_quantity");
    // A later order line's sign rule beats an earlier line's range.
    let mut event = order();
    event.lines[0].quantity = E15 + 1;
    event.lines[1].unit_price_minor = -1;
    assert_eq!(event.validate().unwrap_err().kind(), "negative_unit_price");
}

#[test]
fn among_the_ranges_ids_come_first_then_occurred_at_then_values() {
    let event =
        InventoryEvent { purchase_order_id: Some("a\u{0}".into()), occurred_at: 0, quantity: E15 + 1, ..inventory() };
    assert_eq!(event.validate().unwrap_err().kind(), "invalid_id");
    let event = InventoryEvent { occurred_at: 0, quantity: E15 + 1, ..inventory() };
    assert_eq!(event.validate().unwrap_err().kind(), "timestamp_out_of_range");
    // Every id of the order (its lines' last) before its timestamp, before its first line's values.
    let mut event = order();
    event.lines[0].quantity = E15 + 1;
    event.occurred_at = OCCURRED_AT_END;
    event.lines[1].warehouse_id = "\u{1f}".into();
    assert_eq!(
        event.validate(),
        Err(InvalidRecord::InvalidId {
            field: line(1, "warehouse_id"),
            problem: IdProblem::ControlCharacter { code_point: 0x1f, byte: 0 }
        })
    );
    event.lines[1].warehouse_id = "berlin".into();
    assert_eq!(event.validate().unwrap_err().kind(), "timestamp_out_of_range");
    event.occurred_at = JAN_2026;
    event.lines[1].quantity = -E15 - 1; // a sign rule, so it comes first
    assert_eq!(event.validate().unwrap_err().kind(), "non_positive_line_quantity");
    event.lines[1].quantity = E15 + 2;
    assert_eq!(event.validate(), Err(InvalidRecord::ValueOutOfRange { field: line(0, "quantity"), value: E15 + 1 }));
    // Within a record, fields in their schema order.
    let event = ReorderPolicy { reorder_quantity: E15 + 1, max_level: Some(-E15 - 1), ..policy() };
    assert_eq!(
        event.validate(),
        Err(InvalidRecord::ValueOutOfRange { field: at("ReorderPolicy", "reorder_quantity"), value: E15 + 1 })
    );
}

#[test]
fn a_policy_record_checks_its_key_shape_then_its_rules_and_ranges_then_that_the_key_matches() {
    let long = "s".repeat(257);
    let bad = ReorderPolicy { sku: long.as_str().into(), ..policy() };
    // A matching key or not: the id range comes before the key's match.
    let key = format!("acme/berlin/{long}");
    assert_eq!(PolicyUpdate::from_record(&key, Some(bad.clone())).unwrap_err().kind(), "invalid_id");
    assert_eq!(PolicyUpdate::from_record("acme/berlin/SKU-1", Some(bad.clone())).unwrap_err().kind(), "invalid_id");
    assert_eq!(PolicyUpdate::from_record("acme/berlin", Some(bad)).unwrap_err().kind(), "invalid_policy_key");
    let huge = ReorderPolicy { max_level: Some(E15 + 1), ..policy() };
    assert_eq!(PolicyUpdate::from_record("acme/berlin/SKU-1", Some(huge)).unwrap_err().kind(), "value_out_of_range");
    assert_eq!(PolicyUpdate::from_record("acme/lyon/SKU-1", Some(policy())).unwrap_err().kind(), "policy_key_mismatch");
    // A delete's key holds the same ids; its shape is checked first.
    assert_eq!(
        PolicyUpdate::from_record(&key, None),
        Err(InvalidRecord::InvalidId { field: at("PolicyKey", "sku"), problem: IdProblem::TooLong { bytes: 257 } })
    );
    assert_eq!(PolicyUpdate::from_record("acme//SKU-1", None).unwrap_err().kind(), "invalid_policy_key");
    assert_eq!(
        PolicyUpdate::from_record("acme/berlin/SKU-1", None),
        Ok(PolicyUpdate { position: PositionKey::new("acme", "berlin", "SKU-1"), policy: None })
    );
}

#[test]
fn every_message_of_the_new_kinds_is_free_of_control_characters() {
    let mut messages = Vec::new();
    for (_, with_id) in id_fields() {
        for id in ["\u{0}", "\u{1b}[31mred", "a\r\nInjected: header", &"x".repeat(1_000)] {
            messages.push(with_id(id).validate().unwrap_err().to_string());
        }
    }
    for (_, with_timestamp) in timestamp_fields() {
        messages.push(with_timestamp(i64::MIN).validate().unwrap_err().to_string());
    }
    for (_, with_value, _) in value_fields() {
        messages.push(with_value(i64::MAX).validate().unwrap_err().to_string());
    }
    for message in messages {
        assert!(!message.chars().any(char::is_control), "{message:?}");
        assert!(message.len() < 200, "{message:?}");
    }
}
