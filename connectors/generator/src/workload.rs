//! One partition's deterministic stream of marketplace records.

use std::collections::VecDeque;

use flowmart_schemas::{
    Id, InputRecord, InventoryEvent, InventoryKind, OrderEvent, OrderLine, OrderStatus, PaymentEvent, PaymentKind,
    PolicyUpdate, PositionKey, ReorderPolicy,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{GeneratorConfig, catalog};
use flowmart_runtime::{InputTopic, SourceRecord};

/// How many records of its partition a position stays low before procurement orders more: alerts
/// stay open a while, as they do while a buyer reacts.
const PROCUREMENT_DELAY: u64 = 1_500;

/// How many sales orders a tenant works on at once: with that many open, it advances one of them
/// instead of taking a new one. Orders are placed more often (30% of steps, and more) than they
/// can be finished (35% of steps advance one, ~4 advances each), so without this bound the open
/// orders — each kept with its previous version — grew with every record produced (~0.19 per
/// record, ~110 bytes per record in a demo at 50K records/s), and the demo's memory with them.
const MAX_OPEN_ORDERS: usize = 1_000;

/// A sales order the tenant is still working on.
struct OpenOrder {
    order: OrderEvent,
    /// The version before the current one, for re-sending late.
    previous: Option<OrderEvent>,
}

/// A supplier purchase order not yet received.
struct PurchaseOrder {
    id: Id,
    warehouse: u32,
    sku: u32,
    quantity: i64,
}

/// One tenant's simulated business.
struct Tenant {
    id: Id,
    currency: Id,
    /// The generator's own estimate of projected stock per (warehouse, sku), to decide when to
    /// buy from suppliers (the pipeline computes the real one).
    projected: Vec<i64>,
    /// Reorder policy per (warehouse, sku), if any.
    policies: Vec<Option<ReorderPolicy>>,
    /// Whether a purchase order is open per (warehouse, sku).
    purchasing: Vec<bool>,
    /// Since which record (sequence) projected has been at or below the reorder threshold.
    low_since: Vec<Option<u64>>,
    /// At most [`MAX_OPEN_ORDERS`].
    open_orders: Vec<OpenOrder>,
    purchase_orders: VecDeque<PurchaseOrder>,
    captured_since_payout: i64,
    /// How much more often than others this tenant trades.
    weight: u32,
}

/// The records of one partition: its tenants' businesses, simulated step by step from a seed.
pub struct PartitionWorkload {
    config: GeneratorConfig,
    partition: u32,
    rng: ChaCha8Rng,
    tenants: Vec<Tenant>,
    /// Records decided but not yet handed out, in order.
    queue: VecDeque<(InputTopic, Id, InputRecord)>,
    /// The last valid record handed out, for producer retries.
    last: Option<(InputTopic, Id, InputRecord)>,
    next_offset: [u64; 4],
    sequence: u64,
    remaining: Option<u64>,
    bootstrapped: bool,
}

impl PartitionWorkload {
    /// The workload of `partition` under `config`.
    pub fn new(config: &GeneratorConfig, partition: u32) -> Self {
        let seed = config.seed ^ (u64::from(partition) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let positions = (config.warehouses_per_tenant * config.skus_per_tenant) as usize;
        let tenants = (0..config.tenants)
            .filter(|index| index % config.partitions.max(1) == partition)
            .map(|index| Tenant {
                id: catalog::tenant(index),
                currency: catalog::currency(index),
                projected: vec![0; positions],
                policies: vec![None; positions],
                purchasing: vec![false; positions],
                low_since: vec![None; positions],
                open_orders: Vec::new(),
                purchase_orders: VecDeque::new(),
                captured_since_payout: 0,
                // The first tenant is the marketplace's big one.
                weight: if index == 0 { 4 } else { 1 },
            })
            .collect();
        PartitionWorkload {
            config: config.clone(),
            partition,
            rng: ChaCha8Rng::seed_from_u64(seed),
            tenants,
            queue: VecDeque::new(),
            last: None,
            next_offset: [0; 4],
            sequence: 0,
            remaining: config.records_of_partition(partition),
            bootstrapped: false,
        }
    }

    /// The number of partitions of the workload's topics.
    pub fn partitions(&self) -> u32 {
        self.config.partitions
    }

    /// The next record, or `None` when the partition has produced all it should (or has no
    /// tenants).
    #[allow(clippy::should_implement_trait)] // a cursor over generated records, not a general iterator
    pub fn next(&mut self) -> Option<SourceRecord> {
        if self.tenants.is_empty() || self.remaining == Some(0) {
            return None;
        }
        if !self.bootstrapped {
            self.bootstrap();
            self.bootstrapped = true;
        }
        while self.queue.is_empty() {
            self.step();
        }
        let (topic, key, record) = self.queue.pop_front()?;
        self.remaining = self.remaining.map(|remaining| remaining - 1);
        let slot = topic as usize;
        let offset = self.next_offset[slot];
        self.next_offset[slot] += 1;
        Some(SourceRecord {
            topic,
            partition: self.partition,
            offset,
            key: Some(key.as_bytes().to_vec()),
            raw_value: None,
            decoded: Ok(record),
        })
    }

    /// `occurred_at` of the next record: the simulated clock follows the configured rate.
    fn now(&self) -> i64 {
        let per_partition_rate =
            self.config.records_per_second.unwrap_or(10_000) as f64 / f64::from(self.config.partitions.max(1));
        self.config.start_ms + (self.sequence as f64 * 1000.0 / per_partition_rate.max(1.0)) as i64
    }

    fn event_id(&mut self) -> Id {
        self.sequence += 1;
        Id::from(format!("evt-{}-{}", self.partition, self.sequence))
    }

    fn push(&mut self, topic: InputTopic, key: Id, record: InputRecord) {
        self.last = Some((topic, key.clone(), record.clone()));
        self.queue.push_back((topic, key, record));
    }

    fn position(&self, tenant: usize, slot: usize) -> PositionKey {
        let skus = self.config.skus_per_tenant as usize;
        PositionKey::new(
            self.tenants[tenant].id.clone(),
            catalog::warehouse((slot / skus) as u32),
            catalog::sku((slot % skus) as u32),
        )
    }

    /// Opening stock and policies for every tenant of the partition.
    fn bootstrap(&mut self) {
        for tenant in 0..self.tenants.len() {
            for slot in 0..self.tenants[tenant].projected.len() {
                let quantity = self.rng.random_range(20..200);
                self.inventory(tenant, slot, InventoryKind::Received, quantity, None);
                if self.rng.random_bool(0.4) {
                    let policy = self.random_policy(tenant, slot);
                    self.set_policy(tenant, slot, Some(policy));
                }
            }
        }
    }

    fn random_policy(&mut self, tenant: usize, slot: usize) -> ReorderPolicy {
        let position = self.position(tenant, slot);
        let reorder_point = self.rng.random_range(10..60);
        ReorderPolicy {
            tenant_id: position.tenant_id,
            warehouse_id: position.warehouse_id,
            sku: position.sku,
            reorder_point,
            reorder_quantity: self.rng.random_range(40..120),
            max_level: self.rng.random_bool(0.5).then(|| reorder_point + self.rng.random_range(100..300)),
            order_multiple: self.rng.random_bool(0.5).then(|| [6, 12, 24][self.rng.random_range(0..3)]),
            lead_time_days: Some(self.rng.random_range(1..15)),
        }
    }

    fn set_policy(&mut self, tenant: usize, slot: usize, policy: Option<ReorderPolicy>) {
        let position = self.position(tenant, slot);
        self.tenants[tenant].policies[slot] = policy.clone();
        self.change_projected(tenant, slot, 0);
        let key = Id::from(PolicyUpdate::key(&position));
        self.push(InputTopic::ReorderPolicies, key, InputRecord::Policy(PolicyUpdate { position, policy }));
    }

    fn inventory(
        &mut self,
        tenant: usize,
        slot: usize,
        kind: InventoryKind,
        quantity: i64,
        purchase_order_id: Option<Id>,
    ) {
        let position = self.position(tenant, slot);
        let event = InventoryEvent {
            event_id: self.event_id(),
            tenant_id: position.tenant_id.clone(),
            warehouse_id: position.warehouse_id,
            sku: position.sku,
            kind,
            quantity,
            occurred_at: self.now(),
            purchase_order_id,
        };
        self.change_projected(tenant, slot, StockEffect::projected(&event));
        self.push(InputTopic::Inventory, position.tenant_id, InputRecord::Inventory(event));
    }

    fn payment(&mut self, tenant: usize, kind: PaymentKind, amount_minor: i64, order_id: Option<Id>, buyer_id: Id) {
        let tenant_id = self.tenants[tenant].id.clone();
        let payment = PaymentEvent {
            event_id: self.event_id(),
            tenant_id: tenant_id.clone(),
            payment_id: Id::from(format!("pay-{}-{}", self.partition, self.sequence)),
            buyer_id,
            order_id,
            kind,
            amount_minor,
            currency: self.tenants[tenant].currency.clone(),
            occurred_at: self.now(),
        };
        self.push(InputTopic::Payments, tenant_id, InputRecord::Payment(payment));
    }

    fn change_projected(&mut self, tenant: usize, slot: usize, change: i64) {
        let sequence = self.sequence;
        let state = &mut self.tenants[tenant];
        state.projected[slot] += change;
        let threshold = state.policies[slot].as_ref().map_or(15, |policy| policy.reorder_point);
        state.low_since[slot] = match state.low_since[slot] {
            _ if state.projected[slot] > threshold => None,
            Some(since) => Some(since),
            None => Some(sequence),
        };
    }

    fn pick_tenant(&mut self) -> usize {
        let total: u32 = self.tenants.iter().map(|tenant| tenant.weight).sum();
        let mut pick = self.rng.random_range(0..total);
        for (index, tenant) in self.tenants.iter().enumerate() {
            if pick < tenant.weight {
                return index;
            }
            pick -= tenant.weight;
        }
        0
    }

    /// A position, skewed so that a few skus sell most (as in wholesale catalogues).
    fn pick_slot(&mut self, tenant: usize) -> usize {
        let positions = self.tenants[tenant].projected.len();
        let skewed = self.rng.random::<f64>().powi(3);
        ((skewed * positions as f64) as usize).min(positions - 1)
    }

    /// Decides what happens next and queues its records.
    fn step(&mut self) {
        let fault_ratio = self.config.fault_ratio;
        if self.last.is_some() && self.rng.random_bool(fault_ratio) {
            let (topic, key, record) = self.last.clone().expect("checked");
            self.queue.push_back((topic, key, record));
            return;
        }
        if self.rng.random_bool(fault_ratio) && self.resend_late_version() {
            return;
        }
        if self.rng.random_bool(fault_ratio) {
            self.rule_breaker();
            return;
        }
        let tenant = self.pick_tenant();
        match self.rng.random_range(0..100) {
            0..30 => self.place_order(tenant),
            30..65 => self.advance_order(tenant),
            65..80 => self.buy_from_supplier(tenant),
            80..88 => self.receive_purchase_order(tenant),
            88..95 => self.stock_movement(tenant),
            95..98 => self.change_policy(tenant),
            _ => self.settle(tenant),
        }
    }

    fn place_order(&mut self, tenant: usize) {
        if self.tenants[tenant].open_orders.len() >= MAX_OPEN_ORDERS {
            // Busy: work on an open order (one that is done makes room for this new one).
            return self.advance_order(tenant);
        }
        let lines = (0..self.rng.random_range(1..4))
            .map(|_| {
                let slot = self.pick_slot(tenant);
                let position = self.position(tenant, slot);
                OrderLine {
                    sku: position.sku,
                    warehouse_id: position.warehouse_id,
                    quantity: self.rng.random_range(1..12),
                    unit_price_minor: self.rng.random_range(150..25_000),
                }
            })
            .collect::<Vec<_>>();
        let event_id = self.event_id();
        let order = OrderEvent {
            event_id,
            tenant_id: self.tenants[tenant].id.clone(),
            order_id: Id::from(format!("SO-{}-{}", self.partition, self.sequence)),
            buyer_id: Id::from(format!("buyer-{:03}", self.rng.random_range(0..250))),
            version: 1,
            status: OrderStatus::Placed,
            lines,
            currency: self.tenants[tenant].currency.clone(),
            occurred_at: self.now(),
        };
        self.apply_order_effect(tenant, &order, 1);
        let total = order_total(&order);
        let (order_id, buyer_id) = (order.order_id.clone(), order.buyer_id.clone());
        self.push(InputTopic::Orders, order.tenant_id.clone(), InputRecord::Order(order.clone()));
        self.tenants[tenant].open_orders.push(OpenOrder { order, previous: None });
        self.payment(tenant, PaymentKind::Authorized, total, Some(order_id), buyer_id);
    }

    fn apply_order_effect(&mut self, tenant: usize, order: &OrderEvent, sign: i64) {
        let skus = self.config.skus_per_tenant as usize;
        for line in &order.lines {
            let warehouse = catalog_index(&line.warehouse_id, self.config.warehouses_per_tenant, catalog::warehouse);
            let sku = line.sku.trim_start_matches("SKU-").parse::<usize>().unwrap_or(0);
            let slot = warehouse * skus + sku;
            // Reserved and shipped both lower projected; cancelled and returned put it back.
            let effect = match order.status {
                OrderStatus::Cancelled | OrderStatus::Returned => 0,
                _ => -line.quantity,
            };
            self.change_projected(tenant, slot, sign * effect);
        }
    }

    fn advance_order(&mut self, tenant: usize) {
        if self.tenants[tenant].open_orders.is_empty() {
            return self.place_order(tenant);
        }
        let pick = self.rng.random_range(0..self.tenants[tenant].open_orders.len());
        let current = self.tenants[tenant].open_orders[pick].order.clone();
        let next_status = match current.status {
            OrderStatus::Placed if self.rng.random_bool(0.1) => OrderStatus::Cancelled,
            OrderStatus::Placed => OrderStatus::Confirmed,
            OrderStatus::Confirmed if self.rng.random_bool(0.05) => OrderStatus::Cancelled,
            OrderStatus::Confirmed => OrderStatus::Shipped,
            OrderStatus::Shipped => OrderStatus::Delivered,
            OrderStatus::Delivered if self.rng.random_bool(0.06) => OrderStatus::Returned,
            OrderStatus::Delivered | OrderStatus::Cancelled | OrderStatus::Returned => {
                self.tenants[tenant].open_orders.swap_remove(pick);
                return self.place_order(tenant);
            }
        };
        let next = OrderEvent {
            event_id: self.event_id(),
            version: current.version + 1,
            status: next_status,
            occurred_at: self.now(),
            ..current.clone()
        };
        self.apply_order_effect(tenant, &current, -1);
        self.apply_order_effect(tenant, &next, 1);
        self.push(InputTopic::Orders, next.tenant_id.clone(), InputRecord::Order(next.clone()));
        let total = order_total(&next);
        let (order_id, buyer_id) = (Some(next.order_id.clone()), next.buyer_id.clone());
        match next_status {
            OrderStatus::Shipped => {
                self.payment(tenant, PaymentKind::Captured, total, order_id.clone(), buyer_id.clone());
                self.payment(tenant, PaymentKind::Fee, (total * 29 / 1000).max(1), order_id, buyer_id);
                self.tenants[tenant].captured_since_payout += total;
            }
            OrderStatus::Returned => self.payment(tenant, PaymentKind::Refunded, total, order_id, buyer_id),
            _ => {}
        }
        self.tenants[tenant].open_orders[pick] = OpenOrder { order: next, previous: Some(current) };
    }

    /// Orders from suppliers for positions that have been at or below their reorder point (or
    /// nearly empty) for a while.
    fn buy_from_supplier(&mut self, tenant: usize) {
        let sequence = self.sequence;
        let state = &self.tenants[tenant];
        let candidates = (0..state.projected.len())
            .filter(|&slot| {
                !state.purchasing[slot]
                    && state.low_since[slot].is_some_and(|since| sequence - since >= PROCUREMENT_DELAY)
            })
            .take(8)
            .collect::<Vec<_>>();
        let Some(&slot) = candidates.get(self.rng.random_range(0..candidates.len().max(1))) else {
            return self.stock_movement(tenant);
        };
        let projected = self.tenants[tenant].projected[slot];
        let quantity =
            self.tenants[tenant].policies[slot].as_ref().map_or(100, |policy| policy.suggested_quantity(projected));
        let id = Id::from(format!("PO-{}-{}", self.partition, self.sequence + 1));
        self.inventory(tenant, slot, InventoryKind::PurchaseOrdered, quantity, None);
        let skus = self.config.skus_per_tenant;
        let (warehouse, sku) = (slot as u32 / skus, slot as u32 % skus);
        self.tenants[tenant].purchasing[slot] = true;
        self.tenants[tenant].purchase_orders.push_back(PurchaseOrder { id, warehouse, sku, quantity });
    }

    fn receive_purchase_order(&mut self, tenant: usize) {
        let Some(purchase_order) = self.tenants[tenant].purchase_orders.pop_front() else {
            return self.stock_movement(tenant);
        };
        let slot = (purchase_order.warehouse * self.config.skus_per_tenant + purchase_order.sku) as usize;
        self.tenants[tenant].purchasing[slot] = false;
        if self.rng.random_bool(0.05) {
            self.inventory(tenant, slot, InventoryKind::PurchaseCancelled, purchase_order.quantity, None);
        } else {
            self.inventory(tenant, slot, InventoryKind::Received, purchase_order.quantity, Some(purchase_order.id));
        }
    }

    fn stock_movement(&mut self, tenant: usize) {
        let slot = self.pick_slot(tenant);
        match self.rng.random_range(0..10) {
            0..4 => {
                let quantity = self.rng.random_range(1..20);
                let skus = self.config.skus_per_tenant as usize;
                let positions = self.tenants[tenant].projected.len();
                let destination = (slot + skus) % positions;
                self.inventory(tenant, slot, InventoryKind::TransferredOut, quantity, None);
                self.inventory(tenant, destination, InventoryKind::TransferredIn, quantity, None);
            }
            4..7 => {
                let quantity = self.rng.random_range(1..5);
                self.inventory(tenant, slot, InventoryKind::Damaged, quantity, None);
            }
            _ => {
                let quantity = [-3, -2, -1, 1, 2, 4][self.rng.random_range(0..6)];
                self.inventory(tenant, slot, InventoryKind::Adjusted, quantity, None);
            }
        }
    }

    fn change_policy(&mut self, tenant: usize) {
        let slot = self.pick_slot(tenant);
        let policy = match &self.tenants[tenant].policies[slot] {
            Some(_) if self.rng.random_bool(0.25) => None,
            _ => Some(self.random_policy(tenant, slot)),
        };
        self.set_policy(tenant, slot, policy);
    }

    fn settle(&mut self, tenant: usize) {
        let buyer = Id::from(format!("buyer-{:03}", self.rng.random_range(0..250)));
        if self.rng.random_bool(0.2) {
            let amount = self.rng.random_range(500..50_000);
            return self.payment(tenant, PaymentKind::Chargeback, amount, None, buyer);
        }
        let payout = std::mem::take(&mut self.tenants[tenant].captured_since_payout);
        if payout > 0 {
            let marketplace = Id::from("flowmart");
            self.payment(tenant, PaymentKind::Payout, payout, None, marketplace);
        } else {
            self.place_order(tenant);
        }
    }

    /// Sends an order's previous version again after its current one, as a slow producer would.
    fn resend_late_version(&mut self) -> bool {
        let tenant = self.pick_tenant();
        let Some(late) = self.tenants[tenant].open_orders.iter().rev().find_map(|open| open.previous.clone()) else {
            return false;
        };
        self.queue.push_back((InputTopic::Orders, late.tenant_id.clone(), InputRecord::Order(late)));
        true
    }

    /// A record that breaks a contract rule; the pipeline must set it aside.
    fn rule_breaker(&mut self) {
        let tenant = self.pick_tenant();
        let slot = self.pick_slot(tenant);
        let position = self.position(tenant, slot);
        let tenant_id = position.tenant_id.clone();
        let record = match self.rng.random_range(0..5) {
            0 => InputRecord::Inventory(InventoryEvent {
                event_id: self.event_id(),
                tenant_id: tenant_id.clone(),
                warehouse_id: position.warehouse_id,
                sku: position.sku,
                kind: InventoryKind::Damaged,
                quantity: -self.rng.random_range(1..10),
                occurred_at: self.now(),
                purchase_order_id: None,
            }),
            1 => InputRecord::Inventory(InventoryEvent {
                event_id: Id::default(),
                tenant_id: tenant_id.clone(),
                warehouse_id: position.warehouse_id,
                sku: position.sku,
                kind: InventoryKind::Received,
                quantity: 5,
                occurred_at: self.now(),
                purchase_order_id: None,
            }),
            2 => InputRecord::Payment(PaymentEvent {
                event_id: self.event_id(),
                tenant_id: tenant_id.clone(),
                payment_id: Id::from("pay-bad-currency"),
                buyer_id: Id::from("buyer-000"),
                order_id: None,
                kind: PaymentKind::Captured,
                amount_minor: 1000,
                currency: Id::from("euro"),
                occurred_at: self.now(),
            }),
            3 => InputRecord::Order(OrderEvent {
                event_id: self.event_id(),
                tenant_id: tenant_id.clone(),
                order_id: Id::from(format!("SO-empty-{}", self.sequence)),
                buyer_id: Id::from("buyer-000"),
                version: 1,
                status: OrderStatus::Placed,
                lines: Vec::new(),
                currency: self.tenants[tenant].currency.clone(),
                occurred_at: self.now(),
            }),
            _ => {
                let mut policy = self.random_policy(tenant, slot);
                policy.reorder_quantity = 0;
                let key = Id::from(PolicyUpdate::key(&position));
                let update = PolicyUpdate { position, policy: Some(policy) };
                self.queue.push_back((InputTopic::ReorderPolicies, key, InputRecord::Policy(update)));
                return;
            }
        };
        let topic = match record {
            InputRecord::Inventory(_) => InputTopic::Inventory,
            InputRecord::Payment(_) => InputTopic::Payments,
            _ => InputTopic::Orders,
        };
        self.queue.push_back((topic, tenant_id, record));
    }
}

/// The generator's own view of an inventory event's effect on projected stock.
struct StockEffect;

impl StockEffect {
    fn projected(event: &InventoryEvent) -> i64 {
        match event.kind {
            InventoryKind::Received if event.purchase_order_id.is_some() => 0,
            InventoryKind::Received | InventoryKind::TransferredIn | InventoryKind::Adjusted => event.quantity,
            InventoryKind::TransferredOut | InventoryKind::Damaged => -event.quantity,
            InventoryKind::PurchaseOrdered => event.quantity,
            InventoryKind::PurchaseCancelled => -event.quantity,
        }
    }
}

fn order_total(order: &OrderEvent) -> i64 {
    order.lines.iter().map(|line| line.quantity * line.unit_price_minor).sum::<i64>().max(1)
}

fn catalog_index(name: &str, count: u32, name_of: fn(u32) -> Id) -> usize {
    (0..count).find(|index| name_of(*index) == name).unwrap_or(0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowmart_schemas::Validate;

    fn records(config: &GeneratorConfig, partition: u32) -> Vec<SourceRecord> {
        let mut workload = PartitionWorkload::new(config, partition);
        std::iter::from_fn(|| workload.next()).collect()
    }

    fn config() -> GeneratorConfig {
        GeneratorConfig { max_records: Some(40_000), fault_ratio: 0.01, ..GeneratorConfig::default() }
    }

    #[test]
    fn the_same_seed_gives_the_same_records() {
        let first = records(&config(), 0);
        let again = records(&config(), 0);
        assert_eq!(first.len() as u64, config().records_of_partition(0).unwrap());
        let total: u64 =
            (0..config().partitions).filter_map(|partition| config().records_of_partition(partition)).sum();
        assert_eq!(total, 40_000, "max_records is produced in all");
        assert!(
            first.iter().zip(&again).all(|(a, b)| a.decoded == b.decoded && a.offset == b.offset && a.topic == b.topic)
        );
        let other_seed = records(&GeneratorConfig { seed: 7, ..config() }, 0);
        assert!(first.iter().zip(&other_seed).any(|(a, b)| a.decoded != b.decoded));
    }

    #[test]
    fn every_kind_of_record_and_fault_appears() {
        let records = (0..config().partitions).flat_map(|partition| records(&config(), partition)).collect::<Vec<_>>();
        let decoded = records.iter().map(|record| record.decoded.clone().expect("generated")).collect::<Vec<_>>();
        let inventory_kinds = decoded
            .iter()
            .filter_map(|record| if let InputRecord::Inventory(event) = record { Some(event.kind) } else { None })
            .collect::<std::collections::BTreeSet<_>>();
        assert_eq!(inventory_kinds.len(), 7, "{inventory_kinds:?}");
        let statuses = decoded
            .iter()
            .filter_map(|record| if let InputRecord::Order(order) = record { Some(order.status) } else { None })
            .collect::<std::collections::BTreeSet<_>>();
        assert_eq!(statuses.len(), 6, "{statuses:?}");
        let payment_kinds = decoded
            .iter()
            .filter_map(|record| if let InputRecord::Payment(payment) = record { Some(payment.kind) } else { None })
            .collect::<std::collections::BTreeSet<_>>();
        assert_eq!(payment_kinds.len(), 6, "{payment_kinds:?}");
        let policy_deletes = decoded
            .iter()
            .filter(|record| matches!(record, InputRecord::Policy(PolicyUpdate { policy: None, .. })))
            .count();
        assert!(policy_deletes > 0);
        let invalid = decoded
            .iter()
            .filter(|record| match record {
                InputRecord::Inventory(event) => event.validate().is_err(),
                InputRecord::Order(event) => event.validate().is_err(),
                InputRecord::Payment(event) => event.validate().is_err(),
                InputRecord::Policy(update) => update.policy.as_ref().is_some_and(|policy| policy.validate().is_err()),
            })
            .count();
        assert!(invalid > 50, "{invalid} invalid records");
        let mut ids = std::collections::HashMap::<Id, usize>::new();
        for record in &decoded {
            if let InputRecord::Inventory(event) = record {
                *ids.entry(event.event_id.clone()).or_default() += 1;
            }
        }
        assert!(ids.values().any(|count| *count > 1), "some inventory events are retried");
        let mut highest_version = std::collections::HashMap::<(Id, Id), i32>::new();
        let mut late_versions = 0;
        for record in &decoded {
            if let InputRecord::Order(order) = record {
                let highest = highest_version.entry((order.tenant_id.clone(), order.order_id.clone())).or_default();
                late_versions += usize::from(order.version < *highest);
                *highest = (*highest).max(order.version);
            }
        }
        assert!(late_versions > 0, "some order versions arrive after a newer one");
    }

    #[test]
    fn good_records_keep_every_value_range_and_rule_breakers_keep_their_kinds() {
        use std::collections::{BTreeMap, BTreeSet};
        // The kinds `rule_breaker` makes on purpose: nothing else the generator makes is refused,
        // so none of it is out of range (no `invalid_id`, `timestamp_out_of_range` or
        // `value_out_of_range`).
        let deliberate = BTreeSet::from([
            "empty_field",
            "invalid_currency",
            "no_order_lines",
            "non_positive_quantity",
            "non_positive_reorder_quantity",
        ]);
        let mut kinds = BTreeMap::<&str, usize>::new();
        for partition in 0..config().partitions {
            for record in records(&config(), partition) {
                if let Err(invalid) = record.decoded.expect("generated").validate() {
                    *kinds.entry(invalid.kind()).or_default() += 1;
                }
            }
        }
        assert_eq!(kinds.keys().copied().collect::<BTreeSet<_>>(), deliberate, "{kinds:?}");
    }

    #[test]
    fn a_tenant_stays_on_its_partition_and_offsets_count_per_topic() {
        let config = config();
        for partition in 0..config.partitions {
            let records = records(&config, partition);
            let mut next = [0u64; 4];
            for record in &records {
                assert_eq!(record.partition, partition);
                assert_eq!(record.offset, next[record.topic as usize]);
                next[record.topic as usize] += 1;
                let tenant = record.decoded.as_ref().unwrap().tenant_id().clone();
                let index = (0..config.tenants).find(|index| catalog::tenant(*index) == tenant).unwrap();
                assert_eq!(index % config.partitions, partition);
            }
        }
    }

    #[test]
    fn the_generators_own_state_is_bounded_by_live_orders_not_by_records_produced() {
        // The demo runs the generator in the pipeline's process for hours: what it keeps must stop
        // growing once its tenants' businesses are warm, or the process grows with history.
        let config = GeneratorConfig { max_records: None, fault_ratio: 0.005, ..GeneratorConfig::default() };
        let mut workload = PartitionWorkload::new(&config, 0);
        let open_orders = |workload: &PartitionWorkload| -> usize {
            workload.tenants.iter().map(|tenant| tenant.open_orders.len()).sum()
        };
        let mut after = Vec::new();
        for _ in 0..4 {
            for _ in 0..100_000 {
                workload.next().expect("unbounded");
            }
            after.push(open_orders(&workload));
        }
        eprintln!("open orders after each 100,000 records: {after:?}");
        assert!(after.iter().all(|&open| open <= MAX_OPEN_ORDERS * workload.tenants.len()), "{after:?}");
    }
}
