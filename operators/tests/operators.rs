//! Each operator on its own: against a plain computation of its rule over random inputs, and on
//! the lifecycle and retention cases that matter most.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use differential_dataflow::input::{Input, InputSession};
use flowmart_operators::dedupe::DedupeByEventId;
use flowmart_operators::reorder_alerts::alert_id;
use flowmart_operators::stock_positions::{StockInputs, StockPositions, stock_positions};
use flowmart_operators::{Collection, Diff, SourceOffset, Sourced, Time};
use flowmart_schemas::{
    EventDigest, InputRecord, InventoryEvent, InventoryKind, OrderEvent, OrderState, PolicyUpdate, PositionKey,
    ReorderAlert, ReorderAlertStatus, ReorderPolicy,
};
use flowmart_testkit::inventory_event;
use proptest::prelude::*;
use support::{accumulate, arrivals};

/// Runs `operator` on one worker over `input` ((record, time) pairs fed in the given order) and
/// returns every output update.
fn run_operator<D, O>(
    input: Vec<(D, Time)>,
    operator: impl for<'s> Fn(Collection<'s, D>) -> Collection<'s, O> + Send + Sync + 'static,
) -> Vec<(O, Time, Diff)>
where
    D: differential_dataflow::ExchangeData + Send + Sync,
    O: differential_dataflow::ExchangeData,
{
    let output = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&output);
    let input = Arc::new(input);
    timely::execute(timely::Config::thread(), move |worker| {
        let sink = Arc::clone(&sink);
        let mut session: InputSession<Time, D, Diff> = worker.dataflow(|scope| {
            let (session, collection) = scope.new_collection();
            operator(collection).inspect(move |update| sink.lock().unwrap().push(update.clone()));
            session
        });
        let mut sorted = input.to_vec();
        sorted.sort_by_key(|(_, time)| *time);
        for (record, time) in sorted {
            session.advance_to(time);
            session.insert(record);
        }
    })
    .unwrap();
    Arc::try_unwrap(output).ok().unwrap().into_inner().unwrap()
}

/// An empty collection in the scope of `beside`: no recovered state.
fn nothing<'s, D: differential_dataflow::Data, T: differential_dataflow::Data>(
    beside: &Collection<'s, D>,
) -> Collection<'s, T> {
    beside.clone().flat_map(|_| None::<T>)
}

/// The stock operator over these inventory events, orders and policies, with nothing recovered.
fn positions<'s>(
    inventory: Collection<'s, Sourced<InventoryEvent>>,
    orders: Collection<'s, Sourced<OrderEvent>>,
    policies: Collection<'s, Sourced<PolicyUpdate>>,
) -> StockPositions<'s> {
    let (recovered_stock, recovered_orders, recovered_policies, recovered_alerts) =
        (nothing(&inventory), nothing(&inventory), nothing(&inventory), nothing(&inventory));
    stock_positions(
        StockInputs {
            inventory,
            orders,
            policies,
            recovered_stock,
            recovered_orders,
            recovered_policies,
            recovered_alerts,
        },
        None,
    )
}

fn sourced<E>(partition: u32, offset: u64, event: E) -> Sourced<E> {
    Sourced { offset: SourceOffset { partition, offset }, event }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn dedupe_keeps_the_first_record_of_each_event_id(arrivals in arrivals(50, 3)) {
        let inventory = arrivals.iter().filter_map(|arrival| match &arrival.record {
            InputRecord::Inventory(event) => Some((Sourced { offset: arrival.offset, event: event.clone() }, arrival.time)),
            _ => None,
        }).collect::<Vec<_>>();
        let mut expected = BTreeMap::new();
        let mut first_read = inventory.clone();
        first_read.sort_by_key(|(record, time)| (*time, record.offset));
        for (record, time) in first_read {
            expected.entry(record.event.event_id.clone()).or_insert((record, time));
        }
        let mut ids = run_operator(inventory.clone(), |events| events.clone().dedupe_by_event_id(nothing(&events), None).ids);
        let output = run_operator(inventory, |events| events.clone().dedupe_by_event_id(nothing(&events), None).records);
        let mut output = output.into_iter().map(|(record, time, diff)| ((record, time), diff)).collect::<Vec<_>>();
        output.sort();
        let mut expected = expected.into_values().map(|first| (first, 1)).collect::<Vec<_>>();
        expected.sort();
        // Beside each first record, the digest of its id at its time.
        ids.sort();
        let mut expected_ids = expected
            .iter()
            .map(|((record, time), diff)| (EventDigest::of(&record.event.event_id), *time, *diff))
            .collect::<Vec<_>>();
        expected_ids.sort();
        prop_assert_eq!(ids, expected_ids);
        prop_assert_eq!(output, expected);
    }

    #[test]
    fn order_upsert_keeps_the_highest_version_first_read(arrivals in arrivals(50, 3)) {
        let orders = arrivals.iter().filter_map(|arrival| match &arrival.record {
            InputRecord::Order(event) => Some((Sourced { offset: arrival.offset, event: event.clone() }, arrival.time)),
            _ => None,
        }).collect::<Vec<_>>();
        let mut expected = BTreeMap::new();
        let mut read_order = orders.clone();
        read_order.sort_by_key(|(record, time)| (*time, record.offset));
        for (record, _) in read_order {
            let key = (record.event.tenant_id.clone(), record.event.order_id.clone());
            let current: Option<&OrderEvent> = expected.get(&key);
            if current.is_none_or(|current| record.event.version > current.version) {
                expected.insert(key, record.event);
            }
        }
        let output = accumulate(&run_operator(orders, |orders| positions(nothing(&orders), orders.clone(), nothing(&orders)).orders));
        prop_assert!(output.iter().all(|(_, diff)| *diff == 1));
        let output = output.into_iter().map(|(order, _)| order).collect::<Vec<_>>();
        let expected = expected.into_iter().map(|(key, order)| (key, OrderState::from(order))).collect::<Vec<_>>();
        prop_assert_eq!(output, expected);
    }
}

#[test]
fn a_retry_after_the_dedupe_retention_counts_again() {
    let input = vec![
        (sourced(0, 0, inventory_event("e-1", 5)), 10),
        (sourced(0, 1, inventory_event("e-1", 5)), 109),
        (sourced(0, 2, inventory_event("e-1", 5)), 110),
    ];
    let output = run_operator(input, |events| events.clone().dedupe_by_event_id(nothing(&events), Some(100)).records);
    let times = output.iter().map(|(_, time, diff)| (*time, *diff)).collect::<Vec<_>>();
    assert_eq!(times, vec![(10, 1), (110, 1)]);
}

#[test]
fn a_late_lower_order_version_changes_nothing() {
    let order = |version, status| OrderEvent {
        event_id: format!("e-{version}").into(),
        tenant_id: "acme".into(),
        order_id: "o-1".into(),
        buyer_id: "b".into(),
        version,
        status,
        lines: vec![flowmart_schemas::OrderLine {
            sku: "SKU-1".into(),
            warehouse_id: "berlin".into(),
            quantity: 3,
            unit_price_minor: 100,
        }],
        currency: "EUR".into(),
        occurred_at: 0,
    };
    use flowmart_schemas::OrderStatus::{Confirmed, Placed, Shipped};
    let input = vec![
        (sourced(0, 0, order(1, Placed)), 1),
        (sourced(0, 1, order(3, Shipped)), 2),
        (sourced(0, 2, order(2, Confirmed)), 3),
    ];
    let output = run_operator(input, |orders| positions(nothing(&orders), orders.clone(), nothing(&orders)).orders);
    let statuses = output.iter().map(|((_, order), time, diff)| (order.status, *time, *diff)).collect::<Vec<_>>();
    assert_eq!(statuses, vec![(Placed, 1, 1), (Placed, 2, -1), (Shipped, 2, 1)]);
}

/// The alert changes for a stream of stock movements and policy updates at one position.
fn alert_changes(input: Vec<(Result<InventoryEvent, Option<ReorderPolicy>>, Time)>) -> Vec<ReorderAlert> {
    let input = input
        .into_iter()
        .enumerate()
        .map(|(offset, (record, time))| (sourced(0, offset as u64, record), time))
        .collect::<Vec<_>>();
    let output = run_operator(input, |records| {
        let inventory =
            records.clone().flat_map(|record| record.event.ok().map(|event| sourced(0, record.offset.offset, event)));
        let policies = records.flat_map(|record| {
            let offset = record.offset.offset;
            record.event.err().map(|policy| {
                sourced(0, offset, PolicyUpdate { position: PositionKey::new("acme", "berlin", "SKU-1"), policy })
            })
        });
        let inventory = inventory.clone().dedupe_by_event_id(nothing(&inventory), None).records;
        positions(inventory, nothing(&policies), policies).alerts
    });
    let mut alerts = output.into_iter().map(|(alert, _, _)| alert).collect::<Vec<_>>();
    alerts.sort_by_key(|alert| alert.changed_at);
    alerts
}

fn policy(reorder_point: i64) -> ReorderPolicy {
    ReorderPolicy {
        tenant_id: "acme".into(),
        warehouse_id: "berlin".into(),
        sku: "SKU-1".into(),
        reorder_point,
        reorder_quantity: 50,
        max_level: Some(100),
        order_multiple: None,
        lead_time_days: None,
    }
}

fn summary(alerts: &[ReorderAlert]) -> Vec<(ReorderAlertStatus, i64, i64, i64)> {
    alerts.iter().map(|alert| (alert.status, alert.projected, alert.suggested_quantity, alert.changed_at)).collect()
}

#[test]
fn a_policy_on_an_untouched_position_opens_an_alert_at_projected_zero() {
    let alerts = alert_changes(vec![(Err(Some(policy(10))), 5)]);
    assert_eq!(summary(&alerts), vec![(ReorderAlertStatus::Opened, 0, 100, 5)]);
    assert_eq!(alerts[0].alert_id, alert_id(&PositionKey::new("acme", "berlin", "SKU-1"), 5));
}

#[test]
fn one_alert_per_crossing_updated_while_open_and_resolved_above_the_reorder_point() {
    let alerts = alert_changes(vec![
        (Ok(inventory_event("e-1", 40)), 1),
        (Err(Some(policy(10))), 2),
        (Ok(InventoryEvent { kind: InventoryKind::Damaged, ..inventory_event("e-2", 35) }), 3),
        (Ok(InventoryEvent { kind: InventoryKind::Damaged, ..inventory_event("e-3", 3) }), 4),
        (Ok(inventory_event("e-4", 30)), 5),
        (Ok(InventoryEvent { kind: InventoryKind::Damaged, ..inventory_event("e-5", 30) }), 6),
    ]);
    assert_eq!(
        summary(&alerts),
        vec![
            (ReorderAlertStatus::Opened, 5, 95, 3),
            (ReorderAlertStatus::Updated, 2, 98, 4),
            (ReorderAlertStatus::Resolved, 32, 68, 5),
            (ReorderAlertStatus::Opened, 2, 98, 6),
        ]
    );
    assert_eq!(alerts[0].alert_id, alerts[1].alert_id);
    assert_eq!(alerts[0].alert_id, alerts[2].alert_id);
    assert_ne!(alerts[0].alert_id, alerts[3].alert_id, "a new crossing is a new alert");
}

#[test]
fn deleting_the_policy_resolves_the_alert_and_a_dip_within_one_time_raises_nothing() {
    let alerts = alert_changes(vec![
        (Err(Some(policy(10))), 1),
        (Err(None), 2),
        (Ok(inventory_event("e-1", 40)), 3),
        (Err(Some(policy(10))), 3),
        (Ok(InventoryEvent { kind: InventoryKind::Damaged, ..inventory_event("e-2", 35) }), 4),
        (Ok(inventory_event("e-3", 35)), 4),
    ]);
    assert_eq!(
        summary(&alerts),
        vec![(ReorderAlertStatus::Opened, 0, 100, 1), (ReorderAlertStatus::Resolved, 0, 100, 2)]
    );
}
