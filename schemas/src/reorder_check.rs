//! A position measured against its reorder policy, and the alert open on it: the state the
//! stock operator keeps per position and recovers from.

use serde::{Deserialize, Serialize};

use crate::{Id, ReorderPolicy};

/// A position with a policy, measured against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReorderCheck {
    /// The position's projected stock (zero for a position no event has touched).
    pub projected: i64,
    /// The policy's reorder point.
    pub reorder_point: i64,
    /// What the policy suggests ordering at this projected level.
    pub suggested_quantity: i64,
}

impl ReorderCheck {
    /// Measures `projected` against `policy`.
    pub fn of(policy: &ReorderPolicy, projected: i64) -> ReorderCheck {
        ReorderCheck {
            projected,
            reorder_point: policy.reorder_point,
            suggested_quantity: policy.suggested_quantity(projected),
        }
    }

    /// An alert is open while `projected <= reorder_point`.
    pub fn needs_reorder(&self) -> bool {
        self.projected <= self.reorder_point
    }
}

/// An alert that is open: its id and the check last published for it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OpenAlert {
    /// The alert's id.
    pub alert_id: Id,
    /// The check in its last OPENED or UPDATED change.
    pub last: ReorderCheck,
}
