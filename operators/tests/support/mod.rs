//! Runs the FlowMart dataflow over a fixed set of records and captures its outputs, and generates
//! random record streams for the property tests.

#![allow(dead_code)] // each test binary uses part of the support module

use std::sync::{Arc, Mutex};

use flowmart_operators::dataflow::{self, Collections, InputSessions};
use flowmart_operators::recovery::stored_collections;
use flowmart_operators::reference::ReferenceModel;
use flowmart_operators::{Diff, SourceOffset, Time};
use flowmart_schemas::{
    ForEachOutput, InputRecord, InventoryEvent, InventoryKind, OrderEvent, OrderLine, OrderStatus, Output, Outputs,
    PaymentEvent, PaymentKind, PolicyUpdate, PositionKey, ReorderAlert, ReorderPolicy, Retention, StoredState, Updates,
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

/// Folds the arrivals into the reference model in the order the pipeline reads them (time, then
/// offset), ending each time; returns the model and every alert change it made.
pub fn run_model(arrivals: &[Arrival]) -> (ReferenceModel, Vec<ReorderAlert>) {
    let mut ordered = arrivals.to_vec();
    ordered.sort_by_key(|arrival| (arrival.time, arrival.offset));
    let mut model = ReferenceModel::new();
    let mut alerts = Vec::new();
    let mut times = ordered.iter().map(|arrival| arrival.time).collect::<Vec<_>>();
    times.dedup();
    let mut records = ordered.into_iter().peekable();
    for time in times {
        while let Some(arrival) = records.next_if(|arrival| arrival.time == time) {
            model.apply(arrival.record).expect("generated records are valid");
        }
        alerts.extend(model.end_time(time));
    }
    (model, alerts)
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
    select(vec![
        InventoryKind::Received,
        InventoryKind::TransferredIn,
        InventoryKind::TransferredOut,
        InventoryKind::Damaged,
        InventoryKind::Adjusted,
        InventoryKind::PurchaseOrdered,
        InventoryKind::PurchaseCancelled,
    ])
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
    let status = select(vec![
        OrderStatus::Placed,
        OrderStatus::Confirmed,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Returned,
    ]);
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
    let kind = select(vec![
        PaymentKind::Authorized,
        PaymentKind::Captured,
        PaymentKind::Refunded,
        PaymentKind::Chargeback,
        PaymentKind::Fee,
        PaymentKind::Payout,
    ]);
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
            // A tenant's records share a partition, as Kafka keys them by tenant_id.
            let partition_of = |record: &InputRecord| {
                let tenant = match record {
                    InputRecord::Inventory(event) => &event.tenant_id,
                    InputRecord::Order(event) => &event.tenant_id,
                    InputRecord::Payment(event) => &event.tenant_id,
                    InputRecord::Policy(update) => &update.position.tenant_id,
                };
                (TENANTS.iter().position(|name| name == tenant).unwrap_or(0) as u32 + tenant_salt) % partitions
            };
            let mut arrivals: Vec<Arrival> = Vec::new();
            let mut next_offset = vec![0u64; partitions as usize];
            let mut sent = records.iter().cloned().zip(times).collect::<Vec<_>>();
            for (original, delay) in retries {
                let (record, time) = sent[original].clone();
                sent.push((record, time + delay));
            }
            sent.sort_by_key(|(_, time)| *time);
            for (record, time) in sent {
                let partition = partition_of(&record);
                let offset = SourceOffset { partition, offset: next_offset[partition as usize] };
                next_offset[partition as usize] += 1;
                arrivals.push(Arrival { time, offset, record });
            }
            shuffle_within_time(&mut arrivals, shuffle_seed);
            arrivals
        })
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
