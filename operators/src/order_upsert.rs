//! Order upsert: only the highest version of each (tenant_id, order_id) counts.

use std::cmp::Reverse;

use flowmart_schemas::{Id, OrderEvent, OrderStatus};
use serde::{Deserialize, Serialize};

use crate::upsert::{UpsertRules, upsert_ranked};
use crate::{Collection, Sourced, Time};

/// An order's identity: the seller and the order id.
pub type OrderKey = (Id, Id);

/// What of an order's current version moves stock: its status and, per line, where and how many.
/// (Prices, buyer and timestamps stay behind: they would only be copied through every operator.)
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OrderState {
    /// The status of the current version.
    pub status: OrderStatus,
    /// `(warehouse_id, sku, quantity)` per line of the current version.
    pub lines: Vec<(Id, Id, i64)>,
}

impl From<OrderEvent> for OrderState {
    fn from(order: OrderEvent) -> Self {
        OrderState {
            status: order.status,
            lines: order.lines.into_iter().map(|line| (line.warehouse_id, line.sku, line.quantity)).collect(),
        }
    }
}

/// Keeps the current version of every order.
pub trait OrderUpsert<'scope> {
    /// **In:** an insert-only collection of sourced order events. **Out:** per (tenant_id,
    /// order_id), the [`OrderState`] of the event with the highest `version`, whatever the arrival order; an equal
    /// version arriving later (a retry, or a conflicting resend) changes nothing, and of two equal
    /// versions at one pipeline time the one read first wins. Because a retry carries an equal
    /// version, orders need no separate event-id dedupe.
    ///
    /// **State:** per order, its current version's rank and [`OrderState`]. With a `retention`, an order unchanged for that
    /// long (pipeline time) is forgotten; its effect on stock stays, and a later version of it
    /// counts as a new order. `retention` must exceed the longest order lifecycle.
    fn upsert_orders(self, retention: Option<Time>) -> Collection<'scope, (OrderKey, OrderState)>;
}

impl<'scope> OrderUpsert<'scope> for Collection<'scope, Sourced<OrderEvent>> {
    fn upsert_orders(self, retention: Option<Time>) -> Collection<'scope, (OrderKey, OrderState)> {
        upsert_ranked(
            self,
            "OrderUpsert",
            retention,
            UpsertRules {
                key: |record: &Sourced<OrderEvent>| (record.event.tenant_id.clone(), record.event.order_id.clone()),
                rank: |record: &Sourced<OrderEvent>, time| (record.event.version, Reverse((time, record.offset))),
                value: |record: Sourced<OrderEvent>| Some(OrderState::from(record.event)),
            },
        )
    }
}
