//! A reorder alert as it stands (open or resolved): what the API lists and the `reorder_alerts`
//! table holds.

use crate::{Id, Time};

/// Whether an alert is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertState {
    /// projected is at or below the reorder point.
    Open,
    /// projected rose above the reorder point, or the policy was deleted.
    Resolved,
}

/// A reorder alert as the API lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertView {
    /// The alert's id.
    pub alert_id: Id,
    /// The warehouse of the position.
    pub warehouse_id: Id,
    /// The sku of the position.
    pub sku: Id,
    /// Open or resolved.
    pub state: AlertState,
    /// Projected stock at the alert's last change.
    pub projected: i64,
    /// The reorder point at the alert's last change.
    pub reorder_point: i64,
    /// The suggested quantity at the alert's last change.
    pub suggested_quantity: i64,
    /// Pipeline time it opened.
    pub opened_at: Time,
    /// Pipeline time it resolved, if it has.
    pub resolved_at: Option<Time>,
}
