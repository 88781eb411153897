//! Alert lifecycle: one alert per crossing, with OPENED / UPDATED / RESOLVED changes.

use differential_dataflow::consolidation::consolidate;
use differential_dataflow::{AsCollection, Hashable};
use flowmart_schemas::{Id, PositionKey, ReorderAlert, ReorderAlertStatus};
use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use uuid::Uuid;

use crate::reorder_checks::ReorderCheck;
use crate::stash::TimeOrderedStash;
use crate::{Collection, Diff, StateMap, Time};

/// The namespace of FlowMart alert ids (UUID v5 over the position and the opening time).
const ALERT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6c1f_3f0e_8d0b_4a57_9a51_4d2b_9e6a_7c10);

/// The id of the alert that opened at `position` at pipeline time `opened_at`: deterministic, so
/// a replay or a recovered pipeline names the same alert the same way.
pub fn alert_id(position: &PositionKey, opened_at: Time) -> Id {
    let name = format!("{}\u{0}{}\u{0}{}\u{0}{opened_at}", position.tenant_id, position.warehouse_id, position.sku);
    Id::from(Uuid::new_v5(&ALERT_ID_NAMESPACE, name.as_bytes()).hyphenated().to_string())
}

/// An alert that is open: its id and the check last published for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAlert {
    /// The alert's id.
    pub alert_id: Id,
    /// The check in its last OPENED or UPDATED change.
    pub last: ReorderCheck,
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

/// Turns reorder checks into the alert change log.
pub trait AlertLifecycle<'scope> {
    /// **In:** the reorder checks (at most one per position at any time). **Out:** an
    /// insert-only log of [`ReorderAlert`] changes, each at the pipeline time it happened:
    /// OPENED when a position's check starts needing a reorder, UPDATED when an open alert's
    /// projected, reorder point or suggested quantity changes, RESOLVED when projected rises above
    /// the reorder point or the policy is deleted. One alert per crossing: a position going
    /// further down while open updates the same alert. Changes are seen per pipeline time: a dip
    /// and recovery within one time raises nothing.
    ///
    /// **State:** the open alerts (id and last check), bounded by the positions with policies.
    fn alert_changes(self) -> Collection<'scope, ReorderAlert>;
}

impl<'scope> AlertLifecycle<'scope> for Collection<'scope, (PositionKey, ReorderCheck)> {
    fn alert_changes(self) -> Collection<'scope, ReorderAlert> {
        let exchange =
            Exchange::new(|((position, _), _, _): &((PositionKey, ReorderCheck), Time, Diff)| position.hashed());
        self.inner
            .unary_frontier::<CapacityContainerBuilder<Vec<(ReorderAlert, Time, Diff)>>, _, _, _>(
                exchange,
                "AlertLifecycle",
                |_, _| {
                    let mut stash = TimeOrderedStash::new();
                    let mut open_alerts = StateMap::<PositionKey, OpenAlert>::default();
                    move |(input, frontier), output| {
                        input.for_each(|capability, updates| {
                            stash.stash(
                                capability,
                                updates.drain(..).map(|(update, time, diff)| ((update, diff), time)),
                            );
                        });
                        stash.drain_complete(frontier.frontier(), |capability, time, mut updates| {
                            consolidate(&mut updates);
                            // After consolidation a position has at most one retraction (its old
                            // check) and one addition (its new check), sorted together.
                            let mut session = output.session(capability);
                            let mut index = 0;
                            while index < updates.len() {
                                let position = &updates[index].0.0;
                                let mut now = None;
                                while index < updates.len() && updates[index].0.0 == *position {
                                    let ((_, check), diff) = &updates[index];
                                    if *diff > 0 {
                                        now = Some(*check);
                                    }
                                    index += 1;
                                }
                                let open = open_alerts.remove(position);
                                let (change, open) = next_change(position, open, now, time);
                                if let Some(open) = open {
                                    open_alerts.insert(position.clone(), open);
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
