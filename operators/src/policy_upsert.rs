//! Policy upsert: the latest reorder policy per position wins; a null value deletes it.

use flowmart_schemas::{PolicyUpdate, PositionKey, ReorderPolicy};

use crate::upsert::{UpsertRules, upsert_ranked};
use crate::{Collection, SourceOffset, Sourced};

/// Keeps the latest reorder policy of every position.
pub trait PolicyUpsert<'scope> {
    /// **In:** an insert-only collection of sourced policy updates (from the compacted
    /// `flowmart.reorder-policies` topic), and recovered policies. **Out:** per position, the
    /// policy of the latest update — latest pipeline time, then highest source offset — or
    /// nothing when that update deletes. A recovered policy counts as older than any update.
    ///
    /// **State:** per position ever updated, the latest rank and policy (deletes included, so
    /// the state is bounded by the positions the topic names; policies never expire).
    fn upsert_policies(
        self,
        recovered: Collection<'scope, (PositionKey, ReorderPolicy)>,
    ) -> Collection<'scope, (PositionKey, ReorderPolicy)>;
}

impl<'scope> PolicyUpsert<'scope> for Collection<'scope, Sourced<PolicyUpdate>> {
    fn upsert_policies(
        self,
        recovered: Collection<'scope, (PositionKey, ReorderPolicy)>,
    ) -> Collection<'scope, (PositionKey, ReorderPolicy)> {
        let seeds = recovered.map(|(position, policy)| (position, ((0, SourceOffset::default()), policy, 0)));
        upsert_ranked(
            self,
            seeds,
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
