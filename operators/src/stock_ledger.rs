//! The stock ledger: what one record does to the positions, orders and policies it touches, with
//! nothing wrapping (`CONTRACT.md` §2), and the reorder alerts that follow. The stock operator
//! keeps one per worker and applies every record of its tenants to it, in the order the pipeline
//! reads them.

use flowmart_schemas::{
    Aggregate, AggregateKey, AggregateOutOfRange, Diff, Id, InventoryEvent, OpenAlert, OrderEvent, OrderKey,
    OrderState, OrderStatus, PolicyUpdate, PositionKey, ReorderAlert, ReorderCheck, ReorderPolicy, StockLevels,
};

use crate::order_upsert::OrderBook;
use crate::reorder_alerts::next_change;
use crate::{StateMap, Time};

/// One position: its levels (all zero while no current record touches it), its policy and the
/// reorder alert open on it.
#[derive(Default)]
struct Position {
    levels: StockLevels,
    policy: Option<ReorderPolicy>,
    open: Option<OpenAlert>,
    /// The time the position was last touched at, and its levels before that time: what that
    /// time's output retracts.
    before: Option<(Time, StockLevels)>,
}

/// Every position, order and policy of one worker's tenants, and what the current time changed.
///
/// **State:** per position with a current record, a policy or an open alert, its [`StockLevels`],
/// policy and open alert (a position with none of them is dropped): about 330 bytes in the hash
/// map (a 72-byte key, a 256-byte value, rustc 1.95, ids of up to 24 bytes stored inline; an open
/// alert's 36-character id on the heap besides); the [`OrderBook`]'s orders; and, while a time is
/// applied, the keys it touched. Bounded by the live positions and the orders within retention.
pub(crate) struct StockLedger {
    positions: StateMap<PositionKey, Position>,
    orders: OrderBook,
    /// Positions touched at the current time, each once.
    touched: Vec<PositionKey>,
    /// Positions whose policy changed at the current time, with their policy before it.
    policies_before: StateMap<PositionKey, Option<ReorderPolicy>>,
    /// Orders changed at the current time, with their state before it.
    changed_orders: StateMap<OrderKey, Option<OrderState>>,
    time: Time,
}

impl StockLedger {
    pub(crate) fn new(order_retention: Option<Time>) -> Self {
        StockLedger {
            positions: StateMap::default(),
            orders: OrderBook::new(order_retention),
            touched: Vec::new(),
            policies_before: StateMap::default(),
            changed_orders: StateMap::default(),
            time: 0,
        }
    }

    /// Starts applying records at `time` (after every earlier time was [ended](Self::end_time)).
    pub(crate) fn start_time(&mut self, time: Time) {
        self.time = time;
        self.orders.forget_until(time);
    }

    /// Recovered levels of a position (which count every recovered order's lines already).
    pub(crate) fn recover_levels(&mut self, position: PositionKey, levels: StockLevels) {
        self.touch(&position).levels = levels;
    }

    /// A recovered policy.
    pub(crate) fn recover_policy(&mut self, position: PositionKey, policy: ReorderPolicy) {
        self.set_policy(position, Some(policy));
    }

    /// A recovered open alert: the position's, as if just published (it raises no change).
    pub(crate) fn recover_alert(&mut self, position: PositionKey, open: OpenAlert) {
        self.touch(&position).open = Some(open);
    }

    /// A recovered order; call in order of `changed_at`. Its effect is in the recovered levels.
    pub(crate) fn recover_order(&mut self, order: OrderKey, state: OrderState, changed_at: Time) {
        self.set_order(order, state, changed_at);
    }

    /// Applies an inventory event, or refuses it and changes nothing.
    pub(crate) fn apply_inventory(&mut self, event: InventoryEvent) -> Result<(), AggregateOutOfRange> {
        let effect = StockLevels::of_inventory(&event);
        let position = PositionKey { tenant_id: event.tenant_id, warehouse_id: event.warehouse_id, sku: event.sku };
        let levels = self.checked_levels(&position, &StockLevels::default(), &effect)?;
        self.touch(&position).levels = levels;
        Ok(())
    }

    /// Applies a policy update, or refuses a policy whose suggested quantity at the position's
    /// projected stock would be out of range (changing nothing). A delete is never refused.
    pub(crate) fn apply_policy(&mut self, update: PolicyUpdate) -> Result<(), AggregateOutOfRange> {
        if let Some(policy) = &update.policy {
            let projected = self.positions.get(&update.position).map_or(0, |position| position.levels.projected());
            if policy.checked_suggested_quantity(projected).is_none() {
                let key = AggregateKey::Position(update.position);
                return Err(AggregateOutOfRange::new(Aggregate::SuggestedQuantity, key));
            }
        }
        self.set_policy(update.position, update.policy);
        Ok(())
    }

    /// Applies an order record: if it supersedes the order's current version, retracts that
    /// version's effect and adds its own — all of it, or (when any aggregate would leave the
    /// range) none of it, the current version staying. Returns what it changed (`None`: it did
    /// not supersede the current version, and changed nothing).
    pub(crate) fn apply_order(&mut self, order: OrderEvent) -> Result<Option<OrderApplied>, AggregateOutOfRange> {
        let key = (order.tenant_id.clone(), order.order_id.clone());
        let current = self.orders.current(&key);
        if current.is_some_and(|current| order.version <= current.version) {
            return Ok(None);
        }
        let replaced = current.map(|current| current.status);
        // The current version's sums were in range when it was applied (or stored): this never
        // refuses, but neither does it assume.
        let retracted = current.map(|current| LineEffects::checked(&key, current));
        let state = OrderState::from(order);
        let added = LineEffects::checked(&key, &state)?;
        let retracted = retracted.transpose()?.unwrap_or_default();
        let none = StockLevels::default();
        let mut next = Vec::with_capacity(added.list.len() + retracted.list.len());
        for (position, new) in &added.list {
            let old = retracted.get(position).unwrap_or(&none);
            next.push((position, self.checked_levels(position, old, new)?));
        }
        for (position, old) in retracted.list.iter().filter(|(position, _)| added.get(position).is_none()) {
            next.push((position, self.checked_levels(position, old, &none)?));
        }
        let mut deltas = Vec::with_capacity(next.len());
        for (position, levels) in next {
            let before = std::mem::replace(&mut self.touch(position).levels, levels);
            deltas.push((position.clone(), delta(&before, &levels)));
        }
        let time = self.time;
        self.set_order(key, state, time);
        Ok(Some(OrderApplied { replaced, deltas }))
    }

    /// Ends the current time: hands every change it made to `stock`, `policies` and `orders` as
    /// `(data, diff)` (the old value retracted, the new one added), and to `alerts` the alert
    /// change of each position it touched ([`next_change`]: measured at the levels and policy the
    /// time left); drops positions left with no levels, policy or open alert.
    ///
    /// Measuring every touched position, not only those whose projected stock or policy changed
    /// on balance, makes no other change: a position measured as it was last measured keeps its
    /// open alert (or has none) and raises nothing.
    pub(crate) fn end_time(
        &mut self,
        mut stock: impl FnMut((PositionKey, StockLevels), Diff),
        mut policies: impl FnMut((PositionKey, ReorderPolicy), Diff),
        mut orders: impl FnMut((OrderKey, OrderState), Diff),
        mut alerts: impl FnMut(ReorderAlert),
    ) {
        for key in self.touched.drain(..) {
            let Some(position) = self.positions.get_mut(&key) else { continue };
            let Some((_, before)) = position.before.take() else { continue };
            if before != position.levels {
                if !before.is_zero() {
                    stock((key.clone(), before), -1);
                }
                if !position.levels.is_zero() {
                    stock((key.clone(), position.levels), 1);
                }
            }
            if let Some(policy_before) = self.policies_before.remove(&key)
                && policy_before != position.policy
            {
                if let Some(policy) = policy_before {
                    policies((key.clone(), policy), -1);
                }
                if let Some(policy) = &position.policy {
                    policies((key.clone(), policy.clone()), 1);
                }
            }
            let check = position.policy.as_ref().map(|policy| ReorderCheck::of(policy, position.levels.projected()));
            let (change, open) = next_change(&key, position.open.take(), check, self.time);
            position.open = open;
            if let Some(change) = change {
                alerts(change);
            }
            if position.levels.is_zero() && position.policy.is_none() && position.open.is_none() {
                self.positions.remove(&key);
            }
        }
        for (key, before) in self.changed_orders.drain() {
            let after = self.orders.current(&key);
            if before.as_ref() != after {
                if let Some(before) = before {
                    orders((key.clone(), before), -1);
                }
                if let Some(after) = after {
                    orders((key, after.clone()), 1);
                }
            }
        }
    }

    /// The levels of `position` after the effect `retracted` is replaced by `added` (see
    /// [`StockLevels::checked_replace`]), or the first aggregate that would leave the range.
    fn checked_levels(
        &self,
        position: &PositionKey,
        retracted: &StockLevels,
        added: &StockLevels,
    ) -> Result<StockLevels, AggregateOutOfRange> {
        let current = self.positions.get(position);
        let levels = current.map(|current| current.levels).unwrap_or_default();
        let policy = current.and_then(|current| current.policy.as_ref());
        levels
            .checked_replace_with_policy(retracted, added, policy)
            .map_err(|aggregate| AggregateOutOfRange::new(aggregate, AggregateKey::Position(position.clone())))
    }

    /// The position, noting what it held before this time if this is the time's first touch.
    fn touch(&mut self, key: &PositionKey) -> &mut Position {
        if !self.positions.contains_key(key) {
            self.positions.insert(key.clone(), Position::default());
        }
        let position = self.positions.get_mut(key).expect("present: inserted above");
        if position.before.is_none_or(|(time, _)| time != self.time) {
            position.before = Some((self.time, position.levels));
            self.touched.push(key.clone());
        }
        position
    }

    fn set_policy(&mut self, key: PositionKey, policy: Option<ReorderPolicy>) {
        let previous = std::mem::replace(&mut self.touch(&key).policy, policy);
        self.policies_before.entry(key).or_insert(previous);
    }

    fn set_order(&mut self, key: OrderKey, state: OrderState, changed_at: Time) {
        let replaced = self.orders.set(key.clone(), state, changed_at);
        self.changed_orders.entry(key).or_insert(replaced);
    }
}

/// What an order version that became current changed.
#[derive(Debug, PartialEq)]
pub(crate) struct OrderApplied {
    /// The status of the version it replaced (`None`: the order was new, or forgotten).
    pub(crate) replaced: Option<OrderStatus>,
    /// Per position its lines or the replaced version's lines are at (the new version's first,
    /// in order of first appearance), its exact change to on_hand, reserved and on_order.
    pub(crate) deltas: Vec<(PositionKey, [i128; 3])>,
}

/// `after - before` of on_hand, reserved and on_order, exactly.
fn delta(before: &StockLevels, after: &StockLevels) -> [i128; 3] {
    let field = |before: i64, after: i64| i128::from(after) - i128::from(before);
    [
        field(before.on_hand, after.on_hand),
        field(before.reserved, after.reserved),
        field(before.on_order, after.on_order),
    ]
}

/// The effect of an order version's lines on each position they are at: per position, the sum of
/// its lines there, in the order the positions first appear among the lines.
#[derive(Default)]
struct LineEffects {
    list: Vec<(PositionKey, StockLevels)>,
    /// Where each position is in `list`, for long orders (short ones are searched).
    index: Option<StateMap<PositionKey, usize>>,
}

/// Orders with at most this many lines (or positions) are searched instead of indexed.
const SEARCHED: usize = 8;

impl LineEffects {
    /// The effects of `state`'s lines (an order's of `order`), summed with checked arithmetic;
    /// else the first position (in order of first appearance) whose sum leaves the range.
    fn checked(order: &OrderKey, state: &OrderState) -> Result<LineEffects, AggregateOutOfRange> {
        let mut sums: Vec<(PositionKey, Result<StockLevels, Aggregate>)> = Vec::new();
        let indexed = state.lines.len() > SEARCHED;
        let mut index = StateMap::<(&Id, &Id), usize>::default();
        for (warehouse_id, sku, quantity) in &state.lines {
            let effect = StockLevels::of_order_line(state.status, *quantity);
            let found = if indexed {
                index.get(&(warehouse_id, sku)).copied()
            } else {
                sums.iter().position(|(position, _)| position.warehouse_id == *warehouse_id && position.sku == *sku)
            };
            match found {
                Some(at) => sums[at].1 = sums[at].1.and_then(|sum| sum.checked_add(&effect)),
                None => {
                    if indexed {
                        index.insert((warehouse_id, sku), sums.len());
                    }
                    let position = PositionKey::new(order.0.clone(), warehouse_id.clone(), sku.clone());
                    sums.push((position, Ok(effect)));
                }
            }
        }
        let mut list = Vec::with_capacity(sums.len());
        for (position, sum) in sums {
            match sum {
                Ok(effect) => list.push((position, effect)),
                Err(aggregate) => {
                    let key = AggregateKey::OrderLines { order: order.clone(), position };
                    return Err(AggregateOutOfRange::new(aggregate, key));
                }
            }
        }
        let index = (list.len() > SEARCHED)
            .then(|| list.iter().enumerate().map(|(at, (position, _))| (position.clone(), at)).collect());
        Ok(LineEffects { list, index })
    }

    /// The effect at `position`, if the lines have one there.
    fn get(&self, position: &PositionKey) -> Option<&StockLevels> {
        let at = match &self.index {
            Some(index) => index.get(position).copied(),
            None => self.list.iter().position(|(at, _)| at == position),
        };
        at.map(|at| &self.list[at].1)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use flowmart_schemas::{OrderLine, OrderStatus};

    use super::*;

    fn order(version: i32, status: OrderStatus, lines: &[(usize, i64)]) -> OrderEvent {
        OrderEvent {
            event_id: format!("e-{version}").into(),
            tenant_id: "acme".into(),
            order_id: "o-1".into(),
            buyer_id: "b".into(),
            version,
            status,
            lines: lines
                .iter()
                .map(|(sku, quantity)| OrderLine {
                    sku: format!("SKU-{sku}").into(),
                    warehouse_id: "berlin".into(),
                    quantity: *quantity,
                    unit_price_minor: 1,
                })
                .collect(),
            currency: "EUR".into(),
            occurred_at: 0,
        }
    }

    /// The stock the ledger's outputs add up to after each time.
    fn stock_after(ledger: &mut StockLedger, stock: &mut BTreeMap<PositionKey, StockLevels>) {
        ledger.end_time(
            |(position, levels), diff| match diff {
                1 => assert!(stock.insert(position, levels).is_none(), "one value per position"),
                _ => assert_eq!(stock.remove(&position), Some(levels), "retracts the value it holds"),
            },
            |_, _| {},
            |_, _| {},
            |_| {},
        );
    }

    #[test]
    fn a_version_replacing_one_that_ships_2_pow_63_units_is_judged_on_the_levels_it_leaves() {
        let mut ledger = StockLedger::new(None);
        let mut stock = BTreeMap::new();
        let shipped_all = StockLevels { on_hand: i64::MIN, reserved: 0, on_order: 0, records: 2 };
        let reserved = StockLevels { on_hand: 0, reserved: 7, on_order: 0, records: 1 };
        let at = |sku: usize| PositionKey::new("acme", "berlin", format!("SKU-{sku}"));
        // Each replacement moves on_hand by 2^63 (out of range) to a value in range: applied.
        let versions = [
            (OrderStatus::Delivered, vec![(0, i64::MAX), (0, 1)], vec![(at(0), shipped_all)]),
            (OrderStatus::Placed, vec![(0, 7)], vec![(at(0), reserved)]),
            (OrderStatus::Delivered, vec![(0, i64::MAX), (0, 1)], vec![(at(0), shipped_all)]),
            (OrderStatus::Placed, vec![(1, 7)], vec![(at(1), reserved)]),
        ];
        for (version, (status, lines, expected)) in versions.into_iter().enumerate() {
            ledger.start_time(version as Time + 1);
            ledger.apply_order(order(version as i32 + 1, status, &lines)).expect("in range");
            stock_after(&mut ledger, &mut stock);
            assert_eq!(stock, expected.into_iter().collect(), "version {}", version + 1);
        }
    }

    #[test]
    fn a_long_order_over_many_positions_moves_each_by_its_lines_net_of_the_version_it_replaces() {
        let mut ledger = StockLedger::new(None);
        let mut stock = BTreeMap::new();
        // 30 lines over 12 positions (more than are searched), some positions twice or more.
        let first = (0..30).map(|line| (line % 12, 1 + line as i64)).collect::<Vec<_>>();
        let second = (0..20).map(|line| (3 + line % 10, 100)).collect::<Vec<_>>();
        for (time, (version, status, lines)) in
            [(1, OrderStatus::Placed, &first), (2, OrderStatus::Shipped, &second)].into_iter().enumerate()
        {
            ledger.start_time(time as Time + 1);
            ledger.apply_order(order(version, status, lines)).expect("in range");
            stock_after(&mut ledger, &mut stock);
        }
        let mut expected = BTreeMap::<PositionKey, StockLevels>::new();
        for (sku, _) in &second {
            let levels = expected.entry(PositionKey::new("acme", "berlin", format!("SKU-{sku}"))).or_default();
            levels.on_hand -= 100;
            levels.records += 1;
        }
        assert_eq!(stock, expected, "the first version's reservations are all released");
        // A third version that would take one position past the range changes none of them.
        ledger.start_time(3);
        let mut third = second.clone();
        third.extend([(0, i64::MAX), (0, 1)]);
        let refused = ledger.apply_order(order(3, OrderStatus::Placed, &third));
        let lines_at = AggregateKey::OrderLines {
            order: ("acme".into(), "o-1".into()),
            position: PositionKey::new("acme", "berlin", "SKU-0"),
        };
        assert_eq!(refused, Err(AggregateOutOfRange::new(Aggregate::Reserved, lines_at)));
        stock_after(&mut ledger, &mut stock);
        assert_eq!(stock, expected);
    }
}
