use serde::{Deserialize, Serialize};

use crate::{Id, TimestampMillis};

/// One change of a reorder alert, as published to `flowmart.reorder-alerts` and the SSE stream
/// (`ReorderAlert.avsc`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReorderAlert {
    /// Stable for the life of the alert, from OPENED to RESOLVED.
    pub alert_id: Id,
    /// The tenant that owns the position.
    pub tenant_id: Id,
    /// The warehouse of the position.
    pub warehouse_id: Id,
    /// The stock-keeping unit of the position.
    pub sku: Id,
    /// Which change this is.
    pub status: ReorderAlertStatus,
    /// on_hand - reserved + on_order at the change.
    pub projected: i64,
    /// The policy's reorder point at the change.
    pub reorder_point: i64,
    /// What to order, by the policy's rule, at the change.
    pub suggested_quantity: i64,
    /// Pipeline time of the change (milliseconds since the epoch).
    pub changed_at: TimestampMillis,
}

/// The changes an alert goes through (Avro enum `ReorderAlertStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReorderAlertStatus {
    /// projected fell to or below the reorder point.
    Opened,
    /// Still open, with a new projected, reorder point or suggested quantity.
    Updated,
    /// projected rose above the reorder point, or the policy was deleted.
    Resolved,
}

impl ReorderAlertStatus {
    /// Every status, in the Avro enum's order.
    pub const ALL: [ReorderAlertStatus; 3] =
        [ReorderAlertStatus::Opened, ReorderAlertStatus::Updated, ReorderAlertStatus::Resolved];

    /// The Avro symbol: `OPENED`, `UPDATED` or `RESOLVED`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReorderAlertStatus::Opened => "OPENED",
            ReorderAlertStatus::Updated => "UPDATED",
            ReorderAlertStatus::Resolved => "RESOLVED",
        }
    }

    /// The status named by its Avro symbol.
    pub fn from_symbol(symbol: &str) -> Option<ReorderAlertStatus> {
        [ReorderAlertStatus::Opened, ReorderAlertStatus::Updated, ReorderAlertStatus::Resolved]
            .into_iter()
            .find(|status| status.as_str() == symbol)
    }
}
