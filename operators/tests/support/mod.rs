//! Runs the FlowMart dataflow over a fixed set of records and captures its outputs, and generates
//! random record streams for the property tests.

#![allow(dead_code)] // each test binary uses part of the support module

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use flowmart_operators::dataflow::{self, Collections, InputSessions};
use flowmart_operators::recovery::stored_collections;
use flowmart_operators::reference::{ReadAt, ReferenceModel, Refusal};
use flowmart_operators::{Diff, SourceOffset, Time};
use flowmart_schemas::{
    ForEachOutput, InputRecord, InventoryEvent, InventoryKind, MAX_ABS_VALUE, OrderEvent, OrderLine, OrderStatus,
    Output, Outputs, PaymentEvent, PaymentKind, PolicyUpdate, PositionKey, RefusedRecord, ReorderAlert, ReorderPolicy,
    Retention, SettlementHistoryRow, SettlementKey, SettlementTotals, StockHistoryRow, StoredState, Updates,
};
use proptest::prelude::*;
use proptest::sample::select;

/// A record as a source delivers it: the pipeline time it is ingested at and where it was read.
#[derive(Clone, Debug)]
pub struct Arrival {
    pub time: Time,
    pub offset: SourceOffset,
    pub record: InputRecord,
}

/// Everything the dataflow produced, as (data, time, diff) updates.
pub type Captured = Outputs<Updates>;

/// What a sink stored: the operators' state, complete up to `as_of` (0: nothing stored).
#[derive(Clone, Debug, Default)]
pub struct Stored {
    pub as_of: Time,
    pub state: Outputs<StoredState>,
}

/// Runs the dataflow on `workers` threads. Worker `w` ingests the records of partitions
/// `p ≡ w (mod workers)`, in the order given (so callers control the arrival order), advancing
/// its inputs as times go by.
pub fn run_dataflow(workers: usize, arrivals: &[Arrival]) -> Captured {
    run_dataflow_from(workers, Retention::default(), &Stored::default(), arrivals)
}

/// As [`run_dataflow`], with `retention`, starting from `stored` state (the arrivals must come at
/// or after `stored.as_of`).
pub fn run_dataflow_from(workers: usize, retention: Retention, stored: &Stored, arrivals: &[Arrival]) -> Captured {
    let captured = Arc::new(Mutex::new(Captured::default()));
    let arrivals = Arc::new(arrivals.to_vec());
    let stored = Arc::new(stored.clone());
    let sink = Arc::clone(&captured);
    timely::execute(timely::Config::process(workers), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let sink = Arc::clone(&sink);
        let mut inputs = worker.dataflow::<Time, _, _>(|scope| {
            let (sessions, collections) = InputSessions::new(scope);
            let recovered = stored_collections(scope, &stored.state, stored.as_of, index, peers);
            let outputs = dataflow::build(collections, recovered, retention);
            flowmart_schemas::for_each_output(&mut Inspect { outputs: &outputs, sink: &sink });
            sessions
        });
        inputs.advance_to(stored.as_of);
        let mine = arrivals.iter().filter(|arrival| arrival.offset.partition as usize % peers == index);
        for arrival in mine {
            if inputs.time() < arrival.time {
                inputs.advance_to(arrival.time);
            }
            inputs.insert(arrival.offset, arrival.record.clone());
        }
    })
    .expect("timely runs");
    Arc::into_inner(captured).expect("workers are done").into_inner().unwrap()
}

/// Copies every update of every output into `sink`.
struct Inspect<'a, 'scope> {
    outputs: &'a Outputs<Collections<'scope>>,
    sink: &'a Arc<Mutex<Captured>>,
}

impl ForEachOutput for Inspect<'_, '_> {
    fn each<O: Output>(&mut self) {
        let sink = Arc::clone(self.sink);
        O::of(self.outputs).clone().inspect(move |update| O::of_mut(&mut *sink.lock().unwrap()).push(update.clone()));
    }
}

/// What the reference model made of a stream: its final state, every alert change, and every
/// record it refused for an aggregate out of range (as the dataflow reports them).
pub struct ModelRun {
    pub model: ReferenceModel,
    pub alerts: Vec<ReorderAlert>,
    pub refused: Vec<(RefusedRecord, Time)>,
}

/// Folds the arrivals into the reference model in the order the pipeline reads them (time, then
/// partition, offset and topic), ending each time.
pub fn run_model(arrivals: &[Arrival]) -> ModelRun {
    let mut ordered = arrivals.to_vec();
    ordered.sort_by_key(|arrival| (arrival.time, arrival.offset, arrival.record.topic()));
    let mut model = ReferenceModel::new();
    let (mut alerts, mut refused) = (Vec::new(), Vec::new());
    let mut times = ordered.iter().map(|arrival| arrival.time).collect::<Vec<_>>();
    times.dedup();
    let mut records = ordered.into_iter().peekable();
    for time in times {
        while let Some(arrival) = records.next_if(|arrival| arrival.time == time) {
            let topic = arrival.record.topic();
            let read = ReadAt { partition: arrival.offset.partition, offset: arrival.offset.offset, time };
            match model.apply_read(arrival.record, read) {
                Ok(()) => {}
                Err(Refusal::OutOfRange(error)) => {
                    let SourceOffset { partition, offset } = arrival.offset;
                    refused.push((RefusedRecord { topic, partition, offset, error }, time));
                }
                Err(Refusal::Invalid(invalid)) => panic!("generated records are valid: {invalid}"),
            }
        }
        alerts.extend(model.end_time(time));
    }
    ModelRun { model, alerts, refused }
}

/// Runs the dataflow on `workers` workers and the model over `arrivals`, and checks that every
/// output is the same: stock, settlements, the alert log, and which records were refused (at
/// which time, naming which aggregate of which key). Returns the refused records, in order.
pub fn dataflow_equals_model(
    workers: usize,
    arrivals: &[Arrival],
) -> Result<Vec<(RefusedRecord, Time)>, TestCaseError> {
    let captured = run_dataflow(workers, arrivals);
    let ModelRun { model, alerts: model_alerts, refused: mut model_refused } = run_model(arrivals);

    let stock = accumulate(&captured.stock);
    prop_assert!(stock.iter().all(|(_, diff)| *diff == 1), "one current value per position: {stock:?}");
    let stock = stock.into_iter().map(|(position_levels, _)| position_levels).collect::<Vec<_>>();
    prop_assert_eq!(stock, model.stock().into_iter().collect::<Vec<_>>());

    let settlements = accumulate(&captured.settlements);
    prop_assert!(settlements.iter().all(|(_, diff)| *diff == 1));
    let settlements = settlements.into_iter().map(|(key_totals, _)| key_totals).collect::<Vec<_>>();
    prop_assert_eq!(settlements, model.settlements().into_iter().collect::<Vec<_>>());

    prop_assert!(captured.alerts.iter().all(|(alert, time, diff)| *diff == 1 && alert.changed_at == *time as i64));
    let alerts = alert_log(captured.alerts.into_iter().map(|(alert, _, _)| alert).collect());
    prop_assert_eq!(alerts, alert_log(model_alerts));

    prop_assert!(captured.refused.iter().all(|(_, _, diff)| *diff == 1));
    let mut refused = captured.refused.into_iter().map(|(refused, time, _)| (refused, time)).collect::<Vec<_>>();
    let read_order =
        |(refused, time): &(RefusedRecord, Time)| (*time, refused.partition, refused.offset, refused.topic);
    refused.sort_by_key(read_order);
    model_refused.sort_by_key(read_order);
    prop_assert_eq!(&refused, &model_refused);

    lineage_equals_model(&captured.stock_history, &captured.settlement_history, &model)?;
    Ok(refused)
}

/// Checks the dataflow's lineage against the model's — the same rows, each once — and that the
/// lineage adds up: per position its deltas sum to the model's levels (zero for a position no
/// current record touches), per settlement row each kind's amounts to that kind's total.
pub fn lineage_equals_model(
    stock_history: &[(StockHistoryRow, Time, Diff)],
    settlement_history: &[(SettlementHistoryRow, Time, Diff)],
    model: &ReferenceModel,
) -> Result<(), TestCaseError> {
    prop_assert!(stock_history.iter().all(|(row, time, diff)| *diff == 1 && row.applied_at == *time));
    prop_assert!(settlement_history.iter().all(|(row, time, diff)| *diff == 1 && row.applied_at == *time));
    let mut stock_rows = stock_history.iter().map(|(row, _, _)| row.clone()).collect::<Vec<_>>();
    let mut model_stock_rows = model.stock_history().to_vec();
    stock_rows.sort();
    model_stock_rows.sort();
    prop_assert_eq!(&stock_rows, &model_stock_rows);
    let mut settlement_rows = settlement_history.iter().map(|(row, _, _)| row.clone()).collect::<Vec<_>>();
    let mut model_settlement_rows = model.settlement_history().to_vec();
    settlement_rows.sort();
    model_settlement_rows.sort();
    prop_assert_eq!(&settlement_rows, &model_settlement_rows);

    let mut sums = BTreeMap::<PositionKey, [i128; 3]>::new();
    for row in &stock_rows {
        let sum = sums.entry(row.position.clone()).or_default();
        sum[0] += row.on_hand_delta;
        sum[1] += row.reserved_delta;
        sum[2] += row.on_order_delta;
    }
    let stock = model.stock();
    for (position, sum) in &sums {
        let levels = stock.get(position).copied().unwrap_or_default();
        let expected = [levels.on_hand, levels.reserved, levels.on_order].map(i128::from);
        prop_assert_eq!(*sum, expected, "the history of {:?} sums to its levels", position);
    }
    prop_assert!(stock.keys().all(|position| sums.contains_key(position)), "every position has a history");

    let mut totals = BTreeMap::<SettlementKey, SettlementTotals>::new();
    for row in &settlement_rows {
        let total = totals.entry(row.settlement.clone()).or_default();
        let sum = match row.kind {
            PaymentKind::Authorized => &mut total.authorized,
            PaymentKind::Captured => &mut total.captured,
            PaymentKind::Refunded => &mut total.refunded,
            PaymentKind::Chargeback => &mut total.chargebacks,
            PaymentKind::Fee => &mut total.fees,
            PaymentKind::Payout => &mut total.payouts,
        };
        *sum += row.amount_minor;
        total.payments += 1;
    }
    prop_assert_eq!(totals, model.settlements(), "each settlement row's history sums to its totals");
    Ok(())
}

/// Sums updates into the collection they describe, keeping records with non-zero count.
pub fn accumulate<D: Ord + Clone>(updates: &[(D, Time, Diff)]) -> Vec<(D, Diff)> {
    let mut collection = updates.iter().map(|(data, _, diff)| (data.clone(), *diff)).collect::<Vec<_>>();
    differential_dataflow::consolidation::consolidate(&mut collection);
    collection
}

/// Alert changes in a canonical order: by time, then position.
pub fn alert_log(mut alerts: Vec<ReorderAlert>) -> Vec<ReorderAlert> {
    alerts.sort_by(|a, b| {
        (a.changed_at, &a.tenant_id, &a.warehouse_id, &a.sku).cmp(&(
            b.changed_at,
            &b.tenant_id,
            &b.warehouse_id,
            &b.sku,
        ))
    });
    alerts
}

// ---- Random record streams ----------------------------------------------------------------

const TENANTS: [&str; 2] = ["acme", "globex"];
const WAREHOUSES: [&str; 2] = ["berlin", "lyon"];
const SKUS: [&str; 3] = ["SKU-1", "SKU-2", "SKU-3"];
const CURRENCIES: [&str; 2] = ["EUR", "USD"];
const DAY_MS: i64 = 86_400_000;

fn inventory_kind() -> impl Strategy<Value = InventoryKind> {
    select(InventoryKind::ALL.to_vec())
}

fn inventory(id: usize) -> impl Strategy<Value = InputRecord> {
    (
        select(&TENANTS[..]),
        select(&WAREHOUSES[..]),
        select(&SKUS[..]),
        inventory_kind(),
        1..40i64,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(move |(tenant, warehouse, sku, kind, quantity, negative, with_po)| {
            let quantity = if kind == InventoryKind::Adjusted && negative { -quantity } else { quantity };
            InputRecord::Inventory(InventoryEvent {
                event_id: format!("inv-{id}").into(),
                tenant_id: tenant.into(),
                warehouse_id: warehouse.into(),
                sku: sku.into(),
                kind,
                quantity,
                occurred_at: 1_764_000_000_000 + id as i64,
                purchase_order_id: with_po.then(|| format!("po-{id}").into()),
            })
        })
}

fn order(id: usize) -> impl Strategy<Value = InputRecord> {
    let status = select(OrderStatus::ALL.to_vec());
    let line = (select(&WAREHOUSES[..]), select(&SKUS[..]), 1..20i64).prop_map(|(warehouse, sku, quantity)| {
        OrderLine { sku: sku.into(), warehouse_id: warehouse.into(), quantity, unit_price_minor: 250 }
    });
    (select(&TENANTS[..]), 0..4usize, 1..5i32, status, prop::collection::vec(line, 1..3)).prop_map(
        move |(tenant, order, version, status, lines)| {
            InputRecord::Order(OrderEvent {
                event_id: format!("ord-{id}").into(),
                tenant_id: tenant.into(),
                order_id: format!("o-{order}").into(),
                buyer_id: "buyer".into(),
                version,
                status,
                lines,
                currency: "EUR".into(),
                occurred_at: 1_764_000_000_000 + id as i64,
            })
        },
    )
}

fn payment(id: usize) -> impl Strategy<Value = InputRecord> {
    let kind = payment_kind();
    (select(&TENANTS[..]), kind, 1..10_000i64, select(&CURRENCIES[..]), 0..3i64).prop_map(
        move |(tenant, kind, amount_minor, currency, day)| {
            InputRecord::Payment(PaymentEvent {
                event_id: format!("pay-{id}").into(),
                tenant_id: tenant.into(),
                payment_id: format!("p-{id}").into(),
                buyer_id: "buyer".into(),
                order_id: None,
                kind,
                amount_minor,
                currency: currency.into(),
                occurred_at: 1_764_000_000_000 + day * DAY_MS - 5,
            })
        },
    )
}

fn policy() -> impl Strategy<Value = InputRecord> {
    let rules = (0..30i64, 1..40i64, prop::option::of(20..120i64), prop::option::of(1..12i64));
    (select(&TENANTS[..]), select(&WAREHOUSES[..]), select(&SKUS[..]), prop::option::weighted(0.8, rules)).prop_map(
        |(tenant, warehouse, sku, rules)| {
            let position = PositionKey::new(tenant, warehouse, sku);
            let policy = rules.map(|(reorder_point, reorder_quantity, max_level, order_multiple)| ReorderPolicy {
                tenant_id: tenant.into(),
                warehouse_id: warehouse.into(),
                sku: sku.into(),
                reorder_point,
                reorder_quantity,
                max_level,
                order_multiple,
                lead_time_days: Some(3),
            });
            InputRecord::Policy(PolicyUpdate { position, policy })
        },
    )
}

fn record(id: usize) -> impl Strategy<Value = InputRecord> {
    prop_oneof![4 => inventory(id), 3 => order(id), 2 => payment(id), 2 => policy()]
}

/// A random stream: records of every topic over a few tenants, warehouses and skus (so they
/// collide), some sent twice (producer retries), orders with random versions (so some arrive
/// late), policy deletes; each given a pipeline time in 1..=8 and a partition, then shuffled
/// within each partition and time (the arrival order).
pub fn arrivals(max_records: usize, partitions: u32) -> impl Strategy<Value = Vec<Arrival>> {
    (1..max_records)
        .prop_flat_map(|count| (0..count).map(record).collect::<Vec<_>>())
        .prop_flat_map(move |records| {
            let count = records.len();
            let retries = prop::collection::vec((0..count, 1..8u64), 0..=count / 4);
            (Just(records), prop::collection::vec(1..=8u64, count), retries, 0..partitions, any::<u64>())
        })
        .prop_map(move |(records, times, retries, tenant_salt, shuffle_seed)| {
            let mut sent = records.iter().cloned().zip(times).collect::<Vec<_>>();
            for (original, delay) in retries {
                let (record, time) = sent[original].clone();
                sent.push((record, time + delay));
            }
            assemble(sent, partitions, tenant_salt, shuffle_seed)
        })
}

/// Gives records sent at pipeline times their source positions — a tenant's records share a
/// partition, as Kafka keys them by tenant_id; offsets count per partition in the order sent —
/// then shuffles them within each time (the arrival order).
fn assemble(mut sent: Vec<(InputRecord, Time)>, partitions: u32, tenant_salt: u32, shuffle_seed: u64) -> Vec<Arrival> {
    let partition_of = |record: &InputRecord| {
        let tenant = record.tenant_id();
        (TENANTS.iter().position(|name| name == tenant).unwrap_or(0) as u32 + tenant_salt) % partitions
    };
    let mut arrivals: Vec<Arrival> = Vec::new();
    let mut next_offset = vec![0u64; partitions as usize];
    sent.sort_by_key(|(_, time)| *time);
    for (record, time) in sent {
        let partition = partition_of(&record);
        let offset = SourceOffset { partition, offset: next_offset[partition as usize] };
        next_offset[partition as usize] += 1;
        arrivals.push(Arrival { time, offset, record });
    }
    shuffle_within_time(&mut arrivals, shuffle_seed);
    arrivals
}

/// Reorders records that share a pipeline time: the order a worker hands them to the dataflow
/// within one time must not matter.
fn shuffle_within_time(arrivals: &mut [Arrival], seed: u64) {
    let mut state = seed | 1;
    for group in arrivals.chunk_by_mut(|a, b| a.time == b.time) {
        for i in (1..group.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            group.swap(i, (state % (i as u64 + 1)) as usize);
        }
    }
}

// ---- Extreme record streams: aggregates driven to the edge of the signed 64-bit range ----------

/// What a ramp drives towards the edge of the range, one record of 10^15 at a time.
#[derive(Clone, Copy, Debug)]
enum Ramp {
    /// `on_hand` up, by ADJUSTED events.
    OnHandUp,
    /// `on_hand` down, by DAMAGED events.
    OnHandDown,
    /// `on_order` up, by PURCHASE_ORDERED events.
    OnOrderUp,
    /// A settlement sum up, by payments of this kind.
    Settlement(PaymentKind),
    /// The suggested quantity of a policy with this `max_level` up, by DAMAGED events.
    SuggestedQuantity(i64),
}

impl Ramp {
    /// How far the aggregate can move from zero before it leaves the range.
    fn distance(self) -> i128 {
        match self {
            Ramp::OnHandDown => -i128::from(i64::MIN),
            // max_level - projected <= i64::MAX.
            Ramp::SuggestedQuantity(max_level) => i128::from(i64::MAX) - i128::from(max_level),
            _ => i128::from(i64::MAX),
        }
    }

    /// The most records of 10^15 the aggregate holds.
    fn full_steps(self) -> usize {
        (self.distance() / i128::from(MAX_ABS_VALUE)) as usize
    }
}

/// The most records of 10^15 a sum holds: 9,223 × 10^15 ≤ i64::MAX < 9,224 × 10^15.
const FULL_STEPS: usize = 9_223;

/// What is left of the range after `steps` × 10^15: `i64::MAX - steps × 10^15`.
fn headroom(steps: usize) -> i64 {
    i64::MAX - steps as i64 * MAX_ABS_VALUE
}

fn extreme_value() -> impl Strategy<Value = i64> {
    prop_oneof![
        1..=3i64,
        (MAX_ABS_VALUE - 2)..=MAX_ABS_VALUE,
        1..=MAX_ABS_VALUE,
        Just(headroom(FULL_STEPS)),
        Just(headroom(FULL_STEPS) + 1),
    ]
}

fn extreme_inventory(id: usize) -> impl Strategy<Value = InputRecord> {
    (select(&SKUS[..2]), inventory_kind(), extreme_value(), any::<bool>(), any::<bool>()).prop_map(
        move |(sku, kind, quantity, negative, with_po)| {
            let quantity = if kind == InventoryKind::Adjusted && negative { -quantity } else { quantity };
            inventory_record(format!("x-inv-{id}"), sku, kind, quantity, with_po.then(|| format!("po-{id}")))
        },
    )
}

fn inventory_record(
    event_id: String,
    sku: &str,
    kind: InventoryKind,
    quantity: i64,
    purchase_order_id: Option<String>,
) -> InputRecord {
    InputRecord::Inventory(InventoryEvent {
        event_id: event_id.into(),
        tenant_id: TENANTS[0].into(),
        warehouse_id: WAREHOUSES[0].into(),
        sku: sku.into(),
        kind,
        quantity,
        occurred_at: 1_764_000_000_000,
        purchase_order_id: purchase_order_id.map(Into::into),
    })
}

fn order_status() -> impl Strategy<Value = OrderStatus> {
    select(OrderStatus::ALL.to_vec())
}

fn order_record(id: String, order: String, version: i32, status: OrderStatus, lines: Vec<OrderLine>) -> InputRecord {
    InputRecord::Order(OrderEvent {
        event_id: id.into(),
        tenant_id: TENANTS[0].into(),
        order_id: order.into(),
        buyer_id: "buyer".into(),
        version,
        status,
        lines,
        currency: "EUR".into(),
        occurred_at: 1_764_000_000_000,
    })
}

fn order_line(sku: &str, quantity: i64) -> OrderLine {
    OrderLine { sku: sku.into(), warehouse_id: WAREHOUSES[0].into(), quantity, unit_price_minor: 1 }
}

/// An order of a few lines of extreme quantities at the ramp's positions.
fn extreme_order(id: usize) -> impl Strategy<Value = InputRecord> {
    let line = (select(&SKUS[..2]), extreme_value()).prop_map(|(sku, quantity)| order_line(sku, quantity));
    (0..2usize, 1..4i32, order_status(), prop::collection::vec(line, 1..4)).prop_map(
        move |(order, version, status, lines)| {
            order_record(format!("x-ord-{id}"), format!("o-{order}"), version, status, lines)
        },
    )
}

/// An order whose lines alone sum to about `steps` × 10^15 — then to `i64::MAX` exactly, one past
/// it (too much to reserve), or two past it (too much to ship: `-(i64::MAX + 1)` is `i64::MIN`)
/// — at one position or spread over two: one record that carries a whole ramp.
fn big_order(id: usize) -> impl Strategy<Value = InputRecord> {
    let steps = prop_oneof![2 => Just(FULL_STEPS), 1 => 4_000..FULL_STEPS];
    (steps, 0..4i64, prop::bool::weighted(0.3), 0..2usize, 1..4i32, order_status()).prop_map(
        move |(steps, edge, two_positions, order, version, status)| {
            let sku = |line: usize| if two_positions && line % 2 == 1 { SKUS[1] } else { SKUS[0] };
            let mut lines = (0..steps).map(|line| order_line(sku(line), MAX_ABS_VALUE)).collect::<Vec<_>>();
            if edge >= 1 && !two_positions && steps == FULL_STEPS {
                lines.push(order_line(SKUS[0], headroom(FULL_STEPS)));
            }
            if edge >= 2 {
                lines.push(order_line(SKUS[0], edge - 1));
            }
            order_record(format!("x-big-{id}"), format!("o-big-{order}"), version, status, lines)
        },
    )
}

fn extreme_payment(id: usize) -> impl Strategy<Value = InputRecord> {
    (payment_kind(), extreme_value())
        .prop_map(move |(kind, amount_minor)| payment_record(format!("x-pay-{id}"), kind, amount_minor))
}

fn payment_kind() -> impl Strategy<Value = PaymentKind> {
    select(PaymentKind::ALL.to_vec())
}

fn payment_record(event_id: String, kind: PaymentKind, amount_minor: i64) -> InputRecord {
    InputRecord::Payment(PaymentEvent {
        event_id: event_id.clone().into(),
        tenant_id: TENANTS[0].into(),
        payment_id: event_id.into(),
        buyer_id: "buyer".into(),
        order_id: None,
        kind,
        amount_minor,
        currency: CURRENCIES[0].into(),
        occurred_at: 1_764_000_000_000,
    })
}

/// A policy at a ramp position whose suggested quantity is about to leave the range when
/// projected stock is near either end of it.
fn extreme_policy() -> impl Strategy<Value = InputRecord> {
    let level = prop_oneof![Just(-MAX_ABS_VALUE), Just(0), Just(MAX_ABS_VALUE), -MAX_ABS_VALUE..=MAX_ABS_VALUE];
    let multiple = prop::option::of(prop_oneof![Just(1), Just(7), Just(MAX_ABS_VALUE), 1..=MAX_ABS_VALUE]);
    let rules = (0..=MAX_ABS_VALUE, prop_oneof![Just(1), Just(MAX_ABS_VALUE)], prop::option::of(level), multiple);
    (select(&SKUS[..2]), prop::option::weighted(0.85, rules)).prop_map(|(sku, rules)| {
        let position = PositionKey::new(TENANTS[0], WAREHOUSES[0], sku);
        let policy = rules.map(|(reorder_point, reorder_quantity, max_level, order_multiple)| ReorderPolicy {
            tenant_id: TENANTS[0].into(),
            warehouse_id: WAREHOUSES[0].into(),
            sku: sku.into(),
            reorder_point,
            reorder_quantity,
            max_level,
            order_multiple,
            lead_time_days: None,
        });
        InputRecord::Policy(PolicyUpdate { position, policy })
    })
}

fn extreme_record(id: usize) -> impl Strategy<Value = InputRecord> {
    prop_oneof![
        4 => extreme_inventory(id),
        3 => extreme_order(id),
        2 => big_order(id),
        3 => extreme_payment(id),
        2 => extreme_policy(),
        // Ordinary records, of another tenant too: the rest of the pipeline goes on.
        2 => record(id),
    ]
}

/// The records of a ramp: `steps` records of 10^15 towards one end of the range, then one that
/// reaches it exactly (when that is a valid value) and one that would pass it by exactly one.
/// A suggested-quantity ramp starts with its policy.
fn ramp_records(ramp: Ramp, steps: usize) -> Vec<InputRecord> {
    let exact = ramp.distance() - steps as i128 * i128::from(MAX_ABS_VALUE);
    let record = |id: String, quantity: i64| match ramp {
        Ramp::OnHandUp => inventory_record(id, SKUS[0], InventoryKind::Adjusted, quantity, None),
        Ramp::OnHandDown | Ramp::SuggestedQuantity(_) => {
            inventory_record(id, SKUS[0], InventoryKind::Damaged, quantity, None)
        }
        Ramp::OnOrderUp => inventory_record(id, SKUS[0], InventoryKind::PurchaseOrdered, quantity, None),
        Ramp::Settlement(kind) => payment_record(id, kind, quantity),
    };
    let mut records = Vec::with_capacity(steps + 3);
    if let Ramp::SuggestedQuantity(max_level) = ramp {
        let policy = ReorderPolicy {
            tenant_id: TENANTS[0].into(),
            warehouse_id: WAREHOUSES[0].into(),
            sku: SKUS[0].into(),
            reorder_point: 0,
            reorder_quantity: 1,
            max_level: Some(max_level),
            order_multiple: None,
            lead_time_days: None,
        };
        let position = PositionKey::new(TENANTS[0], WAREHOUSES[0], SKUS[0]);
        records.push(InputRecord::Policy(PolicyUpdate { position, policy: Some(policy) }));
    }
    records.extend((0..steps).map(|step| record(format!("ramp-{step}"), MAX_ABS_VALUE)));
    if (1..=i128::from(MAX_ABS_VALUE)).contains(&exact) {
        records.push(record("ramp-exact".into(), exact as i64));
    }
    records.push(record("ramp-one-past".into(), 1));
    records
}

fn ramp() -> impl Strategy<Value = Ramp> {
    prop_oneof![
        1 => Just(Ramp::OnHandUp),
        1 => Just(Ramp::OnHandDown),
        1 => Just(Ramp::OnOrderUp),
        3 => payment_kind().prop_map(Ramp::Settlement),
        1 => prop_oneof![Just(MAX_ABS_VALUE), Just(0), 0..=MAX_ABS_VALUE].prop_map(Ramp::SuggestedQuantity),
    ]
}

/// A random stream that drives aggregates to the edge of the signed 64-bit range: a few records
/// at time 1, then a ramp of (about) 9,223 records of 10^15 (the largest valid value) on one
/// position or settlement at times 1–2, then at time 3 a record that takes it to the end of the
/// range exactly and one that would pass it by exactly one; then, at times 4–9, up to
/// `max_records` records of extreme values (1, 10^15, the exact headroom and one more) piling
/// onto the same positions and settlement — big orders whose own lines sum past the range,
/// policies whose suggested quantity leaves it, retries — mixed with ordinary records of other
/// tenants.
pub fn extreme_arrivals(max_records: usize, partitions: u32) -> impl Strategy<Value = Vec<Arrival>> {
    // Mostly the full ramp, whose exact edge is a valid value.
    let ramp = (ramp(), prop_oneof![3 => Just(0), 1 => 1..4usize], 0..=FULL_STEPS)
        .prop_map(|(ramp, short, split)| (ramp, ramp.full_steps() - short, split));
    (ramp, 0..4usize, 1..max_records)
        .prop_flat_map(|(ramp, prelude, count)| {
            let records = (0..prelude + count).map(extreme_record).collect::<Vec<_>>();
            (Just(ramp), Just(prelude), records)
        })
        .prop_flat_map(move |(ramp, prelude, records)| {
            let count = records.len() - prelude;
            let retries = prop::collection::vec((0..count, 1..3u64), 0..=count / 4);
            let times = prop::collection::vec(4..=9u64, count);
            (Just(ramp), Just(prelude), Just(records), times, retries, 0..partitions, any::<u64>())
        })
        .prop_map(move |((ramp, steps, split), prelude, mut records, times, retries, tenant_salt, shuffle_seed)| {
            let random = records.split_off(prelude);
            let mut sent = records.into_iter().map(|record| (record, 1)).collect::<Vec<_>>();
            let ramp = ramp_records(ramp, steps);
            let edges_from = ramp.len() - ramp.iter().rev().take_while(|record| is_edge(record)).count();
            sent.extend(ramp.into_iter().enumerate().map(|(at, record)| {
                let time = if at >= edges_from {
                    3
                } else if at < split {
                    1
                } else {
                    2
                };
                (record, time)
            }));
            let mut random = random.into_iter().zip(times).collect::<Vec<_>>();
            for (original, delay) in retries {
                let (record, time) = random[original].clone();
                random.push((record, time + delay));
            }
            sent.extend(random);
            assemble(sent, partitions, tenant_salt, shuffle_seed)
        })
}

/// Whether a ramp record is one of its edges (sent at time 3).
fn is_edge(record: &InputRecord) -> bool {
    let event_id = match record {
        InputRecord::Inventory(event) => &event.event_id,
        InputRecord::Payment(event) => &event.event_id,
        _ => return false,
    };
    event_id == "ramp-exact" || event_id == "ramp-one-past"
}
