//! The memory the pipeline's live state costs per key: the whole dataflow
//! (`flowmart_operators::dataflow::build`, one timely worker, the default retention: nothing
//! expires while it runs) fed one kind of key at a time, the process's RSS read before and after
//! each phase. Records are made as they are fed and dropped once inside the dataflow, and the
//! outputs are only probed (nothing downstream keeps them), so what the process keeps is the
//! operators' state.
//!
//! The phases, in order, each on top of the previous one's state:
//!
//! 1. `positions` (`POSITIONS`, default 200,000): per live stock position, one inventory event
//!    (goods received) and one reorder policy; positions are spread over six tenants of uneven
//!    size (40/25/15/10/6/4%), three warehouses each, ids named like the generator's
//!    (`acme-wholesale`, `rotterdam`, `SKU-00042`, `evt-3-1234`). The stock is far above the
//!    reorder point, so no alert opens. Includes the event id the inventory dedupe remembers.
//! 2. `event ids`: as many inventory events again (`IDS`, default 500,000) on positions that
//!    already exist — the levels change in place, so what grows is the dedupe's remembered ids.
//!    Subtracted from phases 1 and 6 to state each key's own cost.
//! 3. `orders` (`ORDERS`, default 500,000): one placed order version each, 1–3 lines at existing
//!    positions (`SO-{partition}-{sequence}`, `buyer-NNN`), far within the order retention.
//! 4. `order versions`: a second version of every order (confirmed, same lines): the state must
//!    not grow — an order keeps its current version only.
//! 5. `alerts` (`ALERTS`, default 100,000): a policy update raising the reorder point above the
//!    stock at that many positions, each opening one reorder alert.
//! 6. `settlements` (`SETTLEMENTS`, default 200,000): one captured payment per settlement row —
//!    60 tenants × 3 currencies × ~1,100 UTC days. Includes the payment dedupe's remembered id.
//!
//! Records go in 4,096 per pipeline time (the runtime's poll batch), one millisecond apart.
//!
//! `cargo bench -p flowmart-benches --bench state_memory` prints one line per phase, e.g.
//! `positions     200000 keys: RSS +92.1 MiB, 482.9 bytes per key (453.0 without its event id)`.

use std::time::Instant;

use flowmart_benches::memory::{rss, skewed_tenant};
use flowmart_operators::dataflow::{self, InputSessions};
use flowmart_operators::recovery::stored_collections;
use flowmart_operators::{SourceOffset, Time};
use flowmart_schemas::{
    Id, InputRecord, InventoryEvent, InventoryKind, OrderEvent, OrderLine, OrderStatus, Outputs, PaymentEvent,
    PaymentKind, PolicyUpdate, PositionKey, ReorderPolicy, Retention,
};
use timely::dataflow::ProbeHandle;
use timely::worker::Worker;

/// Records fed per pipeline time (the runtime's default poll batch).
const BATCH: usize = 4096;
/// The generator's tenant names, in order.
const TENANTS: [&str; 6] =
    ["acme-wholesale", "globex-distribution", "initech-supply", "umbrella-retail", "stark-industrial", "wayne-foods"];
const WAREHOUSES: [&str; 3] = ["rotterdam", "berlin", "lyon"];
const CURRENCIES: [&str; 3] = ["EUR", "USD", "GBP"];
/// Tenants of the settlement phase (the generator's names beyond its eight are `tenant-NNN`).
const SETTLEMENT_TENANTS: u64 = 60;
/// Partitions per topic, as the generator's default: tenant `i` lives on partition `i mod 8`.
const PARTITIONS: u64 = 8;
/// The first pipeline time fed, and the first day's `occurred_at`.
const START: Time = 1_764_000_000_000;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// Stock received per position: far above any reorder point or order of this benchmark.
const RECEIVED: i64 = 1_000_000;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|text| text.parse().ok()).unwrap_or(default)
}

/// The live positions: each tenant's are numbered from 0, three warehouses per SKU.
struct Catalog {
    /// Per tenant, how many positions it has.
    positions: [u64; 6],
}

impl Catalog {
    fn new(positions: u64) -> Catalog {
        let mut counts = [0; 6];
        for index in 0..positions {
            counts[skewed_tenant(index)] += 1;
        }
        Catalog { positions: counts }
    }

    /// Position `slot` of `tenant`.
    fn position(&self, tenant: usize, slot: u64) -> PositionKey {
        let warehouse = WAREHOUSES[(slot % WAREHOUSES.len() as u64) as usize];
        let sku = format!("SKU-{:05}", slot / WAREHOUSES.len() as u64);
        PositionKey::new(Id::from(TENANTS[tenant]), Id::from(warehouse), Id::from(sku))
    }

    /// A position of `tenant` picked by `seed` (a fixed scramble, so every run is the same).
    fn pick(&self, tenant: usize, seed: u64) -> PositionKey {
        self.position(tenant, seed.wrapping_mul(2_654_435_761) % self.positions[tenant])
    }
}

/// Source offsets per partition, as the generator numbers them.
#[derive(Default)]
struct Offsets([u64; PARTITIONS as usize]);

impl Offsets {
    /// The next offset of `tenant`'s partition, and the partition.
    fn next(&mut self, tenant: u64) -> (u32, u64) {
        let partition = tenant % PARTITIONS;
        let offset = &mut self.0[partition as usize];
        *offset += 1;
        (partition as u32, *offset)
    }
}

fn inventory(offsets: &mut Offsets, tenant: usize, position: PositionKey, quantity: i64, time: Time) -> Fed {
    let (partition, offset) = offsets.next(tenant as u64);
    let event = InventoryEvent {
        event_id: Id::from(format!("evt-{partition}-{offset}")),
        tenant_id: position.tenant_id,
        warehouse_id: position.warehouse_id,
        sku: position.sku,
        kind: InventoryKind::Received,
        quantity,
        occurred_at: time as i64,
        purchase_order_id: None,
    };
    (SourceOffset { partition, offset }, InputRecord::Inventory(event))
}

fn policy(offsets: &mut Offsets, tenant: usize, position: PositionKey, reorder_point: i64) -> Fed {
    let (partition, offset) = offsets.next(tenant as u64);
    let policy = ReorderPolicy {
        tenant_id: position.tenant_id.clone(),
        warehouse_id: position.warehouse_id.clone(),
        sku: position.sku.clone(),
        reorder_point,
        reorder_quantity: 50,
        max_level: Some(reorder_point + 200),
        order_multiple: Some(12),
        lead_time_days: Some(7),
    };
    (SourceOffset { partition, offset }, InputRecord::Policy(PolicyUpdate { position, policy: Some(policy) }))
}

/// Order `index` at `version`: 1–3 lines at its tenant's positions.
fn order(catalog: &Catalog, offsets: &mut Offsets, index: u64, version: i32, time: Time) -> Fed {
    let tenant = skewed_tenant(index);
    let (partition, offset) = offsets.next(tenant as u64);
    let lines = (0..1 + index % 3)
        .map(|line| {
            let position = catalog.pick(tenant, index * 3 + line);
            OrderLine {
                sku: position.sku,
                warehouse_id: position.warehouse_id,
                quantity: 1 + (index % 11) as i64,
                unit_price_minor: 150 + (index % 24_850) as i64,
            }
        })
        .collect();
    let event = OrderEvent {
        event_id: Id::from(format!("evt-{partition}-{offset}")),
        tenant_id: Id::from(TENANTS[tenant]),
        // Named after the partition it was placed on and its number there, like the generator's.
        order_id: Id::from(format!("SO-{}-{}", tenant as u64 % PARTITIONS, index)),
        buyer_id: Id::from(format!("buyer-{:03}", index % 250)),
        version,
        status: if version == 1 { OrderStatus::Placed } else { OrderStatus::Confirmed },
        lines,
        currency: Id::from("EUR"),
        occurred_at: time as i64,
    };
    (SourceOffset { partition, offset }, InputRecord::Order(event))
}

/// The payment that makes settlement row `index`: (tenant, currency, day) all distinct.
fn payment(offsets: &mut Offsets, index: u64) -> Fed {
    let tenant = index % SETTLEMENT_TENANTS;
    let currency = CURRENCIES[(index / SETTLEMENT_TENANTS % 3) as usize];
    let day = (index / SETTLEMENT_TENANTS / 3) as i64;
    let (partition, offset) = offsets.next(tenant);
    let tenant_id = match TENANTS.get(tenant as usize) {
        Some(name) => Id::from(*name),
        None => Id::from(format!("tenant-{tenant:03}")),
    };
    let event = PaymentEvent {
        event_id: Id::from(format!("evt-{partition}-{offset}")),
        tenant_id,
        payment_id: Id::from(format!("pay-{partition}-{offset}")),
        buyer_id: Id::from(format!("buyer-{:03}", index % 250)),
        order_id: Some(Id::from(format!("SO-{partition}-{offset}"))),
        kind: PaymentKind::Captured,
        amount_minor: 1_000 + (index % 100_000) as i64,
        currency: Id::from(currency),
        occurred_at: START as i64 - day * DAY_MS,
    };
    (SourceOffset { partition, offset }, InputRecord::Payment(event))
}

type Fed = (SourceOffset, InputRecord);

/// The dataflow on one worker, fed a batch per pipeline time.
struct Pipeline<'w> {
    worker: &'w mut Worker,
    inputs: InputSessions,
    probe: ProbeHandle<Time>,
    time: Time,
    alert_changes: std::rc::Rc<std::cell::Cell<u64>>,
}

impl Pipeline<'_> {
    /// Feeds `records`, made as they are taken, [`BATCH`] per pipeline time, until every output
    /// is complete.
    fn feed(&mut self, records: impl Iterator<Item = Fed>) {
        let mut records = records.peekable();
        while records.peek().is_some() {
            self.time += 1;
            self.inputs.advance_to(self.time);
            for (offset, record) in records.by_ref().take(BATCH) {
                self.inputs.insert(offset, record);
            }
            self.inputs.flush();
            self.worker.step();
        }
        self.time += 1;
        self.inputs.advance_to(self.time);
        self.inputs.flush();
        while self.probe.less_than(&self.time) {
            self.worker.step();
        }
    }

    /// Feeds `records` and reports the RSS that `keys` more keys of `what` cost.
    fn measure(&mut self, what: &str, keys: u64, records: impl Iterator<Item = Fed>) -> f64 {
        let before = rss();
        let started = Instant::now();
        self.feed(records);
        let after = rss();
        let per_key = (after as f64 - before as f64) / keys as f64;
        println!(
            "{what:<15} {keys:>7} keys: RSS {:.1} MiB -> {:.1} MiB ({:+.1} MiB), {per_key:.1} bytes per key; {:.1} s",
            before as f64 / 1048576.0,
            after as f64 / 1048576.0,
            (after as f64 - before as f64) / 1048576.0,
            started.elapsed().as_secs_f64(),
        );
        per_key
    }
}

fn main() {
    let positions = setting("POSITIONS", 200_000);
    let ids = setting("IDS", 500_000);
    let orders = setting("ORDERS", 500_000);
    let alerts = setting("ALERTS", 100_000).min(positions);
    let settlements = setting("SETTLEMENTS", 200_000);
    timely::execute_directly(move |worker| {
        let probe = ProbeHandle::new();
        let alert_changes = std::rc::Rc::new(std::cell::Cell::new(0));
        let counter = std::rc::Rc::clone(&alert_changes);
        let inputs = worker.dataflow::<Time, _, _>(|scope| {
            let (sessions, collections) = InputSessions::new(scope);
            let nothing_recovered = stored_collections(scope, &Outputs::default(), 0, 0, 1);
            let outputs = dataflow::build(collections, nothing_recovered, Retention::default());
            outputs.stock.probe_with(&probe);
            outputs.settlements.probe_with(&probe);
            outputs.orders.probe_with(&probe);
            outputs.policies.probe_with(&probe);
            outputs.inventory_ids.probe_with(&probe);
            outputs.payment_ids.probe_with(&probe);
            outputs.refused.probe_with(&probe);
            outputs.alerts.inspect(move |_| counter.set(counter.get() + 1)).probe_with(&probe);
            sessions
        });
        let mut pipeline = Pipeline { worker, inputs, probe, time: START, alert_changes };
        let catalog = Catalog::new(positions);
        let mut offsets = Offsets::default();
        let tenants_positions = |catalog: &Catalog| {
            let counts = catalog.positions;
            (0..6).flat_map(move |tenant| (0..counts[tenant]).map(move |slot| (tenant, slot)))
        };
        // Warm-up: the dataflow's buffers and the allocator's arenas, so the first phase does not
        // pay for them (100 positions of a tenant of their own, never touched again).
        let warm_up = Catalog { positions: [100, 0, 0, 0, 0, 0] };
        let mut warm_offsets = Offsets([1 << 40; PARTITIONS as usize]);
        pipeline.feed((0..warm_up.positions[0]).flat_map(|slot| {
            let mut position = warm_up.position(0, slot);
            position.tenant_id = Id::from("warm-up");
            let time = START;
            [
                inventory(&mut warm_offsets, 0, position.clone(), RECEIVED, time),
                policy(&mut warm_offsets, 0, position, 10),
            ]
        }));
        let time = pipeline.time;

        let position_bytes = pipeline.measure(
            "positions",
            positions,
            tenants_positions(&catalog).flat_map(|(tenant, slot)| {
                let position = catalog.position(tenant, slot);
                [
                    inventory(&mut offsets, tenant, position.clone(), RECEIVED, time),
                    policy(&mut offsets, tenant, position, 10),
                ]
            }),
        );
        let id_bytes = pipeline.measure(
            "event ids",
            ids,
            (0..ids).map(|index| {
                let tenant = skewed_tenant(index);
                inventory(&mut offsets, tenant, catalog.pick(tenant, index), 1, time)
            }),
        );
        let order_bytes =
            pipeline.measure("orders", orders, (0..orders).map(|index| order(&catalog, &mut offsets, index, 1, time)));
        let version_bytes = pipeline.measure(
            "order versions",
            orders,
            (0..orders).map(|index| order(&catalog, &mut offsets, index, 2, time)),
        );
        let changes_before = pipeline.alert_changes.get();
        // Every `positions / alerts`th position in the catalogue's order gets a reorder point
        // above its stock.
        let stride = (positions / alerts.max(1)).max(1);
        let alert_bytes = pipeline.measure(
            "alerts",
            alerts,
            tenants_positions(&catalog)
                .step_by(stride as usize)
                .take(alerts as usize)
                .map(|(tenant, slot)| policy(&mut offsets, tenant, catalog.position(tenant, slot), 10 * RECEIVED)),
        );
        let opened = pipeline.alert_changes.get() - changes_before;
        // Otherwise the figure would not be what it says.
        assert_eq!(opened, alerts, "every raised reorder point opens one alert");
        let settlement_bytes =
            pipeline.measure("settlements", settlements, (0..settlements).map(|index| payment(&mut offsets, index)));

        println!();
        println!("per live position (inventory record + policy): {:.1} bytes", position_bytes - id_bytes);
        println!("per remembered event id:                       {id_bytes:.1} bytes");
        println!("per order within retention (1-3 lines):       {order_bytes:.1} bytes");
        println!("per later version of an order already kept:   {version_bytes:.1} bytes");
        println!(
            "per open reorder alert:                        {alert_bytes:.1} bytes ({opened} alert changes for {alerts} positions)"
        );
        println!("per settlement row:                            {:.1} bytes", settlement_bytes - id_bytes);
    });
}
