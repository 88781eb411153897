//! Order upsert: only the highest version of each (tenant_id, order_id) counts.

use std::cmp::Reverse;

use flowmart_schemas::{OrderEvent, OrderKey, OrderState, RecoveredOrder};

use crate::upsert::{UpsertRules, upsert_ranked};
use crate::{Collection, SourceOffset, Sourced, Time};

/// An order's rank: the highest version wins; of equal versions, the one ingested first.
type OrderRank = (i32, Reverse<(Time, SourceOffset)>);

/// Keeps the current version of every order.
pub trait OrderUpsert<'scope> {
    /// **In:** an insert-only collection of sourced order events, and recovered orders. **Out:**
    /// per (tenant_id, order_id), the [`OrderState`] of the event with the highest `version`,
    /// whatever the arrival order; an equal version arriving later (a retry, or a conflicting
    /// resend) changes nothing, and of two equal versions at one pipeline time the one read first
    /// wins. Because a retry carries an equal version, orders need no separate event-id dedupe. A
    /// recovered order counts as its version ingested before anything else.
    ///
    /// **State:** per order, its current version's rank and [`OrderState`]. With a `retention`, an order unchanged for that
    /// long (pipeline time) is forgotten; its effect on stock stays, and a later version of it
    /// counts as a new order. `retention` must exceed the longest order lifecycle.
    fn upsert_orders(
        self,
        recovered: Collection<'scope, RecoveredOrder>,
        retention: Option<Time>,
    ) -> Collection<'scope, (OrderKey, OrderState)>;
}

impl<'scope> OrderUpsert<'scope> for Collection<'scope, Sourced<OrderEvent>> {
    fn upsert_orders(
        self,
        recovered: Collection<'scope, RecoveredOrder>,
        retention: Option<Time>,
    ) -> Collection<'scope, (OrderKey, OrderState)> {
        let seeds = recovered.map(|(key, (state, changed_at))| {
            let rank: OrderRank = (state.version, Reverse((0, SourceOffset::default())));
            (key, (rank, state, changed_at))
        });
        upsert_ranked(
            self,
            seeds,
            "OrderUpsert",
            retention,
            UpsertRules {
                key: |record: &Sourced<OrderEvent>| (record.event.tenant_id.clone(), record.event.order_id.clone()),
                rank: |record: &Sourced<OrderEvent>, time| -> OrderRank {
                    (record.event.version, Reverse((time, record.offset)))
                },
                value: |record: Sourced<OrderEvent>| Some(OrderState::from(record.event)),
            },
        )
    }
}
