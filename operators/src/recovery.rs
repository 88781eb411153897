//! Resuming from stored state: what a sink keeps so that a restarted pipeline picks up where it
//! stopped, and how that state enters the dataflow.
//!
//! The recovered state enters every input below at one time, the last pipeline time the stored
//! results cover (`as_of - 1`). The operators take it as their state and output what they would
//! have held then; the runtime publishes only what changes after it.

use differential_dataflow::input::{Input, InputSession};
use flowmart_schemas::{PositionKey, ReorderPolicy};
use timely::dataflow::Scope;

use crate::dedupe::SeenEventId;
use crate::order_upsert::RecoveredOrder;
use crate::reorder_alerts::OpenAlert;
use crate::settlement_totals::{SettlementKey, SettlementTotals};
use crate::stock_positions::StockLevels;
use crate::{Collection, Diff, Time};

/// Operator state as stored with the results up to `as_of`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecoveredState {
    /// The stored results cover every pipeline time before this.
    pub as_of: Time,
    /// Stock levels per position (`records` included).
    pub stock: Vec<(PositionKey, StockLevels)>,
    /// Settlement totals per key (`payments` included).
    pub settlements: Vec<(SettlementKey, SettlementTotals)>,
    /// Orders changed within the order retention: their current state and when it changed.
    pub orders: Vec<RecoveredOrder>,
    /// The current policy per position.
    pub policies: Vec<(PositionKey, ReorderPolicy)>,
    /// The alert open per position, with its id and last published check.
    pub open_alerts: Vec<(PositionKey, OpenAlert)>,
    /// Inventory event ids counted within the event-id retention, with when they were.
    pub inventory_ids: Vec<SeenEventId>,
    /// Payment event ids counted within the event-id retention, with when they were.
    pub payment_ids: Vec<SeenEventId>,
}

impl RecoveredState {
    /// The pipeline time the state enters at; `None` when nothing was stored.
    pub fn time(&self) -> Option<Time> {
        self.as_of.checked_sub(1)
    }
}

/// The recovered state as collections, one per stateful operator.
pub struct Recovered<'scope> {
    /// Stored stock levels, as differences.
    pub stock: Collection<'scope, PositionKey, StockLevels>,
    /// Stored settlement totals, as differences.
    pub settlements: Collection<'scope, SettlementKey, SettlementTotals>,
    /// Orders the upsert still knows.
    pub orders: Collection<'scope, RecoveredOrder>,
    /// Current policies.
    pub policies: Collection<'scope, (PositionKey, ReorderPolicy)>,
    /// Open alerts.
    pub open_alerts: Collection<'scope, (PositionKey, OpenAlert)>,
    /// Inventory event ids to keep deduplicating.
    pub inventory_ids: Collection<'scope, SeenEventId>,
    /// Payment event ids to keep deduplicating.
    pub payment_ids: Collection<'scope, SeenEventId>,
}

/// The inputs of [`Recovered`]: load them once, after the dataflow is built.
pub struct RecoveredInputs {
    stock: InputSession<Time, PositionKey, StockLevels>,
    settlements: InputSession<Time, SettlementKey, SettlementTotals>,
    orders: InputSession<Time, RecoveredOrder, Diff>,
    policies: InputSession<Time, (PositionKey, ReorderPolicy), Diff>,
    open_alerts: InputSession<Time, (PositionKey, OpenAlert), Diff>,
    inventory_ids: InputSession<Time, SeenEventId, Diff>,
    payment_ids: InputSession<Time, SeenEventId, Diff>,
}

impl<'scope> Recovered<'scope> {
    /// New inputs in `scope`, and the collections they feed.
    pub fn new(scope: Scope<'scope, Time>) -> (RecoveredInputs, Recovered<'scope>) {
        let (stock, stock_collection) = scope.new_collection();
        let (settlements, settlements_collection) = scope.new_collection();
        let (orders, orders_collection) = scope.new_collection();
        let (policies, policies_collection) = scope.new_collection();
        let (open_alerts, open_alerts_collection) = scope.new_collection();
        let (inventory_ids, inventory_ids_collection) = scope.new_collection();
        let (payment_ids, payment_ids_collection) = scope.new_collection();
        let inputs = RecoveredInputs { stock, settlements, orders, policies, open_alerts, inventory_ids, payment_ids };
        let recovered = Recovered {
            stock: stock_collection,
            settlements: settlements_collection,
            orders: orders_collection,
            policies: policies_collection,
            open_alerts: open_alerts_collection,
            inventory_ids: inventory_ids_collection,
            payment_ids: payment_ids_collection,
        };
        (inputs, recovered)
    }
}

impl RecoveredInputs {
    /// Feeds `worker`'s share (one item in `peers`) of `state` at
    /// [`state.time()`](RecoveredState::time), and closes the inputs.
    pub fn load(self, state: &RecoveredState, worker: usize, peers: usize) {
        let Some(time) = state.time() else { return };
        feed(self.stock, time, share(&state.stock, worker, peers));
        feed(self.settlements, time, share(&state.settlements, worker, peers));
        feed(self.orders, time, share(&state.orders, worker, peers).map(|order| (order, 1)));
        feed(self.policies, time, share(&state.policies, worker, peers).map(|policy| (policy, 1)));
        feed(self.open_alerts, time, share(&state.open_alerts, worker, peers).map(|open| (open, 1)));
        feed(self.inventory_ids, time, share(&state.inventory_ids, worker, peers).map(|id| (id, 1)));
        feed(self.payment_ids, time, share(&state.payment_ids, worker, peers).map(|id| (id, 1)));
    }
}

/// Every `peers`-th item from the `worker`-th on.
fn share<T: Clone>(items: &[T], worker: usize, peers: usize) -> impl Iterator<Item = T> + '_ {
    items.iter().skip(worker).step_by(peers).cloned()
}

/// Sends `updates` at `time` and closes the input.
fn feed<D, R>(mut session: InputSession<Time, D, R>, time: Time, updates: impl Iterator<Item = (D, R)>)
where
    D: differential_dataflow::Data,
    R: differential_dataflow::difference::Semigroup + 'static,
{
    session.advance_to(time);
    for (data, diff) in updates {
        session.update(data, diff);
    }
}
