//! The FlowMart dataflow: every operator wired from input events to output collections.

use differential_dataflow::input::{Input, InputSession};
use flowmart_schemas::{
    Form, InputRecord, InventoryEvent, OrderEvent, Output, Outputs, PaymentEvent, PolicyUpdate, Retention,
};
use timely::dataflow::Scope;

use crate::dedupe::{DedupeByEventId, Deduped};
use crate::recovery::StoredCollections;
use crate::settlement_totals::settlement_totals;
use crate::stock_positions::{StockInputs, stock_positions};
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

/// Every output as a collection in one scope: what [`build`] returns.
pub struct Collections<'scope>(std::marker::PhantomData<&'scope ()>);

impl<'scope> Form for Collections<'scope> {
    type Of<O: Output> = Collection<'scope, O::Data>;
}

/// Builds the FlowMart dataflow in the inputs' scope, starting from `recovered` state: what the
/// pipeline maintains (`CONTRACT.md` §3), and the upserted state a sink stores so that a
/// restarted pipeline can recover.
pub fn build<'scope>(
    inputs: Inputs<'scope>,
    recovered: Outputs<StoredCollections<'scope>>,
    retention: Retention,
) -> Outputs<Collections<'scope>> {
    let Inputs { inventory, orders, payments, policies } = inputs;
    // Every output named, so a new one is a compile error here until it is recovered (or not).
    let Outputs {
        stock: recovered_stock,
        settlements: recovered_settlements,
        alerts: recovered_alerts,
        orders: recovered_orders,
        policies: recovered_policies,
        inventory_ids: recovered_inventory_ids,
        payment_ids: recovered_payment_ids,
        // Logs of what records did: nothing to recover.
        stock_history: _,
        settlement_history: _,
        refused: _,
    } = recovered;
    let Deduped { records: inventory, ids: inventory_ids } =
        inventory.dedupe_by_event_id(recovered_inventory_ids, retention.event_ids_ms);
    let Deduped { records: payments, ids: payment_ids } =
        payments.dedupe_by_event_id(recovered_payment_ids, retention.event_ids_ms);
    let positions = stock_positions(
        StockInputs {
            inventory,
            orders,
            policies,
            recovered_stock,
            recovered_orders,
            recovered_policies,
            recovered_alerts,
        },
        retention.orders_ms,
    );
    let settlements = settlement_totals(payments, recovered_settlements);
    Outputs {
        stock: positions.stock,
        settlements: settlements.totals,
        alerts: positions.alerts,
        orders: positions.orders,
        policies: positions.policies,
        inventory_ids,
        payment_ids,
        stock_history: positions.history,
        settlement_history: settlements.history,
        refused: positions.refused.concat(settlements.refused),
    }
}
