//! The reorder alert lifecycle: each position with a policy measured against it, one alert per
//! crossing, with OPENED / UPDATED / RESOLVED changes. The stock operator applies it to every
//! position a time touched (`stock_positions.rs`), where the position's levels and policy are.

use flowmart_schemas::{Id, OpenAlert, PositionKey, ReorderAlert, ReorderAlertStatus, ReorderCheck};
use uuid::Uuid;

use crate::Time;

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
/// The one rule of the lifecycle, applied by the stock ledger and nothing else; the reference
/// model states it again independently.
pub(crate) fn next_change(
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
