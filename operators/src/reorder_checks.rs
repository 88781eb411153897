//! Reorder checks: each position with a policy, its projected stock against the policy.

use flowmart_schemas::{PositionKey, ReorderPolicy};
use serde::{Deserialize, Serialize};

use crate::Collection;
use crate::stock_positions::StockLevels;

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

/// **In:** the stock positions and the current policies. **Out:** per position that has a
/// policy, `(position, check)`: a left outer join, since a position no event has touched counts
/// as all zeros (and so is measured at projected 0).
///
/// **State:** the join's and antijoin's arrangements: one projected value and one policy per
/// position, compacted every round.
pub fn reorder_checks<'scope>(
    positions: Collection<'scope, (PositionKey, StockLevels)>,
    policies: Collection<'scope, (PositionKey, ReorderPolicy)>,
) -> Collection<'scope, (PositionKey, ReorderCheck)> {
    let projected = positions.map(|(position, levels)| (position, levels.projected()));
    let touched = projected.clone().map(|(position, _)| position);
    let measured = policies
        .clone()
        .join_map(projected, |position, policy, projected| (position.clone(), ReorderCheck::of(policy, *projected)));
    let untouched = policies.antijoin(touched).map(|(position, policy)| {
        let check = ReorderCheck::of(&policy, 0);
        (position, check)
    });
    measured.concat(untouched)
}
