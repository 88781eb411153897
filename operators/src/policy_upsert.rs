//! Policy upsert: the latest reorder policy per position wins; a null value deletes it.

use flowmart_schemas::{PolicyUpdate, PositionKey, ReorderPolicy};

use crate::upsert::{UpsertRules, upsert_ranked};
use crate::{Collection, Sourced};

/// Keeps the latest reorder policy of every position.
pub trait PolicyUpsert<'scope> {
    /// **In:** an insert-only collection of sourced policy updates (from the compacted
    /// `flowmart.reorder-policies` topic). **Out:** per position, the policy of the latest update
    /// — latest pipeline time, then highest source offset — or nothing when that update deletes.
    ///
    /// **State:** per position ever updated, the latest rank and policy (deletes included, so
    /// the state is bounded by the positions the topic names; policies never expire).
    fn upsert_policies(self) -> Collection<'scope, (PositionKey, ReorderPolicy)>;
}

impl<'scope> PolicyUpsert<'scope> for Collection<'scope, Sourced<PolicyUpdate>> {
    fn upsert_policies(self) -> Collection<'scope, (PositionKey, ReorderPolicy)> {
        upsert_ranked(
            self,
            "PolicyUpsert",
            None,
            UpsertRules {
                key: |record: &Sourced<PolicyUpdate>| record.event.position.clone(),
                rank: |record: &Sourced<PolicyUpdate>, time| (time, record.offset),
                value: |record: Sourced<PolicyUpdate>| record.event.policy,
            },
        )
    }
}
