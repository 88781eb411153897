//! The validator against the test generators and against a plain restatement of the contract's
//! rules (`CONTRACT.md` §2, with the precedence documented in `flowmart_schemas::validate`), and
//! the reference model refusing what the pipeline refuses.

mod support;

use std::collections::BTreeMap;

use flowmart_operators::reference::{ReferenceModel, Refusal};
use flowmart_schemas::{
    Id, InputRecord, InventoryEvent, InventoryKind, OrderEvent, OrderLine, OrderStatus, PaymentEvent, PaymentKind,
    PolicyUpdate, PositionKey, ReorderPolicy, Validate,
};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use support::arrivals;

// ---- The rules, restated plainly -----------------------------------------------------------
//
// Written from CONTRACT.md, not from the validator: characters rather than bytes for control
// characters, i128 for magnitudes, the bounds as literals. Each record's rules are listed in the
// documented precedence; the first one broken names the record.

fn id_ok(id: &str) -> bool {
    id.len() <= 256 && !id.chars().any(|c| c <= '\u{1f}' || c == '\u{7f}')
}

fn time_ok(occurred_at: i64) -> bool {
    // 2000-01-01T00:00:00Z ≤ t < 2100-01-01T00:00:00Z, in ms.
    (946_684_800_000..4_102_444_800_000).contains(&occurred_at)
}

fn value_ok(value: i64) -> bool {
    i128::from(value).abs() <= 10i128.pow(15)
}

fn currency_ok(code: &str) -> bool {
    code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase())
}

/// The first rule broken, as (broken, kind) pairs in order.
fn first(rules: &[(bool, &'static str)]) -> Option<&'static str> {
    rules.iter().find(|(broken, _)| *broken).map(|(_, kind)| *kind)
}

fn expected_kind(record: &InputRecord) -> Option<&'static str> {
    match record {
        InputRecord::Inventory(e) => {
            let ids = [Some(&e.event_id), Some(&e.tenant_id), Some(&e.warehouse_id), Some(&e.sku)]
                .into_iter()
                .chain([e.purchase_order_id.as_ref()])
                .flatten()
                .collect::<Vec<_>>();
            let adjusted = e.kind == InventoryKind::Adjusted;
            first(&[
                (ids.iter().any(|id| id.is_empty()), "empty_field"),
                (adjusted && e.quantity == 0, "zero_adjustment"),
                (!adjusted && e.quantity <= 0, "non_positive_quantity"),
                (!ids.iter().all(|id| id_ok(id)), "invalid_id"),
                (!time_ok(e.occurred_at), "timestamp_out_of_range"),
                (!value_ok(e.quantity), "value_out_of_range"),
            ])
        }
        InputRecord::Order(o) => {
            let ids = [&o.event_id, &o.tenant_id, &o.order_id, &o.buyer_id];
            let line_ids = o.lines.iter().flat_map(|line| [&line.sku, &line.warehouse_id]).collect::<Vec<_>>();
            let line_rule = o.lines.iter().find_map(|line| {
                first(&[
                    (line.sku.is_empty() || line.warehouse_id.is_empty(), "empty_field"),
                    (line.quantity <= 0, "non_positive_line_quantity"),
                    (line.unit_price_minor < 0, "negative_unit_price"),
                ])
            });
            first(&[
                (ids.iter().any(|id| id.is_empty()), "empty_field"),
                (o.version < 1, "invalid_order_version"),
                (o.lines.is_empty(), "no_order_lines"),
            ])
            .or(line_rule)
            .or_else(|| {
                first(&[
                    (!currency_ok(&o.currency), "invalid_currency"),
                    (!ids.iter().chain(&line_ids).all(|id| id_ok(id)), "invalid_id"),
                    (!time_ok(o.occurred_at), "timestamp_out_of_range"),
                    (
                        !o.lines.iter().all(|line| value_ok(line.quantity) && value_ok(line.unit_price_minor)),
                        "value_out_of_range",
                    ),
                ])
            })
        }
        InputRecord::Payment(p) => {
            let ids = [Some(&p.event_id), Some(&p.tenant_id), Some(&p.payment_id), Some(&p.buyer_id)]
                .into_iter()
                .chain([p.order_id.as_ref()])
                .flatten()
                .collect::<Vec<_>>();
            first(&[
                (ids.iter().any(|id| id.is_empty()), "empty_field"),
                (p.amount_minor <= 0, "non_positive_amount"),
                (!currency_ok(&p.currency), "invalid_currency"),
                (!ids.iter().all(|id| id_ok(id)), "invalid_id"),
                (!time_ok(p.occurred_at), "timestamp_out_of_range"),
                (!value_ok(p.amount_minor), "value_out_of_range"),
            ])
        }
        InputRecord::Policy(PolicyUpdate { policy: Some(p), .. }) => {
            let ids = [&p.tenant_id, &p.warehouse_id, &p.sku];
            let values = [Some(p.reorder_point), Some(p.reorder_quantity), p.max_level, p.order_multiple];
            first(&[
                (ids.iter().any(|id| id.is_empty()), "empty_field"),
                (p.reorder_point < 0, "negative_reorder_point"),
                (p.reorder_quantity <= 0, "non_positive_reorder_quantity"),
                (p.order_multiple.is_some_and(|multiple| multiple <= 0), "non_positive_order_multiple"),
                (!ids.iter().all(|id| id_ok(id)), "invalid_id"),
                (!values.into_iter().flatten().all(value_ok), "value_out_of_range"),
            ])
        }
        InputRecord::Policy(PolicyUpdate { position, policy: None }) => {
            let ids = [&position.tenant_id, &position.warehouse_id, &position.sku];
            first(&[
                (ids.iter().any(|id| id.is_empty()), "empty_field"),
                (!ids.iter().all(|id| id_ok(id)), "invalid_id"),
            ])
        }
    }
}

// ---- Random values, dense at the boundaries ---------------------------------------------------

const E15: i64 = 1_000_000_000_000_000;

fn id() -> impl Strategy<Value = Id> {
    let at_the_limit = (250..=258usize, select(vec!["", "é", "€", "😀"]))
        .prop_map(|(length, tail)| format!("{}{tail}", "a".repeat(length.saturating_sub(tail.len()))));
    let control = select(vec!['\u{0}', '\u{9}', '\u{a}', '\u{1b}', '\u{1f}', '\u{7f}', '\u{80}', ' ', '~']);
    let with_a_character = ("[a-z0-9-]{0,6}", control, "[a-zé-]{0,6}")
        .prop_map(|(head, character, tail)| format!("{head}{character}{tail}"));
    prop_oneof![
        12 => "[A-Za-z0-9_/-]{1,12}",
        1 => Just(String::new()),
        2 => at_the_limit,
        2 => with_a_character,
        1 => "(?s:.{0,8})",
    ]
    .prop_map(Id::from)
}

fn occurred_at() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => 1_764_000_000_000..1_800_000_000_000i64,
        1 => 946_684_800_000 - 2..946_684_800_000 + 2i64,
        1 => 4_102_444_800_000 - 2..4_102_444_800_000 + 2i64,
        1 => select(vec![0, -1, 1 << 62, i64::MIN, i64::MAX, 1_767_571_200, 1_767_571_200_000_000]),
        1 => any::<i64>(),
    ]
}

fn value() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => -3..100i64,
        1 => Just(0),
        1 => E15 - 2..=E15 + 2,
        1 => -E15 - 2..=-E15 + 2,
        1 => select(vec![i64::MIN, i64::MIN + 1, i64::MAX]),
        1 => any::<i64>(),
    ]
}

fn inventory_kind() -> impl Strategy<Value = InventoryKind> {
    select(InventoryKind::ALL.to_vec())
}

fn currency() -> impl Strategy<Value = Id> {
    select(vec!["EUR", "EUR", "EUR", "USD", "eur", "EURO", ""]).prop_map(Id::from)
}

fn inventory() -> impl Strategy<Value = InputRecord> {
    ((id(), id(), id(), id()), inventory_kind(), value(), occurred_at(), prop::option::of(id())).prop_map(
        |((event_id, tenant_id, warehouse_id, sku), kind, quantity, occurred_at, purchase_order_id)| {
            InputRecord::Inventory(InventoryEvent {
                event_id,
                tenant_id,
                warehouse_id,
                sku,
                kind,
                quantity,
                occurred_at,
                purchase_order_id,
            })
        },
    )
}

fn order() -> impl Strategy<Value = InputRecord> {
    let line = (id(), id(), value(), value()).prop_map(|(sku, warehouse_id, quantity, unit_price_minor)| OrderLine {
        sku,
        warehouse_id,
        quantity,
        unit_price_minor,
    });
    (
        (id(), id(), id(), id()),
        prop_oneof![8 => 1..5i32, 1 => -1..=0i32],
        prop::collection::vec(line, 0..4),
        currency(),
        occurred_at(),
    )
        .prop_map(|((event_id, tenant_id, order_id, buyer_id), version, lines, currency, occurred_at)| {
            InputRecord::Order(OrderEvent {
                event_id,
                tenant_id,
                order_id,
                buyer_id,
                version,
                status: OrderStatus::Placed,
                lines,
                currency,
                occurred_at,
            })
        })
}

fn payment() -> impl Strategy<Value = InputRecord> {
    ((id(), id(), id(), id()), prop::option::of(id()), value(), currency(), occurred_at()).prop_map(
        |((event_id, tenant_id, payment_id, buyer_id), order_id, amount_minor, currency, occurred_at)| {
            InputRecord::Payment(PaymentEvent {
                event_id,
                tenant_id,
                payment_id,
                buyer_id,
                order_id,
                kind: PaymentKind::Captured,
                amount_minor,
                currency,
                occurred_at,
            })
        },
    )
}

fn policy() -> impl Strategy<Value = InputRecord> {
    let policy = ((id(), id(), id()), value(), value(), prop::option::of(value()), prop::option::of(value())).prop_map(
        |((tenant_id, warehouse_id, sku), reorder_point, reorder_quantity, max_level, order_multiple)| ReorderPolicy {
            tenant_id,
            warehouse_id,
            sku,
            reorder_point,
            reorder_quantity,
            max_level,
            order_multiple,
            lead_time_days: None,
        },
    );
    let set = policy.prop_map(|policy| PolicyUpdate { position: policy.position(), policy: Some(policy) });
    let delete = (id(), id(), id()).prop_map(|(tenant_id, warehouse_id, sku)| PolicyUpdate {
        position: PositionKey::new(tenant_id, warehouse_id, sku),
        policy: None,
    });
    prop_oneof![3 => set, 1 => delete].prop_map(InputRecord::Policy)
}

fn any_record() -> impl Strategy<Value = InputRecord> {
    prop_oneof![inventory(), order(), payment(), policy()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4_000, ..ProptestConfig::default() })]

    #[test]
    fn the_validator_agrees_with_a_plain_restatement_of_the_rules(record in any_record()) {
        let kind = record.validate().err().map(|invalid| invalid.kind());
        prop_assert_eq!(kind, expected_kind(&record), "{:?}", record);
    }
}

#[test]
fn the_random_records_reach_every_rule_and_acceptance() {
    let mut runner = TestRunner::deterministic();
    let strategy = any_record();
    let mut seen = BTreeMap::<Option<&str>, usize>::new();
    for _ in 0..4_000 {
        let record = strategy.new_tree(&mut runner).expect("a record").current();
        *seen.entry(expected_kind(&record)).or_default() += 1;
    }
    let every = [
        None,
        Some("empty_field"),
        Some("non_positive_quantity"),
        Some("zero_adjustment"),
        Some("invalid_order_version"),
        Some("no_order_lines"),
        Some("non_positive_line_quantity"),
        Some("negative_unit_price"),
        Some("invalid_currency"),
        Some("non_positive_amount"),
        Some("negative_reorder_point"),
        Some("non_positive_reorder_quantity"),
        Some("non_positive_order_multiple"),
        Some("invalid_id"),
        Some("timestamp_out_of_range"),
        Some("value_out_of_range"),
    ];
    for kind in every {
        assert!(seen.get(&kind).is_some_and(|count| *count >= 10), "{kind:?} too rare: {seen:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_record_the_test_generators_make_is_accepted(arrivals in arrivals(60, 3)) {
        for arrival in &arrivals {
            prop_assert_eq!(arrival.record.validate(), Ok(()), "{:?}", arrival.record);
        }
    }
}

// ---- The reference model refuses what the pipeline refuses -----------------------------------

fn received(event_id: &str, quantity: i64, occurred_at: i64) -> InputRecord {
    InputRecord::Inventory(InventoryEvent {
        event_id: event_id.into(),
        tenant_id: "acme".into(),
        warehouse_id: "berlin".into(),
        sku: "SKU-1".into(),
        kind: InventoryKind::Received,
        quantity,
        occurred_at,
        purchase_order_id: None,
    })
}

#[test]
fn the_reference_model_refuses_out_of_range_records_with_the_pipelines_kind_and_changes_nothing() {
    let mut model = ReferenceModel::new();
    model.apply(received("e-1", 5, 1_767_571_200_000)).expect("in range");
    let before = model.stock();
    for (record, kind) in [
        (received("e-2", E15 + 1, 1_767_571_200_000), "value_out_of_range"),
        (received("e-3", 5, 1_767_571_200), "timestamp_out_of_range"),
        (received(&"e".repeat(257), 5, 1_767_571_200_000), "invalid_id"),
        (received("e-4\u{0}", 5, 1_767_571_200_000), "invalid_id"),
    ] {
        let refused = record.validate().expect_err("out of range");
        assert_eq!(model.apply(record), Err(Refusal::Invalid(refused.clone())));
        assert_eq!(refused.kind(), kind);
    }
    // The refused ids were not remembered: a valid record with one of them still counts.
    model.apply(received("e-2", 7, 1_767_571_200_000)).expect("in range");
    let after = model.stock();
    let position = PositionKey::new("acme", "berlin", "SKU-1");
    assert_eq!(before[&position].on_hand, 5);
    assert_eq!(after[&position].on_hand, 12);
}
