//! The pipeline's outputs, declared once.
//!
//! [`Outputs`] names every output the dataflow maintains. Its type parameter, a [`Form`], says
//! what each output is held as at one stage of the pipeline: a collection inside the dataflow, the
//! updates a worker hands over ([`Updates`]), the net changes a sink applies ([`NetChanges`]), the
//! state a restarted pipeline recovers from ([`StoredState`]). Every stage is an instance of the
//! same struct, so the list of outputs is spelled once, here; what differs per output (its data,
//! how updates net out, what recovery keeps) is its [`Output`] impl.
//!
//! # Adding an output
//!
//! 1. `schemas/src/outputs.rs` (this file): its value types (or a module of their own beside
//!    [`StockLevels`](crate::StockLevels)), a marker type with its [`Output`] impl, one field of
//!    [`Outputs`], one line of [`Outputs::make`] and its name in the test of the declaration
//!    order at the end of this file; and the marker's re-export in `schemas/src/lib.rs`;
//! 2. `operators/src/<operator>.rs`: the operator, and its line in `operators/src/dataflow.rs`
//!    (which no longer compiles until the new field is set);
//! 3. `connectors/postgres/src/tables/<table>.rs`: its table's writer and reader (and a migration),
//!    called from `commit.rs` and `recover.rs`, which destructure and build every output;
//! 4. `connectors/serving/src/index.rs`: how the index applies its changes (it destructures every
//!    output too);
//! 5. `api/src/routes/<route>.rs`: its route;
//! 6. `operators/tests/recovery_matches_uninterrupted.rs`: what a sink stores of it (`stored_state`
//!    builds every output).
//!
//! The compiler walks you through 2–4 and 6: each of those places takes [`Outputs`] apart or
//! builds it field by field, so a new field is an error there until it is handled.
//!
//! An output that is not a result — nothing queries or stores it, like [`Refused`] — skips 5, and
//! names its field as ignored (`refused: _`) in 3 and 4, with an empty list where `recover.rs` and
//! the recovery test build stored state. If the runtime must turn it into something else before
//! the sinks (refused records become dead letters), that happens in `runtime/src/worker.rs`'s
//! `seal`, which then hands the output on empty.

use std::fmt::Debug;
use std::hash::Hash;

use differential_dataflow::consolidation::consolidate;
use serde::de::DeserializeOwned;
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{
    Diff, EventDigest, InputRecord, OpenAlert, OrderKey, OrderState, PositionKey, RecoveredOrder, RefusedRecord,
    ReorderAlert, ReorderPolicy, SettlementDate, SettlementHistoryRow, SettlementKey, SettlementTotals,
    StockHistoryRow, StockLevels, Time,
};

/// One output of the pipeline: what its updates carry, and what each stage makes of them.
pub trait Output: Sized + 'static {
    /// The output's name, for logs and messages.
    const NAME: &'static str;
    /// Whether only a sink that stores state takes it (recovery state, lineage): the serving
    /// index ignores it, and it is collected only when such a sink is present.
    const STORED_ONLY: bool;
    /// One update's data: `(key, value)` for an output with one value per key, one change for a
    /// log.
    type Data: Clone + Ord + Debug + Send + Sync + Serialize + DeserializeOwned + 'static;
    /// One net change of a batch: per key its new value (or that it is gone); for a log, a change.
    type Change: Clone + PartialEq + Debug + Send + Sync + Serialize + DeserializeOwned + 'static;
    /// What a sink stores for a restarted pipeline to rebuild the output's operator state.
    /// (Hashed to split it over the workers of every process the same way.)
    type Stored: Clone + Ord + Hash + Debug + Send + Sync + Serialize + DeserializeOwned + 'static;

    /// The net changes of one batch's updates (every time before the batch's upper), in order.
    fn changes(updates: Vec<(Self::Data, Time, Diff)>) -> Vec<Self::Change>;
    /// Whether `record` may be behind `change` (it writes the change's key): how a change a sink
    /// refused is traced back to the records that made it.
    fn caused_by(change: &Self::Change, record: &InputRecord) -> bool;
    /// The tenant an update belongs to, for an output the serving index shows: in a cluster, only
    /// the process that serves the tenant (and process 0 when it stores every result) receives
    /// it. `None`: every process receives it.
    fn tenant(_data: &Self::Data) -> Option<&str> {
        None
    }
    /// This output's field of `outputs`.
    fn of<F: Form>(outputs: &Outputs<F>) -> &F::Of<Self>;
    /// This output's field of `outputs`, mutably.
    fn of_mut<F: Form>(outputs: &mut Outputs<F>) -> &mut F::Of<Self>;
}

/// What every output is held as at one stage of the pipeline.
pub trait Form {
    /// What output `O` is held as.
    type Of<O: Output>;
}

/// A form that holds each output as a list of items: such [`Outputs`] are plain data (cloned,
/// compared, printed, serialized, sent between threads and processes).
pub trait ListForm {
    /// One item of output `O`.
    type Item<O: Output>: Clone + PartialEq + Debug + Send + Sync + Serialize + DeserializeOwned;
}

impl<F: ListForm> Form for F {
    type Of<O: Output> = Vec<F::Item<O>>;
}

/// Updates as a worker captures them: `(data, time, diff)`.
#[derive(Debug)]
pub struct Updates;

impl ListForm for Updates {
    type Item<O: Output> = (O::Data, Time, Diff);
}

/// What a batch changes: [`Output::changes`] of its updates.
#[derive(Debug)]
pub struct NetChanges;

impl ListForm for NetChanges {
    type Item<O: Output> = O::Change;
}

/// What a sink stores and a restarted pipeline loads.
#[derive(Debug)]
pub struct StoredState;

impl ListForm for StoredState {
    type Item<O: Output> = O::Stored;
}

/// Every output of the pipeline (`CONTRACT.md` §3), each held as `F` says.
///
/// Whoever builds or takes apart outputs names every one, so an output left out is a compile error
/// — which is how a new output's every stage is found:
///
/// ```compile_fail
/// use flowmart_schemas::{NetChanges, Outputs};
///
/// fn commit(changes: &Outputs<NetChanges>) {
///     // `payment_ids` is not handled: error[E0027], pattern does not mention field `payment_ids`.
///     let Outputs { stock, settlements, alerts, orders, policies, inventory_ids } = changes;
/// }
/// ```
pub struct Outputs<F: Form> {
    /// Stock levels per position.
    pub stock: F::Of<Stock>,
    /// Settlement totals per (tenant, currency, date).
    pub settlements: F::Of<Settlements>,
    /// The insert-only log of reorder alert changes.
    pub alerts: F::Of<Alerts>,
    /// The current state of every order the upsert knows (for recovery).
    pub orders: F::Of<Orders>,
    /// The current reorder policy per position (for recovery).
    pub policies: F::Of<Policies>,
    /// The event id (its digest) of each inventory event counted, at the time it was (for
    /// recovery).
    pub inventory_ids: F::Of<InventoryIds>,
    /// The event id (its digest) of each payment counted, at the time it was (for recovery).
    pub payment_ids: F::Of<PaymentIds>,
    /// The insert-only log of every record's change to each stock position it moved (lineage).
    pub stock_history: F::Of<StockHistory>,
    /// The insert-only log of every payment's change to its settlement row (lineage).
    pub settlement_history: F::Of<SettlementHistory>,
    /// The records refused because their effect would take an aggregate out of range (turned
    /// into dead letters by the runtime).
    pub refused: F::Of<Refused>,
}

/// Makes one output's value of a form: [`Outputs::make`] calls it for every output.
pub trait MakeOutput<F: Form> {
    /// Output `O`'s value.
    fn make<O: Output>(&mut self) -> F::Of<O>;
}

/// Something done for every output in turn ([`Outputs::for_each`]).
pub trait ForEachOutput {
    /// Does it for output `O`.
    fn each<O: Output>(&mut self);
}

impl<F: Form> Outputs<F> {
    /// Outputs whose every value `maker` makes.
    pub fn make(maker: &mut impl MakeOutput<F>) -> Outputs<F> {
        Outputs {
            stock: maker.make::<Stock>(),
            settlements: maker.make::<Settlements>(),
            alerts: maker.make::<Alerts>(),
            orders: maker.make::<Orders>(),
            policies: maker.make::<Policies>(),
            inventory_ids: maker.make::<InventoryIds>(),
            payment_ids: maker.make::<PaymentIds>(),
            stock_history: maker.make::<StockHistory>(),
            settlement_history: maker.make::<SettlementHistory>(),
            refused: maker.make::<Refused>(),
        }
    }
}

/// A form that holds nothing: visiting every output is making one of these.
struct Nothing;

impl Form for Nothing {
    type Of<O: Output> = ();
}

/// Calls `visitor` once for every output.
pub fn for_each_output(visitor: &mut impl ForEachOutput) {
    struct Visit<'a, V>(&'a mut V);
    impl<V: ForEachOutput> MakeOutput<Nothing> for Visit<'_, V> {
        fn make<O: Output>(&mut self) {
            self.0.each::<O>();
        }
    }
    Outputs::<Nothing>::make(&mut Visit(visitor));
}

impl<F: ListForm> Outputs<F> {
    /// Whether every output is empty.
    pub fn is_empty(&self) -> bool {
        struct Empty<'a, F: Form>(&'a Outputs<F>, bool);
        impl<F: ListForm> ForEachOutput for Empty<'_, F> {
            fn each<O: Output>(&mut self) {
                self.1 &= O::of(self.0).is_empty();
            }
        }
        let mut empty = Empty(self, true);
        for_each_output(&mut empty);
        empty.1
    }

    /// Moves every item of `other` to the end of the same output's list here.
    pub fn append(&mut self, mut other: Outputs<F>) {
        struct Append<'a, F: Form>(&'a mut Outputs<F>, &'a mut Outputs<F>);
        impl<F: ListForm> ForEachOutput for Append<'_, F> {
            fn each<O: Output>(&mut self) {
                O::of_mut(self.0).append(O::of_mut(self.1));
            }
        }
        for_each_output(&mut Append(self, &mut other));
    }
}

impl<F: ListForm> Default for Outputs<F> {
    fn default() -> Self {
        struct Empty;
        impl<F: ListForm> MakeOutput<F> for Empty {
            fn make<O: Output>(&mut self) -> Vec<F::Item<O>> {
                Vec::new()
            }
        }
        Outputs::make(&mut Empty)
    }
}

impl Outputs<NetChanges> {
    /// Whether `record` may be behind any of these changes ([`Output::caused_by`]).
    pub fn caused_by(&self, record: &InputRecord) -> bool {
        struct Any<'a>(&'a Outputs<NetChanges>, &'a InputRecord, bool);
        impl ForEachOutput for Any<'_> {
            fn each<O: Output>(&mut self) {
                self.2 = self.2 || O::of(self.0).iter().any(|change| O::caused_by(change, self.1));
            }
        }
        let mut any = Any(self, record, false);
        for_each_output(&mut any);
        any.2
    }
}

impl<F: ListForm> Clone for Outputs<F> {
    fn clone(&self) -> Self {
        struct Cloned<'a, F: Form>(&'a Outputs<F>);
        impl<F: ListForm> MakeOutput<F> for Cloned<'_, F> {
            fn make<O: Output>(&mut self) -> Vec<F::Item<O>> {
                O::of(self.0).clone()
            }
        }
        Outputs::make(&mut Cloned(self))
    }
}

impl<F: ListForm> PartialEq for Outputs<F> {
    fn eq(&self, other: &Self) -> bool {
        struct Equal<'a, F: Form>(&'a Outputs<F>, &'a Outputs<F>, bool);
        impl<F: ListForm> ForEachOutput for Equal<'_, F> {
            fn each<O: Output>(&mut self) {
                self.2 &= O::of(self.0) == O::of(self.1);
            }
        }
        let mut equal = Equal(self, other, true);
        for_each_output(&mut equal);
        equal.2
    }
}

impl<F: ListForm> Debug for Outputs<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        struct Fields<'a, 'f, 'g, F: Form>(&'a Outputs<F>, std::fmt::DebugStruct<'f, 'g>);
        impl<F: ListForm> ForEachOutput for Fields<'_, '_, '_, F> {
            fn each<O: Output>(&mut self) {
                self.1.field(O::NAME, O::of(self.0));
            }
        }
        let mut fields = Fields(self, f.debug_struct("Outputs"));
        for_each_output(&mut fields);
        fields.1.finish()
    }
}

/// How many outputs there are.
fn count() -> usize {
    struct Count(usize);
    impl ForEachOutput for Count {
        fn each<O: Output>(&mut self) {
            self.0 += 1;
        }
    }
    let mut count = Count(0);
    for_each_output(&mut count);
    count.0
}

/// As a tuple of the outputs' lists, in declaration order.
impl<F: ListForm> Serialize for Outputs<F> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Elements<'a, F: Form, T: SerializeTuple>(&'a Outputs<F>, T, Result<(), T::Error>);
        impl<F: ListForm, T: SerializeTuple> ForEachOutput for Elements<'_, F, T> {
            fn each<O: Output>(&mut self) {
                if self.2.is_ok() {
                    self.2 = self.1.serialize_element(O::of(self.0));
                }
            }
        }
        let mut elements = Elements(self, serializer.serialize_tuple(count())?, Ok(()));
        for_each_output(&mut elements);
        elements.2?;
        elements.1.end()
    }
}

impl<'de, F: ListForm> Deserialize<'de> for Outputs<F> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Tuple<F>(std::marker::PhantomData<F>);
        impl<'de, F: ListForm> Visitor<'de> for Tuple<F> {
            type Value = Outputs<F>;
            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(formatter, "a tuple of {} output lists", count())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Outputs<F>, A::Error> {
                struct Elements<'a, A: SeqAccess<'a>>(A, usize, Result<(), A::Error>);
                impl<'de, F: ListForm, A: SeqAccess<'de>> MakeOutput<F> for Elements<'de, A> {
                    fn make<O: Output>(&mut self) -> Vec<F::Item<O>> {
                        let element = match &self.2 {
                            Ok(()) => self.0.next_element::<Vec<F::Item<O>>>(),
                            Err(_) => return Vec::new(),
                        };
                        self.1 += 1;
                        match element {
                            Ok(Some(items)) => items,
                            Ok(None) => {
                                self.2 = Err(de::Error::invalid_length(self.1 - 1, &"one list per output"));
                                Vec::new()
                            }
                            Err(error) => {
                                self.2 = Err(error);
                                Vec::new()
                            }
                        }
                    }
                }
                let mut elements = Elements(&mut seq, 0, Ok(()));
                let outputs = Outputs::make(&mut elements);
                elements.2.map(|()| outputs)
            }
        }
        deserializer.deserialize_tuple(count(), Tuple(std::marker::PhantomData))
    }
}

/// Implements the field accessors of an [`Output`] impl.
macro_rules! field {
    ($field:ident) => {
        fn of<F: Form>(outputs: &Outputs<F>) -> &F::Of<Self> {
            &outputs.$field
        }
        fn of_mut<F: Form>(outputs: &mut Outputs<F>) -> &mut F::Of<Self> {
            &mut outputs.$field
        }
    };
}

/// Stock levels per position.
pub struct Stock;

impl Output for Stock {
    const NAME: &'static str = "stock";
    const STORED_ONLY: bool = false;
    type Data = (PositionKey, StockLevels);
    type Change = (PositionKey, Option<StockLevels>);
    type Stored = (PositionKey, StockLevels);

    fn changes(updates: Vec<(Self::Data, Time, Diff)>) -> Vec<Self::Change> {
        latest_values(updates)
    }
    fn caused_by((position, _): &Self::Change, record: &InputRecord) -> bool {
        moves_stock_at(record, position)
    }
    fn tenant((position, _): &Self::Data) -> Option<&str> {
        Some(&position.tenant_id)
    }
    field!(stock);
}

/// Settlement totals per (tenant, currency, date).
pub struct Settlements;

impl Output for Settlements {
    const NAME: &'static str = "settlements";
    const STORED_ONLY: bool = false;
    type Data = (SettlementKey, SettlementTotals);
    type Change = (SettlementKey, Option<SettlementTotals>);
    type Stored = (SettlementKey, SettlementTotals);

    fn changes(updates: Vec<(Self::Data, Time, Diff)>) -> Vec<Self::Change> {
        latest_values(updates)
    }
    fn caused_by((key, _): &Self::Change, record: &InputRecord) -> bool {
        matches!(record, InputRecord::Payment(payment) if payment.tenant_id == key.tenant_id
            && payment.currency == key.currency.as_str()
            && SettlementDate::of(payment.occurred_at) == key.settlement_date)
    }
    fn tenant((key, _): &Self::Data) -> Option<&str> {
        Some(&key.tenant_id)
    }
    field!(settlements);
}

/// Reorder alert changes; recovered as the alert open per position.
pub struct Alerts;

impl Output for Alerts {
    const NAME: &'static str = "alerts";
    const STORED_ONLY: bool = false;
    type Data = ReorderAlert;
    type Change = ReorderAlert;
    type Stored = (PositionKey, OpenAlert);

    /// In the order they happened: by time, then by position (the order every process agrees on).
    fn changes(mut updates: Vec<(ReorderAlert, Time, Diff)>) -> Vec<ReorderAlert> {
        updates.sort_by(|(a, a_time, _), (b, b_time, _)| {
            (a_time, &a.tenant_id, &a.warehouse_id, &a.sku).cmp(&(b_time, &b.tenant_id, &b.warehouse_id, &b.sku))
        });
        updates.into_iter().map(|(alert, _, _)| alert).collect()
    }
    fn caused_by(alert: &ReorderAlert, record: &InputRecord) -> bool {
        let position = PositionKey::new(alert.tenant_id.clone(), alert.warehouse_id.clone(), alert.sku.clone());
        moves_stock_at(record, &position) || Policies::caused_by(&(position, None), record)
    }
    // No `tenant`: every process receives every alert change, so all number them alike (the
    // alert topic's numbers, and those recovered after a restart) and a stream resumes anywhere.
    field!(alerts);
}

/// The current state of every order, with when it last changed.
pub struct Orders;

impl Output for Orders {
    const NAME: &'static str = "orders";
    const STORED_ONLY: bool = true;
    type Data = (OrderKey, OrderState);
    type Change = RecoveredOrder;
    type Stored = RecoveredOrder;

    /// The upsert adds one value per order and time it changes (retracting the old one, unless it
    /// had forgotten the order): the latest addition is the current state. No order ever leaves
    /// the upsert's output, so there are no deletions. In key order.
    fn changes(updates: Vec<((OrderKey, OrderState), Time, Diff)>) -> Vec<RecoveredOrder> {
        let mut latest = std::collections::HashMap::<OrderKey, (OrderState, Time)>::new();
        for ((key, state), time, diff) in updates {
            if diff > 0 && latest.get(&key).is_none_or(|(_, latest)| *latest < time) {
                latest.insert(key, (state, time));
            }
        }
        let mut orders = latest.into_iter().collect::<Vec<_>>();
        orders.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
        orders
    }
    fn caused_by(((tenant_id, order_id), _): &RecoveredOrder, record: &InputRecord) -> bool {
        matches!(record, InputRecord::Order(order) if order.tenant_id == *tenant_id && order.order_id == *order_id)
    }
    field!(orders);
}

/// The current reorder policy per position.
pub struct Policies;

impl Output for Policies {
    const NAME: &'static str = "policies";
    // The serving index shows each alert's policy terms (the replenishment view).
    const STORED_ONLY: bool = false;
    type Data = (PositionKey, ReorderPolicy);
    type Change = (PositionKey, Option<ReorderPolicy>);
    type Stored = (PositionKey, ReorderPolicy);

    fn changes(updates: Vec<(Self::Data, Time, Diff)>) -> Vec<Self::Change> {
        latest_values(updates)
    }
    fn caused_by((position, _): &Self::Change, record: &InputRecord) -> bool {
        matches!(record, InputRecord::Policy(update) if update.position == *position)
    }
    fn tenant((position, _): &Self::Data) -> Option<&str> {
        Some(&position.tenant_id)
    }
    field!(policies);
}

/// An event id as remembered for dedupe: its digest and the pipeline time its record was counted.
pub type SeenEventId = (EventDigest, Time);

/// The inventory event ids the dedupe counted.
pub struct InventoryIds;

impl Output for InventoryIds {
    const NAME: &'static str = "inventory_ids";
    const STORED_ONLY: bool = true;
    type Data = EventDigest;
    type Change = SeenEventId;
    type Stored = SeenEventId;

    fn changes(updates: Vec<(EventDigest, Time, Diff)>) -> Vec<SeenEventId> {
        seen_ids(updates)
    }
    fn caused_by((id, _): &SeenEventId, record: &InputRecord) -> bool {
        matches!(record, InputRecord::Inventory(event) if EventDigest::of(&event.event_id) == *id)
    }
    field!(inventory_ids);
}

/// The payment event ids the dedupe counted.
pub struct PaymentIds;

impl Output for PaymentIds {
    const NAME: &'static str = "payment_ids";
    const STORED_ONLY: bool = true;
    type Data = EventDigest;
    type Change = SeenEventId;
    type Stored = SeenEventId;

    fn changes(updates: Vec<(EventDigest, Time, Diff)>) -> Vec<SeenEventId> {
        seen_ids(updates)
    }
    fn caused_by((id, _): &SeenEventId, record: &InputRecord) -> bool {
        matches!(record, InputRecord::Payment(event) if EventDigest::of(&event.event_id) == *id)
    }
    field!(payment_ids);
}

/// Lineage of the stock output: one row per (record applied, position it changed), in the order
/// the records were applied. Per position, the rows' deltas sum to its levels.
///
/// A result log, not state: nothing recovers it (its stored list is always empty), the serving
/// index ignores it; the Postgres sink appends it to `stock_history`.
pub struct StockHistory;

impl Output for StockHistory {
    const NAME: &'static str = "stock_history";
    const STORED_ONLY: bool = true;
    type Data = StockHistoryRow;
    type Change = StockHistoryRow;
    type Stored = StockHistoryRow;

    /// In the order they were applied: by time, then partition, offset and topic (rows sort so).
    fn changes(updates: Vec<(StockHistoryRow, Time, Diff)>) -> Vec<StockHistoryRow> {
        log_in_order(updates, |row| (row.applied_at, row.source.partition, row.source.offset, row.source.topic))
    }
    fn caused_by(row: &StockHistoryRow, record: &InputRecord) -> bool {
        moves_stock_at(record, &row.position)
            && match record {
                InputRecord::Inventory(event) => event.event_id == row.event_id,
                InputRecord::Order(order) => order.event_id == row.event_id,
                InputRecord::Payment(_) | InputRecord::Policy(_) => false,
            }
    }
    field!(stock_history);
}

/// Lineage of the settlements output: one row per payment applied, in the order they were. Per
/// settlement row, the amounts of each kind sum to that kind's total.
///
/// A result log, not state, like [`StockHistory`]; the Postgres sink appends it to
/// `settlement_history`.
pub struct SettlementHistory;

impl Output for SettlementHistory {
    const NAME: &'static str = "settlement_history";
    const STORED_ONLY: bool = true;
    type Data = SettlementHistoryRow;
    type Change = SettlementHistoryRow;
    type Stored = SettlementHistoryRow;

    /// In the order they were applied: by time, then partition and offset.
    fn changes(updates: Vec<(SettlementHistoryRow, Time, Diff)>) -> Vec<SettlementHistoryRow> {
        log_in_order(updates, |row| (row.applied_at, row.source.partition, row.source.offset, row.source.topic))
    }
    fn caused_by(row: &SettlementHistoryRow, record: &InputRecord) -> bool {
        matches!(record, InputRecord::Payment(payment) if payment.event_id == row.event_id
            && payment.tenant_id == row.settlement.tenant_id)
    }
    field!(settlement_history);
}

/// Records the dataflow refused (`CONTRACT.md` §2, "Nothing wraps"), each at the pipeline time it
/// was read.
///
/// Not a result: no sink stores it, no query reads it, nothing recovers it (its stored list is
/// always empty). A runtime worker turns each refusal into a dead letter carrying the record's
/// original bytes before it hands its output over, so the list reaches sinks empty and the
/// refusals are among the batch's dead letters.
pub struct Refused;

impl Output for Refused {
    const NAME: &'static str = "refused";
    const STORED_ONLY: bool = false;
    type Data = RefusedRecord;
    type Change = RefusedRecord;
    type Stored = RefusedRecord;

    /// In the order they were read: by time, then topic, partition and offset.
    fn changes(mut updates: Vec<(RefusedRecord, Time, Diff)>) -> Vec<RefusedRecord> {
        updates.sort_by(|(a, a_time, _), (b, b_time, _)| {
            (a_time, a.topic, a.partition, a.offset).cmp(&(b_time, b.topic, b.partition, b.offset))
        });
        updates.into_iter().map(|(refused, _, _)| refused).collect()
    }
    /// Never: refused records change no result.
    fn caused_by(_: &RefusedRecord, _: &InputRecord) -> bool {
        false
    }
    field!(refused);
}

/// From updates of a collection with one value per key, the net change per key: its new value,
/// or `None` when it left the collection. In key order.
fn latest_values<K: Ord + Clone, V: Ord + Clone>(updates: Vec<((K, V), Time, Diff)>) -> Vec<(K, Option<V>)> {
    let mut net = updates.into_iter().map(|(data, _, diff)| (data, diff)).collect::<Vec<_>>();
    consolidate(&mut net);
    let mut changes: Vec<(K, Option<V>)> = Vec::new();
    for ((key, value), diff) in net {
        match changes.last_mut() {
            Some((last, current)) if *last == key => {
                if diff > 0 {
                    *current = Some(value);
                }
            }
            _ => changes.push((key, (diff > 0).then_some(value))),
        }
    }
    changes
}

/// The rows of an insert-only log, each once, sorted by `order` (rows with equal keys in their
/// own order).
fn log_in_order<D: Ord, K: Ord>(updates: Vec<(D, Time, Diff)>, order: impl Fn(&D) -> K) -> Vec<D> {
    let mut rows = updates.into_iter().filter(|(_, _, diff)| *diff > 0).map(|(row, _, _)| row).collect::<Vec<_>>();
    rows.sort_by(|a, b| order(a).cmp(&order(b)).then_with(|| a.cmp(b)));
    rows
}

/// Ids counted (insert-only), with the time each was, in time order.
fn seen_ids(mut updates: Vec<(EventDigest, Time, Diff)>) -> Vec<SeenEventId> {
    updates.sort_by_key(|(_, time, _)| *time);
    updates.into_iter().map(|(id, time, _)| (id, time)).collect()
}

/// Whether `record` moves stock at `position`: an inventory event there, or an order with a line
/// there.
fn moves_stock_at(record: &InputRecord, position: &PositionKey) -> bool {
    match record {
        InputRecord::Inventory(event) => {
            event.tenant_id == position.tenant_id
                && event.warehouse_id == position.warehouse_id
                && event.sku == position.sku
        }
        InputRecord::Order(order) => {
            order.tenant_id == position.tenant_id
                && order.lines.iter().any(|line| line.warehouse_id == position.warehouse_id && line.sku == position.sku)
        }
        InputRecord::Payment(_) | InputRecord::Policy(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_changes_keep_the_new_value_or_say_the_key_left() {
        let updates = vec![
            (("a", 1), 1, 1),
            (("a", 1), 2, -1),
            (("a", 2), 2, 1),
            (("b", 5), 1, -1),
            (("c", 7), 1, 1),
            (("c", 7), 3, -1),
            (("d", 1), 2, -1),
            (("d", 3), 2, 1),
            (("d", 3), 3, -1),
            (("d", 4), 3, 1),
        ];
        assert_eq!(latest_values(updates), vec![("a", Some(2)), ("b", None), ("d", Some(4))]);
    }

    #[test]
    fn every_output_is_visited_once_in_declaration_order() {
        struct Names(Vec<&'static str>);
        impl ForEachOutput for Names {
            fn each<O: Output>(&mut self) {
                self.0.push(O::NAME);
            }
        }
        let mut names = Names(Vec::new());
        for_each_output(&mut names);
        assert_eq!(
            names.0,
            [
                "stock",
                "settlements",
                "alerts",
                "orders",
                "policies",
                "inventory_ids",
                "payment_ids",
                "stock_history",
                "settlement_history",
                "refused"
            ]
        );
    }

    #[test]
    fn list_forms_append_compare_and_round_trip_through_serde() {
        let mut a = Outputs::<Updates>::default();
        assert!(a.is_empty());
        let mut b = Outputs::<Updates>::default();
        b.inventory_ids.push((EventDigest::of("e-1"), 5, 1));
        a.append(b.clone());
        assert!(!a.is_empty() && a == b);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Outputs<Updates>>(&json).unwrap(), a);
        let listed = format!("inventory_ids: [({:?}, 5, 1)]", EventDigest::of("e-1"));
        assert!(format!("{a:?}").contains(&listed), "{a:?}");
    }
}
