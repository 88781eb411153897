//! The reference model: the contract's rules (`CONTRACT.md` §2–§3) as a plain-Rust fold over
//! records in the order the pipeline reads them, written apart from the operators so that tests
//! can compare the dataflow with it, and benchmarks can measure the dataflow against it.
//!
//! Event ids are unique per topic (each producing service owns its ids). It keeps everything
//! forever (no retention) and evaluates alerts when told a pipeline time has
//! ended, exactly as the dataflow sees changes per time.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use flowmart_schemas::{
    Currency, Id, InputRecord, InvalidRecord, InventoryKind, OrderEvent, OrderStatus, PaymentKind, PositionKey,
    ReorderAlert, ReorderAlertStatus, ReorderCheck, ReorderPolicy, SettlementDate, SettlementKey, SettlementTotals,
    StockLevels, Validate,
};

use crate::Time;
use crate::reorder_alerts::alert_id;

/// The contract's state, folded record by record.
#[derive(Default)]
pub struct ReferenceModel {
    inventory_event_ids: HashSet<Id>,
    payment_event_ids: HashSet<Id>,
    orders: HashMap<(Id, Id), OrderEvent>,
    stock: HashMap<PositionKey, StockLevels>,
    policies: HashMap<PositionKey, ReorderPolicy>,
    settlements: HashMap<SettlementKey, SettlementTotals>,
    open_alerts: BTreeMap<PositionKey, (Id, ReorderCheck)>,
    changed_since_last_time: BTreeSet<PositionKey>,
}

impl ReferenceModel {
    /// An empty model.
    pub fn new() -> Self {
        ReferenceModel::default()
    }

    /// Applies one record, or refuses it (changing nothing) if it breaks a contract rule.
    /// Records must come in the order the pipeline reads them: by pipeline time, and within a
    /// time by source offset.
    pub fn apply(&mut self, record: InputRecord) -> Result<(), InvalidRecord> {
        record.validate()?;
        match record {
            InputRecord::Inventory(event) => {
                if self.inventory_event_ids.insert(event.event_id.clone()) {
                    let position =
                        PositionKey::new(event.tenant_id.clone(), event.warehouse_id.clone(), event.sku.clone());
                    let q = event.quantity;
                    let (on_hand, on_order) = match event.kind {
                        InventoryKind::Received => (q, if event.purchase_order_id.is_some() { -q } else { 0 }),
                        InventoryKind::TransferredIn => (q, 0),
                        InventoryKind::TransferredOut => (-q, 0),
                        InventoryKind::Damaged => (-q, 0),
                        InventoryKind::Adjusted => (q, 0),
                        InventoryKind::PurchaseOrdered => (0, q),
                        InventoryKind::PurchaseCancelled => (0, -q),
                    };
                    self.add_stock(position, on_hand, 0, on_order, 1);
                }
            }
            InputRecord::Order(order) => {
                let key = (order.tenant_id.clone(), order.order_id.clone());
                let supersedes = self.orders.get(&key).is_none_or(|current| order.version > current.version);
                if supersedes {
                    if let Some(previous) = self.orders.insert(key, order.clone()) {
                        self.add_order_lines(&previous, -1);
                    }
                    self.add_order_lines(&order, 1);
                }
            }
            InputRecord::Payment(payment) => {
                if self.payment_event_ids.insert(payment.event_id.clone()) {
                    let currency = Currency::parse(&payment.currency).expect("the model takes valid records only");
                    let key = SettlementKey {
                        tenant_id: payment.tenant_id.clone(),
                        currency,
                        settlement_date: SettlementDate(payment.occurred_at.div_euclid(86_400_000) as i32),
                    };
                    let totals = self.settlements.entry(key).or_default();
                    let amount = payment.amount_minor;
                    match payment.kind {
                        PaymentKind::Authorized => totals.authorized += amount,
                        PaymentKind::Captured => totals.captured += amount,
                        PaymentKind::Refunded => totals.refunded += amount,
                        PaymentKind::Chargeback => totals.chargebacks += amount,
                        PaymentKind::Fee => totals.fees += amount,
                        PaymentKind::Payout => totals.payouts += amount,
                    }
                    totals.payments += 1;
                }
            }
            InputRecord::Policy(update) => {
                match update.policy {
                    Some(policy) => self.policies.insert(update.position.clone(), policy),
                    None => self.policies.remove(&update.position),
                };
                self.changed_since_last_time.insert(update.position);
            }
        }
        Ok(())
    }

    fn add_order_lines(&mut self, order: &OrderEvent, sign: i64) {
        for line in &order.lines {
            let position = PositionKey::new(order.tenant_id.clone(), line.warehouse_id.clone(), line.sku.clone());
            let q = line.quantity * sign;
            match order.status {
                OrderStatus::Placed | OrderStatus::Confirmed => self.add_stock(position, 0, q, 0, sign),
                OrderStatus::Shipped | OrderStatus::Delivered => self.add_stock(position, -q, 0, 0, sign),
                OrderStatus::Cancelled | OrderStatus::Returned => self.add_stock(position, 0, 0, 0, sign),
            }
        }
    }

    fn add_stock(&mut self, position: PositionKey, on_hand: i64, reserved: i64, on_order: i64, records: i64) {
        let levels = self.stock.entry(position.clone()).or_default();
        levels.on_hand += on_hand;
        levels.reserved += reserved;
        levels.on_order += on_order;
        levels.records += records;
        if levels.records == 0 {
            self.stock.remove(&position);
        }
        self.changed_since_last_time.insert(position);
    }

    /// Ends pipeline time `time`: measures every position changed since the last call against
    /// its policy and returns the alert changes, in position order.
    pub fn end_time(&mut self, time: Time) -> Vec<ReorderAlert> {
        let mut changes = Vec::new();
        for position in std::mem::take(&mut self.changed_since_last_time) {
            let check = self.policies.get(&position).map(|policy| {
                let projected =
                    self.stock.get(&position).map_or(0, |levels| levels.on_hand - levels.reserved + levels.on_order);
                ReorderCheck {
                    projected,
                    reorder_point: policy.reorder_point,
                    suggested_quantity: policy.suggested_quantity(projected),
                }
            });
            let needs_reorder = check.filter(|check| check.projected <= check.reorder_point);
            let status = match (self.open_alerts.get(&position), needs_reorder) {
                (None, Some(check)) => {
                    self.open_alerts.insert(position.clone(), (alert_id(&position, time), check));
                    Some((ReorderAlertStatus::Opened, check))
                }
                (Some((_, last)), Some(check)) if *last != check => {
                    self.open_alerts.get_mut(&position).expect("open").1 = check;
                    Some((ReorderAlertStatus::Updated, check))
                }
                (Some((_, last)), None) => {
                    let check = check.unwrap_or(*last);
                    Some((ReorderAlertStatus::Resolved, check))
                }
                _ => None,
            };
            if let Some((status, check)) = status {
                let alert_id = match status {
                    ReorderAlertStatus::Resolved => self.open_alerts.remove(&position).expect("open").0,
                    _ => self.open_alerts[&position].0.clone(),
                };
                changes.push(ReorderAlert {
                    alert_id,
                    tenant_id: position.tenant_id.clone(),
                    warehouse_id: position.warehouse_id.clone(),
                    sku: position.sku.clone(),
                    status,
                    projected: check.projected,
                    reorder_point: check.reorder_point,
                    suggested_quantity: check.suggested_quantity,
                    changed_at: time as i64,
                });
            }
        }
        changes
    }

    /// Stock levels of every position some current record touches.
    pub fn stock(&self) -> BTreeMap<PositionKey, StockLevels> {
        self.stock.iter().map(|(position, levels)| (position.clone(), *levels)).collect()
    }

    /// Settlement totals of every (tenant, currency, date) with a payment.
    pub fn settlements(&self) -> BTreeMap<SettlementKey, SettlementTotals> {
        self.settlements.iter().map(|(key, totals)| (key.clone(), *totals)).collect()
    }

    /// The open alerts as of the last [`end_time`](Self::end_time): id and check per position.
    pub fn open_alerts(&self) -> &BTreeMap<PositionKey, (Id, ReorderCheck)> {
        &self.open_alerts
    }
}
