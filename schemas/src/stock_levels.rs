//! Stock levels at one position: the value the stock output holds per key.

use serde::{Deserialize, Serialize};

use crate::{Aggregate, InventoryEvent, InventoryKind, OrderStatus, ReorderPolicy};

/// The stock at one position: the sums of every effect the contract assigns to inventory events
/// and to the lines of current order versions. Also the type of one record's effect on a
/// position.
///
/// Nothing wraps (`CONTRACT.md` §2): the stock operator forms every sum with
/// [`checked_replace`](StockLevels::checked_replace), so the levels the pipeline holds keep every
/// field, `available` and `projected` inside the signed 64-bit range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StockLevels {
    /// Units physically in the warehouse.
    pub on_hand: i64,
    /// Units promised to placed or confirmed orders.
    pub reserved: i64,
    /// Units ordered from suppliers and not yet received.
    pub on_order: i64,
    /// How many current records touch the position: it exists (has been seen) while this is
    /// positive, even when every level is zero.
    pub records: i64,
}

impl StockLevels {
    /// `on_hand - reserved`: exact for levels the pipeline holds, which never leave it out of
    /// range; saturates (never wraps) for any other.
    pub fn available(&self) -> i64 {
        self.on_hand.saturating_sub(self.reserved)
    }

    /// `on_hand - reserved + on_order`: exact for levels the pipeline holds, which never leave it
    /// out of range; saturates (never wraps) for any other.
    pub fn projected(&self) -> i64 {
        self.available().saturating_add(self.on_order)
    }

    /// The levels after `effect`, with every field, `available` and `projected` in range; else
    /// the first aggregate out of range, in the order `on_hand`, `reserved`, `on_order`, record
    /// count, `available`, `projected`.
    pub fn checked_apply(&self, effect: &StockLevels) -> Result<StockLevels, Aggregate> {
        self.checked_replace(&StockLevels::default(), effect)
    }

    /// The levels after an effect they count, `retracted`, is replaced by `added` (an order's
    /// current version by its next), checked as [`checked_apply`](StockLevels::checked_apply).
    /// Each field is formed exactly, so only the result must be in range: the net change
    /// `added - retracted` need not be (a shipment of `2^63` units replaced by none).
    pub fn checked_replace(&self, retracted: &StockLevels, added: &StockLevels) -> Result<StockLevels, Aggregate> {
        let field = |now: i64, retracted: i64, added: i64, aggregate| {
            i64::try_from(i128::from(now) - i128::from(retracted) + i128::from(added)).map_err(|_| aggregate)
        };
        let levels = StockLevels {
            on_hand: field(self.on_hand, retracted.on_hand, added.on_hand, Aggregate::OnHand)?,
            reserved: field(self.reserved, retracted.reserved, added.reserved, Aggregate::Reserved)?,
            on_order: field(self.on_order, retracted.on_order, added.on_order, Aggregate::OnOrder)?,
            records: field(self.records, retracted.records, added.records, Aggregate::RecordCount)?,
        };
        let available = levels.on_hand.checked_sub(levels.reserved).ok_or(Aggregate::Available)?;
        available.checked_add(levels.on_order).ok_or(Aggregate::Projected)?;
        Ok(levels)
    }

    /// [`checked_replace`](StockLevels::checked_replace), then `policy`'s suggested quantity at
    /// the new projected stock in range too (when the position has a policy).
    pub fn checked_replace_with_policy(
        &self,
        retracted: &StockLevels,
        added: &StockLevels,
        policy: Option<&ReorderPolicy>,
    ) -> Result<StockLevels, Aggregate> {
        let levels = self.checked_replace(retracted, added)?;
        match policy {
            Some(policy) => match policy.checked_suggested_quantity(levels.projected()) {
                Some(_) => Ok(levels),
                None => Err(Aggregate::SuggestedQuantity),
            },
            None => Ok(levels),
        }
    }

    /// The field-by-field sum (of two effects, say); else the first field out of range.
    pub fn checked_add(&self, other: &StockLevels) -> Result<StockLevels, Aggregate> {
        Ok(StockLevels {
            on_hand: self.on_hand.checked_add(other.on_hand).ok_or(Aggregate::OnHand)?,
            reserved: self.reserved.checked_add(other.reserved).ok_or(Aggregate::Reserved)?,
            on_order: self.on_order.checked_add(other.on_order).ok_or(Aggregate::OnOrder)?,
            records: self.records.checked_add(other.records).ok_or(Aggregate::RecordCount)?,
        })
    }

    /// Whether no record touches the position: then it is not reported at all.
    pub fn is_zero(&self) -> bool {
        *self == StockLevels::default()
    }

    /// The effect of one inventory event (`CONTRACT.md` §2). Cannot overflow: validation holds
    /// the quantity to `|q| <= 10^15`.
    pub fn of_inventory(event: &InventoryEvent) -> StockLevels {
        let quantity = event.quantity;
        let (on_hand, on_order) = match event.kind {
            InventoryKind::Received if event.purchase_order_id.is_some() => (quantity, -quantity),
            InventoryKind::Received | InventoryKind::TransferredIn | InventoryKind::Adjusted => (quantity, 0),
            InventoryKind::TransferredOut | InventoryKind::Damaged => (-quantity, 0),
            InventoryKind::PurchaseOrdered => (0, quantity),
            InventoryKind::PurchaseCancelled => (0, -quantity),
        };
        StockLevels { on_hand, reserved: 0, on_order, records: 1 }
    }

    /// The effect of a line of `quantity` units of the current version of an order in `status`.
    pub fn of_order_line(status: OrderStatus, quantity: i64) -> StockLevels {
        let (on_hand, reserved) = match status {
            OrderStatus::Placed | OrderStatus::Confirmed => (0, quantity),
            OrderStatus::Shipped | OrderStatus::Delivered => (-quantity, 0),
            OrderStatus::Cancelled | OrderStatus::Returned => (0, 0),
        };
        StockLevels { on_hand, reserved, on_order: 0, records: 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(on_hand: i64, reserved: i64, on_order: i64) -> StockLevels {
        StockLevels { on_hand, reserved, on_order, records: 1 }
    }

    #[test]
    fn applying_an_effect_keeps_every_field_available_and_projected_in_range() {
        let effect = |on_hand, reserved, on_order| StockLevels { on_hand, reserved, on_order, records: 1 };
        assert_eq!(
            levels(i64::MAX - 1, 0, 0).checked_apply(&effect(1, 0, 0)),
            Ok(StockLevels { on_hand: i64::MAX, reserved: 0, on_order: 0, records: 2 })
        );
        assert_eq!(levels(i64::MAX, 0, 0).checked_apply(&effect(1, 0, 0)), Err(Aggregate::OnHand));
        assert_eq!(levels(0, i64::MAX, 0).checked_apply(&effect(0, 1, 0)), Err(Aggregate::Reserved));
        assert_eq!(levels(0, 0, i64::MIN).checked_apply(&effect(0, 0, -1)), Err(Aggregate::OnOrder));
        // Every field fits, the derived ones do not: by exactly one.
        assert_eq!(levels(-1, i64::MAX, 0).checked_apply(&effect(0, 0, 0)).map(|l| l.available()), Ok(i64::MIN));
        assert_eq!(levels(-2, i64::MAX, 0).checked_apply(&effect(0, 0, 0)), Err(Aggregate::Available));
        assert_eq!(levels(i64::MAX, 0, 0).checked_apply(&effect(0, 0, 0)).map(|l| l.projected()), Ok(i64::MAX));
        assert_eq!(levels(i64::MAX, 0, 0).checked_apply(&effect(0, 0, 1)), Err(Aggregate::Projected));
        // The first out of range is named.
        assert_eq!(levels(i64::MAX, i64::MAX, 0).checked_apply(&effect(1, 1, 0)), Err(Aggregate::OnHand));
    }

    #[test]
    fn replacing_an_effect_needs_only_the_result_in_range_not_the_net_change() {
        let shipped = StockLevels { on_hand: i64::MIN, reserved: 0, on_order: 0, records: 1 };
        let reserved = StockLevels { on_hand: 0, reserved: 5, on_order: 0, records: 1 };
        // on_hand moves by 2^63: out of range as a change, in range as a result.
        assert_eq!(shipped.checked_replace(&shipped, &reserved), Ok(reserved));
        assert_eq!(shipped.checked_replace(&shipped, &StockLevels::default()), Ok(StockLevels::default()));
        let stock = levels(1, 0, 0).checked_add(&shipped).unwrap();
        assert_eq!(stock.checked_replace(&shipped, &reserved), Ok(StockLevels { on_hand: 1, records: 2, ..reserved }));
        // The result still must be.
        assert_eq!(levels(i64::MAX, 0, 0).checked_replace(&reserved, &levels(1, 0, 0)), Err(Aggregate::OnHand));
    }

    #[test]
    fn a_policy_adds_its_suggested_quantity_to_what_must_stay_in_range() {
        let policy = ReorderPolicy {
            tenant_id: "t".into(),
            warehouse_id: "w".into(),
            sku: "s".into(),
            reorder_point: 0,
            reorder_quantity: 1,
            max_level: Some(1_000),
            order_multiple: None,
            lead_time_days: None,
        };
        // max_level - projected = 1000 - (MIN + 1001) = MAX: in range; one less projected is not.
        let at = levels(i64::MIN + 1_002, 0, 0);
        let down = StockLevels { on_hand: -1, reserved: 0, on_order: 0, records: 1 };
        let none = StockLevels::default();
        assert!(at.checked_replace_with_policy(&none, &down, Some(&policy)).is_ok());
        let lower = at.checked_apply(&down).unwrap();
        assert_eq!(lower.checked_replace_with_policy(&none, &down, Some(&policy)), Err(Aggregate::SuggestedQuantity));
        assert!(lower.checked_replace_with_policy(&none, &down, None).is_ok());
    }

    #[test]
    fn derived_levels_saturate_instead_of_wrapping_outside_the_pipelines_invariant() {
        assert_eq!(levels(i64::MIN, 1, 0).available(), i64::MIN);
        assert_eq!(levels(i64::MAX, 0, 1).projected(), i64::MAX);
    }
}
