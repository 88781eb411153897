//! "Nothing wraps" (`CONTRACT.md` §2) case by case: aggregates taken to the end of the signed
//! 64-bit range exactly, and the record that would pass it by one refused — by the dataflow (on
//! one and on two workers) and the reference model alike, naming the same aggregate and key.
//! Big orders carry a whole ramp of 10^15 units in one record, so most cases need few records.

mod support;

use flowmart_operators::{SourceOffset, Time};
use flowmart_schemas::{
    Aggregate, AggregateKey, InputRecord, InputTopic, InventoryEvent, InventoryKind, MAX_ABS_VALUE, OrderEvent,
    OrderLine, OrderStatus, PaymentEvent, PaymentKind, PolicyUpdate, PositionKey, RefusedRecord, ReorderPolicy,
};
use flowmart_testkit::OCCURRED_AT;
use support::{Arrival, dataflow_equals_model, run_model};

const E15: i64 = MAX_ABS_VALUE;

fn inventory(event_id: &str, sku: &str, kind: InventoryKind, quantity: i64) -> InputRecord {
    InputRecord::Inventory(InventoryEvent {
        event_id: event_id.into(),
        tenant_id: "acme".into(),
        warehouse_id: "berlin".into(),
        sku: sku.into(),
        kind,
        quantity,
        occurred_at: OCCURRED_AT,
        purchase_order_id: None,
    })
}

fn order(event_id: &str, order_id: &str, version: i32, status: OrderStatus, lines: Vec<(&str, i64)>) -> InputRecord {
    InputRecord::Order(OrderEvent {
        event_id: event_id.into(),
        tenant_id: "acme".into(),
        order_id: order_id.into(),
        buyer_id: "buyer".into(),
        version,
        status,
        lines: lines
            .into_iter()
            .map(|(sku, quantity)| OrderLine {
                sku: sku.into(),
                warehouse_id: "berlin".into(),
                quantity,
                unit_price_minor: 1,
            })
            .collect(),
        currency: "EUR".into(),
        occurred_at: OCCURRED_AT,
    })
}

/// Lines at `sku` whose quantities (each a valid 10^15 at most) sum to `total`.
fn lines_summing_to(sku: &str, total: i128) -> Vec<(&str, i64)> {
    let full = (total / i128::from(E15)) as usize;
    let mut lines = vec![(sku, E15); full];
    let rest = total - full as i128 * i128::from(E15);
    if rest > 0 {
        lines.push((sku, rest as i64));
    }
    lines
}

/// A payment to acme in EUR, `day` days after [`OCCURRED_AT`].
fn payment(event_id: &str, day: i64, kind: PaymentKind, amount_minor: i64) -> InputRecord {
    InputRecord::Payment(PaymentEvent {
        event_id: event_id.into(),
        tenant_id: "acme".into(),
        payment_id: event_id.into(),
        buyer_id: "buyer".into(),
        order_id: None,
        kind,
        amount_minor,
        currency: "EUR".into(),
        occurred_at: OCCURRED_AT + day * 86_400_000,
    })
}

fn policy(sku: &str, policy: Option<(Option<i64>, Option<i64>)>) -> InputRecord {
    let position = PositionKey::new("acme", "berlin", sku);
    let policy = policy.map(|(max_level, order_multiple)| ReorderPolicy {
        tenant_id: "acme".into(),
        warehouse_id: "berlin".into(),
        sku: sku.into(),
        reorder_point: 0,
        reorder_quantity: 1,
        max_level,
        order_multiple,
        lead_time_days: None,
    });
    InputRecord::Policy(PolicyUpdate { position, policy })
}

/// The records as read from one partition, in the order given, each at its pipeline time.
fn read(records: Vec<(Time, InputRecord)>) -> Vec<Arrival> {
    records
        .into_iter()
        .enumerate()
        .map(|(offset, (time, record))| Arrival {
            time,
            offset: SourceOffset { partition: 0, offset: offset as u64 },
            record,
        })
        .collect()
}

/// Runs the dataflow on one and on two workers and the model; checks they agree and returns the
/// refusals as (offset, aggregate, key).
fn refusals(arrivals: &[Arrival]) -> Vec<(u64, Aggregate, AggregateKey)> {
    let refused = dataflow_equals_model(1, arrivals).unwrap_or_else(|failure| panic!("one worker: {failure}"));
    let on_two = dataflow_equals_model(2, arrivals).unwrap_or_else(|failure| panic!("two workers: {failure}"));
    assert_eq!(refused, on_two);
    refused.into_iter().map(|(RefusedRecord { offset, error, .. }, _)| (offset, error.aggregate, *error.key)).collect()
}

fn at(sku: &str) -> AggregateKey {
    AggregateKey::Position(PositionKey::new("acme", "berlin", sku))
}

fn levels(arrivals: &[Arrival], sku: &str) -> (i64, i64, i64) {
    let stock = run_model(arrivals).model.stock();
    let levels = stock[&PositionKey::new("acme", "berlin", sku)];
    (levels.on_hand, levels.reserved, levels.available())
}

#[test]
fn an_order_version_that_would_take_one_position_out_of_range_is_refused_whole_and_the_old_version_stays() {
    use OrderStatus::Placed;
    let arrivals = read(vec![
        (1, order("big", "o-big", 1, Placed, lines_summing_to("SKU-2", i128::from(i64::MAX) - 3))),
        (2, order("b1", "o-b", 1, Placed, vec![("SKU-1", 5), ("SKU-2", 2)])),
        // SKU-2's reserved would be MAX - 1 - 2 + 5: one version, refused whole.
        (3, order("b2", "o-b", 2, Placed, vec![("SKU-1", 1), ("SKU-2", 5)])),
        // The same version again is judged afresh (version 1 is still current), and refused again.
        (4, order("b2", "o-b", 2, Placed, vec![("SKU-1", 1), ("SKU-2", 5)])),
        // Exactly to the end of the range: applied.
        (5, order("b2'", "o-b", 2, Placed, vec![("SKU-1", 1), ("SKU-2", 3)])),
    ]);
    assert_eq!(refusals(&arrivals), vec![(2, Aggregate::Reserved, at("SKU-2")), (3, Aggregate::Reserved, at("SKU-2"))]);
    assert_eq!(levels(&arrivals, "SKU-1"), (0, 1, -1));
    assert_eq!(levels(&arrivals, "SKU-2"), (0, i64::MAX, -i64::MAX));
    // Before the last version, the first one still counted in full at both positions.
    assert_eq!(levels(&arrivals[..4], "SKU-1"), (0, 5, -5));
    assert_eq!(levels(&arrivals[..4], "SKU-2").1, i64::MAX - 1);
}

#[test]
fn a_new_version_is_judged_on_its_net_change_not_on_adding_before_retracting() {
    use OrderStatus::{Placed, Shipped};
    let arrivals = read(vec![
        (1, order("big", "o-big", 1, Placed, lines_summing_to("SKU-1", i128::from(i64::MAX) - 100))),
        (1, order("a1", "o-a", 1, Placed, vec![("SKU-1", 100)])),
        // available = 0 - MAX: shipping what was reserved leaves it, though shipping before
        // releasing the reservation would take it to MIN - 99.
        (2, order("a2", "o-a", 2, Shipped, vec![("SKU-1", 100)])),
    ]);
    assert_eq!(refusals(&arrivals), vec![]);
    assert_eq!(levels(&arrivals, "SKU-1"), (-100, i64::MAX - 100, -i64::MAX));
}

#[test]
fn an_order_whose_own_lines_sum_past_the_range_is_refused_naming_the_first_position_they_are_at() {
    use OrderStatus::{Placed, Shipped};
    let past = i128::from(i64::MAX) + 1;
    let mut lines = vec![("SKU-1", 1)];
    lines.extend(lines_summing_to("SKU-2", past));
    lines.extend(lines_summing_to("SKU-1", past));
    let arrivals = read(vec![
        // SKU-2's lines leave the range first, but SKU-1 comes first among the lines.
        (1, order("x", "o-x", 1, Placed, lines)),
        // i64::MAX + 1 units: too many to reserve, exactly i64::MIN to ship.
        (2, order("r", "o-r", 1, Placed, lines_summing_to("SKU-3", past))),
        (3, order("s", "o-s", 1, Shipped, lines_summing_to("SKU-3", past))),
        (4, order("t", "o-t", 1, Shipped, lines_summing_to("SKU-2", past + 1))),
    ]);
    let lines_of = |order: &str, sku: &str| AggregateKey::OrderLines {
        order: ("acme".into(), order.into()),
        position: PositionKey::new("acme", "berlin", sku),
    };
    assert_eq!(
        refusals(&arrivals),
        vec![
            (0, Aggregate::Reserved, lines_of("o-x", "SKU-1")),
            (1, Aggregate::Reserved, lines_of("o-r", "SKU-3")),
            (3, Aggregate::OnHand, lines_of("o-t", "SKU-2")),
        ]
    );
    assert_eq!(levels(&arrivals, "SKU-3"), (i64::MIN, 0, i64::MIN));
}

#[test]
fn a_settlement_sum_and_net_reach_the_end_of_the_range_exactly_and_the_next_payment_is_refused() {
    use PaymentKind::{Captured, Fee, Refunded};
    let steps = (i64::MAX / E15) as usize;
    let headroom = i64::MAX - steps as i64 * E15;
    // Captured to MAX on one day, refunded to MAX on the next (net -MAX there).
    let ramp = |time: Time, day: i64, kind: PaymentKind| {
        let amounts = std::iter::repeat_n(E15, steps).chain([headroom]);
        amounts.enumerate().map(move |(step, amount)| (time, payment(&format!("{kind:?}-{step}"), day, kind, amount)))
    };
    let mut records = ramp(1, 0, Captured).chain(ramp(2, 1, Refunded)).collect::<Vec<_>>();
    let first = records.len() as u64;
    records.extend([
        (3, payment("captured-past", 0, Captured, 1)),
        (3, payment("refunded-past", 1, Refunded, 1)),
        // One fee takes net to MIN exactly, the next would pass it; a capture makes room again.
        (3, payment("fee-exact", 1, Fee, 1)),
        (3, payment("fee-past", 1, Fee, 1)),
        (3, payment("captured", 1, Captured, 5)),
        (3, payment("fee-fits-again", 1, Fee, 1)),
    ]);
    let arrivals = read(records);
    let refused = refusals(&arrivals);
    let aggregates = refused.iter().map(|(offset, aggregate, _)| (offset - first, *aggregate)).collect::<Vec<_>>();
    assert_eq!(aggregates, vec![(0, Aggregate::Captured), (1, Aggregate::Refunded), (3, Aggregate::Net)]);
    let totals = run_model(&arrivals).model.settlements();
    let nets = totals.values().map(|totals| (totals.captured, totals.net())).collect::<Vec<_>>();
    assert_eq!(nets, vec![(i64::MAX, i64::MAX), (5, i64::MIN + 4)]);
}

#[test]
fn a_record_or_policy_that_would_take_the_suggested_quantity_out_of_range_is_refused_and_a_delete_never_is() {
    use InventoryKind::Damaged;
    // projected = MIN + 1000.
    let shipped = lines_summing_to("SKU-1", i128::from(i64::MAX) - 999);
    let arrivals = read(vec![
        (1, order("s", "o-s", 1, OrderStatus::Shipped, shipped)),
        // 1000 - projected = MAX + 1.
        (2, policy("SKU-1", Some((Some(1_000), None)))),
        // 998 - projected = MAX - 1.
        (2, policy("SKU-1", Some((Some(998), None)))),
        (3, inventory("d-2", "SKU-1", Damaged, 2)),
        (3, inventory("d-1", "SKU-1", Damaged, 1)),
        (4, policy("SKU-1", None)),
        (4, inventory("d-1'", "SKU-1", Damaged, 1)),
        // 0 - projected = MAX - 997, rounded up to a multiple of 10^15: past MAX.
        (5, policy("SKU-1", Some((Some(0), Some(E15))))),
        // i64::MAX is a multiple of 7.
        (5, policy("SKU-1", Some((Some(0), Some(7))))),
    ]);
    assert_eq!(
        refusals(&arrivals),
        vec![
            (1, Aggregate::SuggestedQuantity, at("SKU-1")),
            (3, Aggregate::SuggestedQuantity, at("SKU-1")),
            (7, Aggregate::SuggestedQuantity, at("SKU-1")),
        ]
    );
    assert_eq!(levels(&arrivals, "SKU-1").0, i64::MIN + 998);
}

#[test]
fn a_refused_record_changes_nothing_and_a_retry_of_it_is_a_duplicate() {
    use InventoryKind::Damaged;
    // on_hand = MIN + 5.
    let shipped = lines_summing_to("SKU-1", i128::from(i64::MAX) - 4);
    let arrivals = read(vec![
        (1, order("s", "o-s", 1, OrderStatus::Shipped, shipped)),
        (2, inventory("e-1", "SKU-1", Damaged, 10)),
        (3, inventory("e-1", "SKU-1", Damaged, 10)),
        (3, inventory("e-2", "SKU-1", Damaged, 5)),
        (4, inventory("e-3", "SKU-1", Damaged, 1)),
    ]);
    assert_eq!(refusals(&arrivals), vec![(1, Aggregate::OnHand, at("SKU-1")), (4, Aggregate::OnHand, at("SKU-1"))]);
    assert_eq!(levels(&arrivals, "SKU-1").0, i64::MIN);
    let refused = dataflow_equals_model(1, &arrivals).expect("agree");
    assert!(refused.iter().all(|(refused, _)| refused.topic == InputTopic::Inventory && refused.partition == 0));
    assert_eq!(refused.iter().map(|(_, time)| *time).collect::<Vec<_>>(), vec![2, 4], "at the time each was read");
}
