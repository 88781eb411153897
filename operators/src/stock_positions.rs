//! Stock positions: on_hand, reserved and on_order per (tenant, warehouse, sku), from inventory
//! events, the current version of every order and the reorder policies — with nothing wrapping —
//! and the reorder alerts measured on them.

use differential_dataflow::AsCollection;
use flowmart_schemas::{
    Diff, InputTopic, InventoryEvent, OpenAlert, OrderEvent, OrderKey, OrderState, PolicyUpdate, PositionKey,
    RecordSource, RecoveredOrder, RefusedRecord, ReorderAlert, ReorderPolicy, StockChangeKind, StockHistoryRow,
    StockLevels, tenant_hash,
};
use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use crate::stash::{TimeOrderedStash, joint_frontiers};
use crate::stock_ledger::StockLedger;
use crate::{Collection, SourceOffset, Sourced, Time};

/// What goes into [`stock_positions`]: the records, and the state a restarted pipeline recovered.
pub struct StockInputs<'scope> {
    /// Deduplicated inventory events.
    pub inventory: Collection<'scope, Sourced<InventoryEvent>>,
    /// Order events, every version.
    pub orders: Collection<'scope, Sourced<OrderEvent>>,
    /// Reorder policy updates.
    pub policies: Collection<'scope, Sourced<PolicyUpdate>>,
    /// Recovered levels per position (which count the recovered orders' lines).
    pub recovered_stock: Collection<'scope, (PositionKey, StockLevels)>,
    /// Recovered orders: each one's current version and when it last changed.
    pub recovered_orders: Collection<'scope, RecoveredOrder>,
    /// Recovered policies.
    pub recovered_policies: Collection<'scope, (PositionKey, ReorderPolicy)>,
    /// Recovered open alerts.
    pub recovered_alerts: Collection<'scope, (PositionKey, OpenAlert)>,
}

/// What comes out of [`stock_positions`].
pub struct StockPositions<'scope> {
    /// `(position, levels)` per position some current record touches.
    pub stock: Collection<'scope, (PositionKey, StockLevels)>,
    /// `(order, state)`: the current version of every order.
    pub orders: Collection<'scope, (OrderKey, OrderState)>,
    /// `(position, policy)`: the current policy of every position that has one.
    pub policies: Collection<'scope, (PositionKey, ReorderPolicy)>,
    /// The reorder alert change log: an insert-only collection, each change at its time.
    pub alerts: Collection<'scope, ReorderAlert>,
    /// The records refused because their effect would take an aggregate out of range.
    pub refused: Collection<'scope, RefusedRecord>,
    /// Lineage: per record applied, one row per position it changed.
    pub history: Collection<'scope, StockHistoryRow>,
}

/// Recovered state, as it travels to the worker of its tenant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Recovered {
    Levels(PositionKey, StockLevels),
    Order(RecoveredOrder),
    Policy(PositionKey, ReorderPolicy),
    Alert(PositionKey, OpenAlert),
}

impl Recovered {
    fn tenant_id(&self) -> &flowmart_schemas::Id {
        match self {
            Recovered::Levels(position, _) | Recovered::Policy(position, _) | Recovered::Alert(position, _) => {
                &position.tenant_id
            }
            Recovered::Order(((tenant_id, _), _)) => tenant_id,
        }
    }
}

/// What one time of the operator's input holds.
enum Update {
    Inventory(Sourced<InventoryEvent>),
    Order(Sourced<OrderEvent>),
    Policy(Sourced<PolicyUpdate>),
    Recovered(Recovered),
}

/// **In:** deduplicated inventory events, order events, policy updates, and the recovered levels,
/// orders, policies and open alerts of a restarted pipeline. **Out:** [`StockPositions`]:
///
/// - `stock`: per position touched by an inventory event or a line of an order's current
///   version, `(position, levels)`; when the levels change at a time the old pair is retracted
///   and the new one added; a position whose every record is retracted leaves the collection;
/// - `orders`: per (tenant_id, order_id), the [`OrderState`] of its current version — the highest
///   `version` applied (see [`OrderBook`](crate::order_upsert::OrderBook) for ties, refusals and
///   retention);
/// - `policies`: per position, the policy of the latest update applied — latest pipeline time,
///   then source position — or nothing once that update deletes it;
/// - `alerts`: the reorder alert changes, each at the time it happened. A position with a policy
///   is measured at its projected stock (zero while no record touches it): OPENED when it starts
///   needing a reorder (`projected <= reorder_point`), UPDATED when an open alert's projected,
///   reorder point or suggested quantity changes, RESOLVED when projected rises above the reorder
///   point or the policy is deleted. One alert per crossing: going further down while open updates
///   the same alert. Changes are seen per time: a dip and recovery within one time raises nothing.
///   A recovered open alert is the position's open alert, as if just published: it raises no
///   change of its own;
/// - `refused`: every record whose effect would take an aggregate out of the signed 64-bit range
///   (`CONTRACT.md` §2, "Nothing wraps"): a stock field, `available` or `projected` of a position
///   it touches, the suggested quantity of that position's policy, or an order version's own line
///   effect at a position. A refused record changes nothing; an order version is refused whole
///   (every position its lines or its predecessor's touch), its predecessor staying current;
/// - `history`: per record applied, one [`StockHistoryRow`] per position it changed, at the time
///   it was applied: an inventory event's effect; for an order version that became current, its
///   change at every position its lines or its predecessor's are at (its lines' effect net of the
///   version it replaced). A refused record, a dedupe's repeat and an order version that does not
///   supersede the current one have none, and recovered state has none. Per position, the rows'
///   deltas sum to its levels.
///
/// Every output holds per time only the net change of that time. Recovered state enters at its
/// time as the operator's state and is output again (the stored levels already count the
/// recovered orders' lines); recovered alerts are not (they are the alert log's already).
///
/// **Order:** records are applied one at a time — each time once complete, by source position
/// within it (partition, then offset, then topic: inventory, orders, policies) — so whether a
/// record is refused, and every output, is the same for any worker count and arrival order.
/// Everything is routed by tenant: an order version is refused or applied whole, and the
/// positions it touches can only be checked together on one worker. A tenant's stock work
/// therefore runs on one worker (the source already reads a tenant's records on one, since Kafka
/// keys them by tenant id): worker [`tenant_hash`] modulo the workers, in the process that serves
/// the tenant (`flowmart_schemas::tenant_owner`), so its results are made where they are served.
///
/// **State:** the [`StockLedger`]: per position with a current record, a policy or an open alert,
/// its [`StockLevels`], policy and open alert; per order within `order_retention`, its current
/// state — bounded by the live positions and orders, not by the number of events.
pub fn stock_positions<'scope>(inputs: StockInputs<'scope>, order_retention: Option<Time>) -> StockPositions<'scope> {
    let StockInputs {
        inventory,
        orders,
        policies,
        recovered_stock,
        recovered_orders,
        recovered_policies,
        recovered_alerts,
    } = inputs;
    let recovered = recovered_stock
        .map(|(position, levels)| Recovered::Levels(position, levels))
        .concat(recovered_orders.map(Recovered::Order))
        .concat(recovered_policies.map(|(position, policy)| Recovered::Policy(position, policy)))
        .concat(recovered_alerts.map(|(position, open)| Recovered::Alert(position, open)));
    let mut builder = OperatorBuilder::new("StockPositions".to_owned(), inventory.inner.scope());
    let mut inventory = builder.new_input(
        inventory.inner,
        Exchange::new(|(record, _, _): &(Sourced<InventoryEvent>, Time, Diff)| tenant_hash(&record.event.tenant_id)),
    );
    let mut orders = builder.new_input(
        orders.inner,
        Exchange::new(|(record, _, _): &(Sourced<OrderEvent>, Time, Diff)| tenant_hash(&record.event.tenant_id)),
    );
    let mut policies = builder.new_input(
        policies.inner,
        Exchange::new(|(record, _, _): &(Sourced<PolicyUpdate>, Time, Diff)| {
            tenant_hash(&record.event.position.tenant_id)
        }),
    );
    let mut recovered = builder.new_input(
        recovered.inner,
        Exchange::new(|(recovered, _, _): &(Recovered, Time, Diff)| tenant_hash(recovered.tenant_id())),
    );
    let (stock_output, stock) = builder.new_output();
    let (order_output, order_stream) = builder.new_output();
    let (policy_output, policy_stream) = builder.new_output();
    let (refused_output, refused) = builder.new_output();
    let (history_output, history) = builder.new_output();
    let (alert_output, alerts) = builder.new_output();
    let mut stock_output = OutputBuilder::<_, CapacityContainerBuilder<Vec<_>>>::from(stock_output);
    let mut order_output = OutputBuilder::<_, CapacityContainerBuilder<Vec<_>>>::from(order_output);
    let mut policy_output = OutputBuilder::<_, CapacityContainerBuilder<Vec<_>>>::from(policy_output);
    let mut refused_output = OutputBuilder::<_, CapacityContainerBuilder<Vec<_>>>::from(refused_output);
    let mut history_output = OutputBuilder::<_, CapacityContainerBuilder<Vec<_>>>::from(history_output);
    let mut alert_output = OutputBuilder::<_, CapacityContainerBuilder<Vec<_>>>::from(alert_output);
    builder.build(move |_initial_capabilities| {
        let mut stash = TimeOrderedStash::for_outputs(6);
        let mut ledger = StockLedger::new(order_retention);
        move |frontiers| {
            inventory.for_each(|capability, updates| {
                stash.stash(capability, updates.drain(..).map(|(record, time, _)| (Update::Inventory(record), time)));
            });
            orders.for_each(|capability, updates| {
                stash.stash(capability, updates.drain(..).map(|(record, time, _)| (Update::Order(record), time)));
            });
            policies.for_each(|capability, updates| {
                stash.stash(capability, updates.drain(..).map(|(record, time, _)| (Update::Policy(record), time)));
            });
            recovered.for_each(|capability, updates| {
                stash.stash(capability, updates.drain(..).map(|(state, time, _)| (Update::Recovered(state), time)));
            });
            let frontier = joint_frontiers(frontiers.iter().map(|frontier| frontier.frontier()));
            let (mut stock, mut orders) = (stock_output.activate(), order_output.activate());
            let (mut policies, mut refused) = (policy_output.activate(), refused_output.activate());
            let (mut history, mut alerts) = (history_output.activate(), alert_output.activate());
            stash.drain_complete(frontier.borrow(), |capabilities, time, updates| {
                let mut refused = refused.session(&capabilities[3]);
                let mut history = history.session(&capabilities[4]);
                apply(
                    &mut ledger,
                    time,
                    updates,
                    |record| refused.give((record, time, 1)),
                    |row| history.give((row, time, 1)),
                );
                let mut stock = stock.session(&capabilities[0]);
                let mut orders = orders.session(&capabilities[1]);
                let mut policies = policies.session(&capabilities[2]);
                let mut alerts = alerts.session(&capabilities[5]);
                ledger.end_time(
                    |data, diff| stock.give((data, time, diff)),
                    |data, diff| policies.give((data, time, diff)),
                    |data, diff| orders.give((data, time, diff)),
                    |alert| alerts.give((alert, time, 1)),
                );
            });
        }
    });
    StockPositions {
        stock: stock.as_collection(),
        orders: order_stream.as_collection(),
        policies: policy_stream.as_collection(),
        alerts: alerts.as_collection(),
        refused: refused.as_collection(),
        history: history.as_collection(),
    }
}

/// Applies one complete time's updates to the ledger: recovered state first, then the records in
/// the order the pipeline reads them; hands every refused record to `refuse`, and the lineage of
/// every record applied to `record`.
fn apply(
    ledger: &mut StockLedger,
    time: Time,
    updates: Vec<Update>,
    mut refuse: impl FnMut(RefusedRecord),
    mut record_history: impl FnMut(StockHistoryRow),
) {
    ledger.start_time(time);
    let mut records = Vec::with_capacity(updates.len());
    let mut recovered_orders = Vec::new();
    for update in updates {
        match update {
            Update::Recovered(Recovered::Levels(position, levels)) => ledger.recover_levels(position, levels),
            Update::Recovered(Recovered::Policy(position, policy)) => ledger.recover_policy(position, policy),
            Update::Recovered(Recovered::Alert(position, open)) => ledger.recover_alert(position, open),
            Update::Recovered(Recovered::Order(order)) => recovered_orders.push(order),
            record => records.push(record),
        }
    }
    // In the order they last changed, so the retention's queue stays sorted.
    recovered_orders.sort_by_key(|(_, (_, changed_at))| *changed_at);
    for (order, (state, changed_at)) in recovered_orders {
        ledger.recover_order(order, state, changed_at);
    }
    records.sort_unstable_by_key(read_at);
    for record in records {
        let (SourceOffset { partition, offset }, topic) = read_at(&record);
        let source = RecordSource { topic, partition, offset };
        let applied = match record {
            Update::Inventory(record) => {
                let row = inventory_history(time, source, &record.event);
                ledger.apply_inventory(record.event).map(|()| record_history(row))
            }
            Update::Order(record) => {
                let (event_id, occurred_at, status) =
                    (record.event.event_id.clone(), record.event.occurred_at, record.event.status);
                ledger.apply_order(record.event).map(|applied| {
                    let Some(applied) = applied else { return };
                    let kind = StockChangeKind::Order { from: applied.replaced, to: status };
                    for (position, [on_hand_delta, reserved_delta, on_order_delta]) in applied.deltas {
                        record_history(StockHistoryRow {
                            applied_at: time,
                            source,
                            position,
                            event_id: event_id.clone(),
                            kind,
                            on_hand_delta,
                            reserved_delta,
                            on_order_delta,
                            occurred_at,
                        });
                    }
                })
            }
            Update::Policy(record) => ledger.apply_policy(record.event),
            Update::Recovered(_) => Ok(()),
        };
        if let Err(error) = applied {
            refuse(RefusedRecord { topic, partition, offset, error });
        }
    }
}

/// The lineage row of an inventory event applied at `time`: its effect at its position.
fn inventory_history(time: Time, source: RecordSource, event: &InventoryEvent) -> StockHistoryRow {
    let effect = StockLevels::of_inventory(event);
    StockHistoryRow {
        applied_at: time,
        source,
        position: PositionKey::new(event.tenant_id.clone(), event.warehouse_id.clone(), event.sku.clone()),
        event_id: event.event_id.clone(),
        kind: StockChangeKind::Inventory(event.kind),
        on_hand_delta: effect.on_hand.into(),
        reserved_delta: effect.reserved.into(),
        on_order_delta: effect.on_order.into(),
        occurred_at: event.occurred_at,
    }
}

/// Where a record was read, as the total order records are applied in: partition, offset, topic.
fn read_at(update: &Update) -> (SourceOffset, InputTopic) {
    match update {
        Update::Inventory(record) => (record.offset, InputTopic::Inventory),
        Update::Order(record) => (record.offset, InputTopic::Orders),
        Update::Policy(record) => (record.offset, InputTopic::ReorderPolicies),
        Update::Recovered(_) => (SourceOffset::default(), InputTopic::Inventory),
    }
}
