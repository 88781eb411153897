//! The reference model: the contract's rules (`CONTRACT.md` §2–§3) as a plain-Rust fold over
//! records in the order the pipeline reads them, written apart from the operators so that tests
//! can compare the dataflow with it, and benchmarks can measure the dataflow against it.
//!
//! Event ids are unique per topic (each producing service owns its ids). It keeps everything
//! forever (no retention) and evaluates alerts when told a pipeline time has
//! ended, exactly as the dataflow sees changes per time.
//!
//! "Nothing wraps" is restated here in 128-bit arithmetic, where no sum of 64-bit values can
//! overflow: every aggregate a record would change is computed exactly and the record is refused
//! (changing nothing) when one falls outside the signed 64-bit range — the first in the order
//! `flowmart_schemas`' `out_of_range` module documents. A refused record is still an event the
//! dedupe has seen: like any record, it is counted by event id, so a retry of it (the same event)
//! changes nothing. An order version refused leaves the current version current: a later record
//! with a higher version than that — a retry of the refused one included — is judged afresh.
//!
//! Lineage: every record applied through [`ReferenceModel::apply_read`] leaves one row per stock
//! position it changed (its effect, or for an order version its lines' effect net of the version
//! it replaced, at every position either is at) or one row for the settlement it counts in,
//! naming where and when it was read; a refused record, a repeat and a version that does not
//! supersede leave none.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use flowmart_schemas::{
    Aggregate, AggregateKey, AggregateOutOfRange, Currency, Id, InputRecord, InvalidRecord, InventoryKind, OrderEvent,
    OrderStatus, PaymentKind, PositionKey, RecordSource, ReorderAlert, ReorderAlertStatus, ReorderCheck, ReorderPolicy,
    SettlementDate, SettlementHistoryRow, SettlementKey, SettlementTotals, StockChangeKind, StockHistoryRow,
    StockLevels, Validate,
};

use crate::Time;
use crate::reorder_alerts::alert_id;

/// Why the model refused a record: what the pipeline dead-letters it for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// It breaks a rule of the contract.
    #[error(transparent)]
    Invalid(#[from] InvalidRecord),
    /// Its effect would take an aggregate outside the signed 64-bit range.
    #[error(transparent)]
    OutOfRange(#[from] AggregateOutOfRange),
}

impl Refusal {
    /// The DLQ's `error.kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::Invalid(invalid) => invalid.kind(),
            Refusal::OutOfRange(_) => AggregateOutOfRange::KIND,
        }
    }
}

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
    stock_history: Vec<StockHistoryRow>,
    settlement_history: Vec<SettlementHistoryRow>,
}

/// Where and when the pipeline read a record: what the record's lineage rows name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadAt {
    /// Its partition.
    pub partition: u32,
    /// Its offset in the partition.
    pub offset: u64,
    /// The pipeline time it was read (and applied) at.
    pub time: Time,
}

/// Stock levels, or a change to them, in 128 bits: on_hand, reserved, on_order, records.
type Wide = [i128; 4];

/// The names of [`Wide`]'s fields, in the order they are checked.
const FIELDS: [Aggregate; 4] = [Aggregate::OnHand, Aggregate::Reserved, Aggregate::OnOrder, Aggregate::RecordCount];

fn fits(value: i128) -> bool {
    i64::try_from(value).is_ok()
}

/// `suggested_quantity` as the contract states it, exactly.
fn suggested_quantity(policy: &ReorderPolicy, projected: i128) -> i128 {
    let mut quantity = i128::from(policy.reorder_quantity);
    if let Some(max_level) = policy.max_level {
        quantity = quantity.max(i128::from(max_level) - projected);
    }
    match policy.order_multiple {
        // Rounded up: quantity >= reorder_quantity > 0.
        Some(multiple) if multiple > 0 => {
            let multiple = i128::from(multiple);
            (quantity + multiple - 1) / multiple * multiple
        }
        _ => quantity,
    }
}

impl ReferenceModel {
    /// An empty model.
    pub fn new() -> Self {
        ReferenceModel::default()
    }

    /// Applies one record, or refuses it (changing nothing) if it breaks a contract rule or would
    /// take an aggregate out of range. Records must come in the order the pipeline reads them: by
    /// pipeline time, and within a time by source position (partition, offset, then topic). Its
    /// lineage rows name partition 0, offset 0 and time 0: use [`apply_read`](Self::apply_read)
    /// where lineage matters.
    pub fn apply(&mut self, record: InputRecord) -> Result<(), Refusal> {
        self.apply_read(record, ReadAt::default())
    }

    /// As [`apply`](Self::apply), for a record read at `read`: its lineage rows say so.
    pub fn apply_read(&mut self, record: InputRecord, read: ReadAt) -> Result<(), Refusal> {
        record.validate()?;
        let source = RecordSource { topic: record.topic(), partition: read.partition, offset: read.offset };
        match record {
            InputRecord::Inventory(event) => {
                if self.inventory_event_ids.insert(event.event_id.clone()) {
                    let position =
                        PositionKey::new(event.tenant_id.clone(), event.warehouse_id.clone(), event.sku.clone());
                    let q = i128::from(event.quantity);
                    let (on_hand, on_order) = match event.kind {
                        InventoryKind::Received => (q, if event.purchase_order_id.is_some() { -q } else { 0 }),
                        InventoryKind::TransferredIn => (q, 0),
                        InventoryKind::TransferredOut => (-q, 0),
                        InventoryKind::Damaged => (-q, 0),
                        InventoryKind::Adjusted => (q, 0),
                        InventoryKind::PurchaseOrdered => (0, q),
                        InventoryKind::PurchaseCancelled => (0, -q),
                    };
                    let levels = self.stock_after(&position, [on_hand, 0, on_order, 1])?;
                    self.set_stock(position.clone(), levels);
                    self.stock_history.push(StockHistoryRow {
                        applied_at: read.time,
                        source,
                        position,
                        event_id: event.event_id.clone(),
                        kind: StockChangeKind::Inventory(event.kind),
                        on_hand_delta: on_hand,
                        reserved_delta: 0,
                        on_order_delta: on_order,
                        occurred_at: event.occurred_at,
                    });
                }
            }
            InputRecord::Order(order) => {
                let key = (order.tenant_id.clone(), order.order_id.clone());
                let supersedes = self.orders.get(&key).is_none_or(|current| order.version > current.version);
                if supersedes {
                    self.apply_order(key, order, source, read.time)?;
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
                    let totals = self.settlement_after(&key, payment.kind, payment.amount_minor)?;
                    self.settlements.insert(key.clone(), totals);
                    self.settlement_history.push(SettlementHistoryRow {
                        applied_at: read.time,
                        source,
                        settlement: key,
                        event_id: payment.event_id.clone(),
                        kind: payment.kind,
                        amount_minor: payment.amount_minor,
                        occurred_at: payment.occurred_at,
                    });
                }
            }
            InputRecord::Policy(update) => {
                match update.policy {
                    Some(policy) => {
                        let projected = self.projected(&update.position);
                        if !fits(suggested_quantity(&policy, projected)) {
                            let key = AggregateKey::Position(update.position);
                            return Err(AggregateOutOfRange::new(Aggregate::SuggestedQuantity, key).into());
                        }
                        self.policies.insert(update.position.clone(), policy)
                    }
                    None => self.policies.remove(&update.position),
                };
                self.changed_since_last_time.insert(update.position);
            }
        }
        Ok(())
    }

    /// A new current version: its lines' sums must each fit, and so must every position its
    /// lines or the replaced version's touch after the change; else nothing changes.
    fn apply_order(
        &mut self,
        key: (Id, Id),
        order: OrderEvent,
        source: RecordSource,
        time: Time,
    ) -> Result<(), AggregateOutOfRange> {
        let added = order_line_sums(&order);
        for (position, sums) in &added {
            if let Some(field) = (0..4).find(|field| !fits(sums[*field])) {
                let key = AggregateKey::OrderLines { order: key.clone(), position: position.clone() };
                return Err(AggregateOutOfRange::new(FIELDS[field], key));
            }
        }
        let retracted = self.orders.get(&key).map(order_line_sums).unwrap_or_default();
        let only_retracted = retracted.iter().filter(|(position, _)| !added.iter().any(|(new, _)| new == position));
        let mut after = Vec::new();
        for (position, _) in added.iter().chain(only_retracted) {
            let sum_at = |sums: &[(PositionKey, Wide)]| {
                sums.iter().find(|(at, _)| at == position).map_or([0; 4], |(_, sums)| *sums)
            };
            let (new, old) = (sum_at(&added), sum_at(&retracted));
            let change = [new[0] - old[0], new[1] - old[1], new[2] - old[2], new[3] - old[3]];
            after.push((position.clone(), self.stock_after(position, change)?, change));
        }
        let kind =
            StockChangeKind::Order { from: self.orders.get(&key).map(|current| current.status), to: order.status };
        for (position, levels, change) in after {
            self.set_stock(position.clone(), levels);
            self.stock_history.push(StockHistoryRow {
                applied_at: time,
                source,
                position,
                event_id: order.event_id.clone(),
                kind,
                on_hand_delta: change[0],
                reserved_delta: change[1],
                on_order_delta: change[2],
                occurred_at: order.occurred_at,
            });
        }
        self.orders.insert(key, order);
        Ok(())
    }

    /// The levels of `position` after `change`, if every aggregate stays in range.
    fn stock_after(&self, position: &PositionKey, change: Wide) -> Result<StockLevels, AggregateOutOfRange> {
        let now = self.stock.get(position).copied().unwrap_or_default();
        let now = [now.on_hand, now.reserved, now.on_order, now.records].map(i128::from);
        let [on_hand, reserved, on_order, records] = [0, 1, 2, 3].map(|field| now[field] + change[field]);
        let available = on_hand - reserved;
        let projected = available + on_order;
        let out_of_range = |aggregate| AggregateOutOfRange::new(aggregate, AggregateKey::Position(position.clone()));
        let checks = [
            (on_hand, Aggregate::OnHand),
            (reserved, Aggregate::Reserved),
            (on_order, Aggregate::OnOrder),
            (records, Aggregate::RecordCount),
            (available, Aggregate::Available),
            (projected, Aggregate::Projected),
        ];
        if let Some((_, aggregate)) = checks.iter().find(|(value, _)| !fits(*value)) {
            return Err(out_of_range(*aggregate));
        }
        if let Some(policy) = self.policies.get(position)
            && !fits(suggested_quantity(policy, projected))
        {
            return Err(out_of_range(Aggregate::SuggestedQuantity));
        }
        let narrow = |value: i128| value as i64;
        Ok(StockLevels {
            on_hand: narrow(on_hand),
            reserved: narrow(reserved),
            on_order: narrow(on_order),
            records: narrow(records),
        })
    }

    fn set_stock(&mut self, position: PositionKey, levels: StockLevels) {
        if levels.records == 0 {
            self.stock.remove(&position);
        } else {
            self.stock.insert(position.clone(), levels);
        }
        self.changed_since_last_time.insert(position);
    }

    /// The totals of `key` after one more payment, if every sum and net stay in range.
    fn settlement_after(
        &self,
        key: &SettlementKey,
        kind: PaymentKind,
        amount: i64,
    ) -> Result<SettlementTotals, AggregateOutOfRange> {
        let mut totals = self.settlements.get(key).copied().unwrap_or_default();
        let (sum, aggregate) = match kind {
            PaymentKind::Authorized => (&mut totals.authorized, Aggregate::Authorized),
            PaymentKind::Captured => (&mut totals.captured, Aggregate::Captured),
            PaymentKind::Refunded => (&mut totals.refunded, Aggregate::Refunded),
            PaymentKind::Chargeback => (&mut totals.chargebacks, Aggregate::Chargebacks),
            PaymentKind::Fee => (&mut totals.fees, Aggregate::Fees),
            PaymentKind::Payout => (&mut totals.payouts, Aggregate::Payouts),
        };
        let out_of_range = |aggregate| AggregateOutOfRange::new(aggregate, AggregateKey::Settlement(key.clone()));
        let new_sum = i128::from(*sum) + i128::from(amount);
        if !fits(new_sum) {
            return Err(out_of_range(aggregate));
        }
        *sum = new_sum as i64;
        totals.payments += 1;
        let net = [totals.refunded, totals.chargebacks, totals.fees]
            .into_iter()
            .fold(i128::from(totals.captured), |net, sum| net - i128::from(sum));
        if !fits(net) {
            return Err(out_of_range(Aggregate::Net));
        }
        Ok(totals)
    }

    /// The projected stock of `position`, exactly.
    fn projected(&self, position: &PositionKey) -> i128 {
        self.stock
            .get(position)
            .map_or(0, |levels| i128::from(levels.on_hand) - i128::from(levels.reserved) + i128::from(levels.on_order))
    }

    /// Ends pipeline time `time`: measures every position changed since the last call against
    /// its policy and returns the alert changes, in position order.
    pub fn end_time(&mut self, time: Time) -> Vec<ReorderAlert> {
        let mut changes = Vec::new();
        for position in std::mem::take(&mut self.changed_since_last_time) {
            let check = self.policies.get(&position).map(|policy| {
                let projected = self.projected(&position);
                let narrow =
                    |value: i128| i64::try_from(value).expect("kept in range: records that would not are refused");
                ReorderCheck {
                    projected: narrow(projected),
                    reorder_point: policy.reorder_point,
                    suggested_quantity: narrow(suggested_quantity(policy, projected)),
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

    /// Lineage of the stock: every record's change to each position it moved, in the order
    /// applied.
    pub fn stock_history(&self) -> &[StockHistoryRow] {
        &self.stock_history
    }

    /// Lineage of the settlements: every payment applied, in order.
    pub fn settlement_history(&self) -> &[SettlementHistoryRow] {
        &self.settlement_history
    }

    /// The open alerts as of the last [`end_time`](Self::end_time): id and check per position.
    pub fn open_alerts(&self) -> &BTreeMap<PositionKey, (Id, ReorderCheck)> {
        &self.open_alerts
    }
}

/// Per position an order version's lines are at (in order of first appearance), the exact sums of
/// their effects: on_hand, reserved, on_order, and how many lines.
fn order_line_sums(order: &OrderEvent) -> Vec<(PositionKey, Wide)> {
    let mut sums: Vec<(PositionKey, Wide)> = Vec::new();
    for line in &order.lines {
        let position = PositionKey::new(order.tenant_id.clone(), line.warehouse_id.clone(), line.sku.clone());
        let q = i128::from(line.quantity);
        let effect = match order.status {
            OrderStatus::Placed | OrderStatus::Confirmed => [0, q, 0, 1],
            OrderStatus::Shipped | OrderStatus::Delivered => [-q, 0, 0, 1],
            OrderStatus::Cancelled | OrderStatus::Returned => [0, 0, 0, 1],
        };
        match sums.iter_mut().find(|(at, _)| *at == position) {
            Some((_, sum)) => (0..4).for_each(|field| sum[field] += effect[field]),
            None => sums.push((position, effect)),
        }
    }
    sums
}
