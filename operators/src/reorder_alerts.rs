//! Reorder alerts: each position with a policy measured against it, one alert per crossing, with
//! OPENED / UPDATED / RESOLVED changes.

use differential_dataflow::AsCollection;
use flowmart_schemas::{
    Id, OpenAlert, PositionKey, ReorderAlert, ReorderAlertStatus, ReorderCheck, ReorderPolicy, StockLevels, tenant_hash,
};
use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use uuid::Uuid;

use crate::stash::{TimeOrderedStash, joint_frontier};
use crate::{Collection, Diff, StateMap, Time};

/// The namespace of FlowMart alert ids (UUID v5 over the position and the opening time).
const ALERT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6c1f_3f0e_8d0b_4a57_9a51_4d2b_9e6a_7c10);

/// The id of the alert that opened at `position` at pipeline time `opened_at`: deterministic, so
/// a replay or a recovered pipeline names the same alert the same way.
pub fn alert_id(position: &PositionKey, opened_at: Time) -> Id {
    let name = format!("{}\u{0}{}\u{0}{}\u{0}{opened_at}", position.tenant_id, position.warehouse_id, position.sku);
    Id::from(Uuid::new_v5(&ALERT_ID_NAMESPACE, name.as_bytes()).hyphenated().to_string())
}

/// The alert change for `position` given its open alert (if any) and its check now (`None`
/// when the policy is gone). Returns the change, if any, and the open alert afterwards.
///
/// The one rule of the lifecycle, shared by the operator and nothing else; the reference model
/// states it again independently.
fn next_change(
    position: &PositionKey,
    open: Option<OpenAlert>,
    now: Option<ReorderCheck>,
    time: Time,
) -> (Option<ReorderAlert>, Option<OpenAlert>) {
    let change = |alert_id: Id, status, check: ReorderCheck| ReorderAlert {
        alert_id,
        tenant_id: position.tenant_id.clone(),
        warehouse_id: position.warehouse_id.clone(),
        sku: position.sku.clone(),
        status,
        projected: check.projected,
        reorder_point: check.reorder_point,
        suggested_quantity: check.suggested_quantity,
        changed_at: time as i64,
    };
    match (open, now.filter(ReorderCheck::needs_reorder)) {
        (None, Some(check)) => {
            let alert_id = alert_id(position, time);
            (
                Some(change(alert_id.clone(), ReorderAlertStatus::Opened, check)),
                Some(OpenAlert { alert_id, last: check }),
            )
        }
        (Some(open), Some(check)) if open.last == check => (None, Some(open)),
        (Some(open), Some(check)) => (
            Some(change(open.alert_id.clone(), ReorderAlertStatus::Updated, check)),
            Some(OpenAlert { last: check, ..open }),
        ),
        (Some(open), None) => {
            (Some(change(open.alert_id, ReorderAlertStatus::Resolved, now.unwrap_or(open.last))), None)
        }
        (None, None) => (None, None),
    }
}

/// Everything the operator keeps for one position.
#[derive(Default)]
struct PositionState {
    /// Current projected stock (0 while no record touches the position).
    projected: i64,
    /// Current policy, if any.
    policy: Option<ReorderPolicy>,
    /// The open alert, if any.
    open: Option<OpenAlert>,
    /// The last time an update touched the position (to measure it once per time).
    touched_at: Option<Time>,
}

/// What the second input of the operator carries per position: its policy, or (recovered) the
/// alert open there.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Setting {
    Policy(ReorderPolicy),
    Open(OpenAlert),
}

/// One input update of the operator, tagged by which input it came from.
enum Change {
    Stock(PositionKey, StockLevels),
    Setting(PositionKey, Setting),
}

/// Turns stock positions and policies into the alert change log.
pub trait ReorderAlerts<'scope> {
    /// **In:** the stock positions (one value per position) and the current reorder policies
    /// (one per position). **Out:** an insert-only log of [`ReorderAlert`] changes, each at the
    /// pipeline time it happened. A position with a policy is measured at its projected stock
    /// (all zeros if no record touches it): OPENED when it starts needing a reorder (`projected <=
    /// reorder_point`), UPDATED when an open alert's projected, reorder point or suggested
    /// quantity changes, RESOLVED when projected rises above the reorder point or the policy is
    /// deleted. One alert per crossing: going further down while open updates the same alert.
    /// Changes are seen per pipeline time: a dip and recovery within one time raises nothing.
    /// A recovered open alert (from `recovered`) is the position's open alert, as if it had
    /// just been published; it raises no change of its own.
    ///
    /// **Routing:** by tenant ([`tenant_hash`]), as the stock operator that makes both inputs
    /// is: each stock and policy change stays on the worker that made it (in a cluster, in the
    /// process that serves the tenant) instead of crossing to another by position.
    ///
    /// **State:** per position touched by a record or a policy: its projected stock, its policy
    /// and its open alert — bounded by the number of positions; a position with neither stock
    /// records, a policy nor an open alert is forgotten.
    fn reorder_alerts(
        self,
        policies: Collection<'scope, (PositionKey, ReorderPolicy)>,
        recovered: Collection<'scope, (PositionKey, OpenAlert)>,
    ) -> Collection<'scope, ReorderAlert>;
}

impl<'scope> ReorderAlerts<'scope> for Collection<'scope, (PositionKey, StockLevels)> {
    fn reorder_alerts(
        self,
        policies: Collection<'scope, (PositionKey, ReorderPolicy)>,
        recovered: Collection<'scope, (PositionKey, OpenAlert)>,
    ) -> Collection<'scope, ReorderAlert> {
        let settings = policies
            .map(|(position, policy)| (position, Setting::Policy(policy)))
            .concat(recovered.map(|(position, open)| (position, Setting::Open(open))));
        let by_tenant = |position: &PositionKey| tenant_hash(&position.tenant_id);
        let stock_exchange =
            Exchange::new(move |((position, _), _, _): &((PositionKey, StockLevels), Time, Diff)| by_tenant(position));
        let setting_exchange =
            Exchange::new(move |((position, _), _, _): &((PositionKey, Setting), Time, Diff)| by_tenant(position));
        self.inner
            .binary_frontier::<_, CapacityContainerBuilder<Vec<(ReorderAlert, Time, Diff)>>, _, _, _, _>(
                settings.inner,
                stock_exchange,
                setting_exchange,
                "ReorderAlerts",
                |_, _| {
                    let mut stash = TimeOrderedStash::new();
                    let mut positions = StateMap::<PositionKey, PositionState>::default();
                    move |(stock, stock_frontier), (settings, setting_frontier), output| {
                        stock.for_each(|capability, updates| {
                            let changes = updates.drain(..).map(|((position, levels), time, diff)| {
                                ((Change::Stock(position, levels), diff), time)
                            });
                            stash.stash(capability, changes);
                        });
                        settings.for_each(|capability, updates| {
                            let changes = updates.drain(..).map(|((position, setting), time, diff)| {
                                ((Change::Setting(position, setting), diff), time)
                            });
                            stash.stash(capability, changes);
                        });
                        let frontier = joint_frontier(stock_frontier.frontier(), setting_frontier.frontier());
                        stash.drain_complete(frontier.borrow(), |capabilities, time, changes| {
                            // Both inputs carry at most one retraction (the old value) and one
                            // addition (the new value) per position and time: apply retractions
                            // first, so what an addition sets is what stays.
                            let (retractions, additions): (Vec<_>, Vec<_>) =
                                changes.into_iter().partition(|(_, diff)| *diff < 0);
                            let mut touched = Vec::new();
                            for (change, diff) in retractions.into_iter().chain(additions) {
                                let position = match &change {
                                    Change::Stock(position, _) | Change::Setting(position, _) => position,
                                };
                                let state = match positions.get_mut(position) {
                                    Some(state) => state,
                                    None => positions.entry(position.clone()).or_default(),
                                };
                                let position = match change {
                                    Change::Stock(position, levels) => {
                                        state.projected = if diff > 0 { levels.projected() } else { 0 };
                                        position
                                    }
                                    Change::Setting(position, Setting::Policy(policy)) => {
                                        state.policy = (diff > 0).then_some(policy);
                                        position
                                    }
                                    Change::Setting(position, Setting::Open(open)) => {
                                        state.open = Some(open);
                                        position
                                    }
                                };
                                if state.touched_at != Some(time) {
                                    state.touched_at = Some(time);
                                    touched.push(position);
                                }
                            }
                            let mut session = output.session(&capabilities[0]);
                            for position in touched {
                                let Some(state) = positions.get_mut(&position) else { continue };
                                let check =
                                    state.policy.as_ref().map(|policy| ReorderCheck::of(policy, state.projected));
                                let (change, open) = next_change(&position, state.open.take(), check, time);
                                state.open = open;
                                if state.policy.is_none() && state.open.is_none() && state.projected == 0 {
                                    positions.remove(&position);
                                }
                                if let Some(change) = change {
                                    session.give((change, time, 1));
                                }
                            }
                        });
                    }
                },
            )
            .as_collection()
    }
}
