//! The FlowMart dataflow: every operator wired from input events to output collections.

use differential_dataflow::input::{Input, InputSession};
use flowmart_schemas::{
    Id, InputRecord, InventoryEvent, OrderEvent, PaymentEvent, PolicyUpdate, PositionKey, ReorderAlert, ReorderPolicy,
};
use timely::dataflow::Scope;

use crate::dedupe::DedupeByEventId;
use crate::order_upsert::{OrderKey, OrderState, OrderUpsert};
use crate::policy_upsert::PolicyUpsert;
use crate::recovery::Recovered;
use crate::reorder_alerts::ReorderAlerts;
use crate::settlement_totals::{SettlementKey, SettlementTotals, settlement_totals};
use crate::stock_positions::{StockLevels, order_lines, stock_positions};
use crate::{Collection, Diff, SourceOffset, Sourced, Time};

/// The validated input events, one insert-only collection per topic.
pub struct Inputs<'scope> {
    /// `flowmart.inventory`.
    pub inventory: Collection<'scope, Sourced<InventoryEvent>>,
    /// `flowmart.orders`.
    pub orders: Collection<'scope, Sourced<OrderEvent>>,
    /// `flowmart.payments`.
    pub payments: Collection<'scope, Sourced<PaymentEvent>>,
    /// `flowmart.reorder-policies`.
    pub policies: Collection<'scope, Sourced<PolicyUpdate>>,
}

/// The four input sessions that feed [`Inputs`]: records go in at the sessions' current time.
pub struct InputSessions {
    inventory: InputSession<Time, Sourced<InventoryEvent>, Diff>,
    orders: InputSession<Time, Sourced<OrderEvent>, Diff>,
    payments: InputSession<Time, Sourced<PaymentEvent>, Diff>,
    policies: InputSession<Time, Sourced<PolicyUpdate>, Diff>,
}

impl InputSessions {
    /// New sessions in `scope`, and the input collections they feed.
    pub fn new<'scope>(scope: Scope<'scope, Time>) -> (InputSessions, Inputs<'scope>) {
        let (inventory, inventory_collection) = scope.new_collection();
        let (orders, orders_collection) = scope.new_collection();
        let (payments, payments_collection) = scope.new_collection();
        let (policies, policies_collection) = scope.new_collection();
        let inputs = Inputs {
            inventory: inventory_collection,
            orders: orders_collection,
            payments: payments_collection,
            policies: policies_collection,
        };
        (InputSessions { inventory, orders, payments, policies }, inputs)
    }

    /// Feeds one record, read at `offset`, to its topic's collection.
    pub fn insert(&mut self, offset: SourceOffset, record: InputRecord) {
        match record {
            InputRecord::Inventory(event) => self.inventory.insert(Sourced { offset, event }),
            InputRecord::Order(event) => self.orders.insert(Sourced { offset, event }),
            InputRecord::Payment(event) => self.payments.insert(Sourced { offset, event }),
            InputRecord::Policy(event) => self.policies.insert(Sourced { offset, event }),
        }
    }

    /// The time records go in at.
    pub fn time(&self) -> Time {
        *self.inventory.time()
    }

    /// Moves every session to `time` (not before its current time).
    pub fn advance_to(&mut self, time: Time) {
        self.inventory.advance_to(time);
        self.orders.advance_to(time);
        self.payments.advance_to(time);
        self.policies.advance_to(time);
    }

    /// Sends what was inserted on into the dataflow.
    pub fn flush(&mut self) {
        self.inventory.flush();
        self.orders.flush();
        self.payments.flush();
        self.policies.flush();
    }
}

/// How long per-key state that would otherwise grow without bound is kept (pipeline time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Event ids remembered for dedupe; `None` keeps every id.
    pub event_ids_ms: Option<Time>,
    /// Orders kept after their last change; `None` keeps every order.
    pub orders_ms: Option<Time>,
}

impl Default for Retention {
    /// Event ids for 7 days (far beyond any producer retry), orders for 90 days after their
    /// last change (beyond a wholesale order's life, returns included).
    fn default() -> Self {
        const DAY_MS: Time = 24 * 60 * 60 * 1000;
        Retention { event_ids_ms: Some(7 * DAY_MS), orders_ms: Some(90 * DAY_MS) }
    }
}

/// What the pipeline maintains (`CONTRACT.md` §3), and the upserted state a sink stores so
/// that a restarted pipeline can recover.
pub struct Outputs<'scope> {
    /// Stock levels per position.
    pub stock: Collection<'scope, (PositionKey, StockLevels)>,
    /// Settlement totals per (tenant, currency, date).
    pub settlements: Collection<'scope, (SettlementKey, SettlementTotals)>,
    /// The insert-only log of reorder alert changes.
    pub alerts: Collection<'scope, ReorderAlert>,
    /// The current state of every order the upsert knows.
    pub orders: Collection<'scope, (OrderKey, OrderState)>,
    /// The current reorder policy per position.
    pub policies: Collection<'scope, (PositionKey, ReorderPolicy)>,
    /// The event id of each inventory event counted, at the time it was.
    pub inventory_ids: Collection<'scope, Id>,
    /// The event id of each payment counted, at the time it was.
    pub payment_ids: Collection<'scope, Id>,
}

/// Builds the FlowMart dataflow in the inputs' scope, starting from `recovered` state.
pub fn build<'scope>(inputs: Inputs<'scope>, recovered: Recovered<'scope>, retention: Retention) -> Outputs<'scope> {
    let Inputs { inventory, orders, payments, policies } = inputs;
    let inventory = inventory.dedupe_by_event_id(recovered.inventory_ids, retention.event_ids_ms);
    let payments = payments.dedupe_by_event_id(recovered.payment_ids, retention.event_ids_ms);
    // The upsert outputs recovered orders again, and the stored levels already count them.
    let stock_before_orders =
        recovered.stock.concat(order_lines(recovered.orders.clone().map(|(key, (state, _))| (key, state))).negate());
    let orders = orders.upsert_orders(recovered.orders, retention.orders_ms);
    let policies = policies.upsert_policies(recovered.policies);
    let inventory_ids = inventory.clone().map(|record| record.event.event_id);
    let payment_ids = payments.clone().map(|record| record.event.event_id);
    let stock = stock_positions(inventory, orders.clone(), stock_before_orders);
    let alerts = stock.clone().reorder_alerts(policies.clone(), recovered.open_alerts);
    let settlements = settlement_totals(payments, recovered.settlements);
    Outputs { stock, settlements, alerts, orders, policies, inventory_ids, payment_ids }
}
