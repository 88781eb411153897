//! Order upsert: only the highest version of each (tenant_id, order_id) counts.

use std::collections::VecDeque;

use flowmart_schemas::{OrderKey, OrderState};

use crate::{StateMap, Time};

/// The current version of every order one worker knows, and the rule that picks it: a record
/// supersedes the current version only with a strictly higher `version`, so of equal versions
/// the one applied first stays (a retry, or a conflicting resend, changes nothing). The stock
/// operator applies records in the order the pipeline reads them (by pipeline time, then source
/// position), so whatever the arrival order the highest version wins, and of two equal versions
/// the one read first. Because a retry carries an equal version, orders need no separate event-id
/// dedupe.
///
/// A version the stock operator refuses (its effect would take an aggregate out of range) is
/// never [set](OrderBook::set): the current version stays, and a later record with a higher
/// version than it — a retry of the refused one included — is judged afresh.
///
/// **State:** per order, its current [`OrderState`] and when it last changed — about 140 bytes
/// and 56 per line (ids of up to 24 bytes stored inline), and one entry of the retention's queue
/// per change within the retention. With a `retention`,
/// an order unchanged for that long (pipeline time) is forgotten; its effect on stock stays, and
/// a later version of it counts as a new order. `retention` must exceed the longest order
/// lifecycle.
pub(crate) struct OrderBook {
    current: StateMap<OrderKey, CurrentOrder>,
    /// `(forget at, order)` in time order: when each order's retention runs out, unless it
    /// changed since.
    forget_queue: VecDeque<(Time, OrderKey)>,
    retention: Option<Time>,
}

struct CurrentOrder {
    state: OrderState,
    changed_at: Time,
}

impl OrderBook {
    pub(crate) fn new(retention: Option<Time>) -> Self {
        OrderBook { current: StateMap::default(), forget_queue: VecDeque::new(), retention }
    }

    /// The current version of `order`, if it is known.
    pub(crate) fn current(&self, order: &OrderKey) -> Option<&OrderState> {
        self.current.get(order).map(|current| &current.state)
    }

    /// Makes `state` the current version of `order`, changed at `changed_at`, and returns the
    /// version it replaced. Calls must come in order of `changed_at` (recovered orders, sorted,
    /// before any record).
    pub(crate) fn set(&mut self, order: OrderKey, state: OrderState, changed_at: Time) -> Option<OrderState> {
        if let Some(retention) = self.retention {
            self.forget_queue.push_back((changed_at + retention, order.clone()));
        }
        self.current.insert(order, CurrentOrder { state, changed_at }).map(|replaced| replaced.state)
    }

    /// Forgets every order unchanged for the retention as of `time`: called before anything at
    /// `time` is applied.
    pub(crate) fn forget_until(&mut self, time: Time) {
        let Some(retention) = self.retention else { return };
        while let Some((forget_at, _)) = self.forget_queue.front()
            && *forget_at <= time
        {
            let (forget_at, order) = self.forget_queue.pop_front().expect("front was just seen");
            if self.current.get(&order).is_some_and(|current| current.changed_at + retention == forget_at) {
                self.current.remove(&order);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use flowmart_schemas::OrderStatus;

    use super::*;

    fn state(version: i32) -> OrderState {
        OrderState { version, status: OrderStatus::Placed, lines: vec![("berlin".into(), "SKU-1".into(), 3)] }
    }

    #[test]
    fn setting_a_version_returns_the_one_it_replaced_and_an_order_is_forgotten_after_its_retention() {
        let order: OrderKey = ("acme".into(), "o-1".into());
        let mut book = OrderBook::new(Some(10));
        assert_eq!(book.set(order.clone(), state(2), 5), None);
        assert_eq!(book.set(order.clone(), state(3), 8), Some(state(2)), "returns the version it replaced");
        book.forget_until(15);
        assert_eq!(book.current(&order).map(|state| state.version), Some(3), "changed at 8: kept until 18");
        book.forget_until(18);
        assert_eq!(book.current(&order), None, "a forgotten order's next version counts as a new order");
    }
}
