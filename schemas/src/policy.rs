use serde::{Deserialize, Serialize};

use crate::{Id, PositionKey};

/// When and how much to reorder at one position (`ReorderPolicy.avsc`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReorderPolicy {
    /// The tenant that owns the position.
    pub tenant_id: Id,
    /// The warehouse of the position.
    pub warehouse_id: Id,
    /// The stock-keeping unit of the position.
    pub sku: Id,
    /// An alert is open while projected <= reorder_point; >= 0.
    pub reorder_point: i64,
    /// The least quantity suggested; > 0.
    pub reorder_quantity: i64,
    /// When set, the suggestion tops projected up to this level if that is more.
    #[serde(default)]
    pub max_level: Option<i64>,
    /// When set (> 0), the suggestion is rounded up to a multiple of it.
    #[serde(default)]
    pub order_multiple: Option<i64>,
    /// Supplier lead time, informational.
    #[serde(default)]
    pub lead_time_days: Option<i32>,
}

impl ReorderPolicy {
    /// The position this policy governs.
    pub fn position(&self) -> PositionKey {
        PositionKey::new(self.tenant_id.clone(), self.warehouse_id.clone(), self.sku.clone())
    }

    /// `suggested_quantity` for a position at `projected`: `max(reorder_quantity, max_level -
    /// projected)` (the second term only when `max_level` is set), rounded up to a multiple of
    /// `order_multiple` when set; `None` when that is outside the signed 64-bit range.
    ///
    /// The stock operator refuses every record that would make it so (`CONTRACT.md` §2, "Nothing
    /// wraps"), so for a position the pipeline holds it is always `Some`.
    pub fn checked_suggested_quantity(&self, projected: i64) -> Option<i64> {
        let quantity = match self.max_level {
            Some(max_level) => match max_level.checked_sub(projected) {
                Some(top_up) => top_up.max(self.reorder_quantity),
                // Below i64::MIN, so below reorder_quantity: the maximum is reorder_quantity.
                None if projected > 0 => self.reorder_quantity,
                None => return None,
            },
            None => self.reorder_quantity,
        };
        match self.order_multiple {
            Some(multiple) if multiple > 0 && quantity.rem_euclid(multiple) != 0 => {
                quantity.div_euclid(multiple).checked_add(1)?.checked_mul(multiple)
            }
            _ => Some(quantity),
        }
    }

    /// [`checked_suggested_quantity`](ReorderPolicy::checked_suggested_quantity), which is exact
    /// for every position the pipeline holds; saturates (never wraps) for any other.
    pub fn suggested_quantity(&self, projected: i64) -> i64 {
        // It can only ever be too large.
        self.checked_suggested_quantity(projected).unwrap_or(i64::MAX)
    }
}

/// One record of the compacted policies topic: the latest per key wins, `None` deletes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PolicyUpdate {
    /// The position, from the record key `tenant_id/warehouse_id/sku`.
    pub position: PositionKey,
    /// The new policy, or `None` when the policy is deleted (a null value).
    pub policy: Option<ReorderPolicy>,
}

impl PolicyUpdate {
    /// Parses a policies-topic key `tenant_id/warehouse_id/sku`; the sku may itself contain `/`.
    pub fn parse_key(key: &str) -> Option<PositionKey> {
        let mut parts = key.splitn(3, '/');
        let (tenant_id, warehouse_id, sku) = (parts.next()?, parts.next()?, parts.next()?);
        [tenant_id, warehouse_id, sku]
            .iter()
            .all(|part| !part.is_empty())
            .then(|| PositionKey::new(tenant_id, warehouse_id, sku))
    }

    /// The policies-topic key of a position.
    pub fn key(position: &PositionKey) -> String {
        format!("{}/{}/{}", position.tenant_id, position.warehouse_id, position.sku)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(reorder_quantity: i64, max_level: Option<i64>, order_multiple: Option<i64>) -> ReorderPolicy {
        ReorderPolicy {
            tenant_id: "t".into(),
            warehouse_id: "w".into(),
            sku: "s".into(),
            reorder_point: 10,
            reorder_quantity,
            max_level,
            order_multiple,
            lead_time_days: None,
        }
    }

    #[test]
    fn suggested_quantity_is_reorder_quantity_without_max_level() {
        assert_eq!(policy(25, None, None).suggested_quantity(-40), 25);
    }

    #[test]
    fn suggested_quantity_tops_up_to_max_level_when_that_is_more() {
        assert_eq!(policy(25, Some(100), None).suggested_quantity(5), 95);
        assert_eq!(policy(25, Some(100), None).suggested_quantity(90), 25);
    }

    #[test]
    fn suggested_quantity_rounds_up_to_the_order_multiple() {
        assert_eq!(policy(25, Some(100), Some(12)).suggested_quantity(5), 96);
        assert_eq!(policy(24, None, Some(12)).suggested_quantity(5), 24);
        assert_eq!(policy(1, None, Some(12)).suggested_quantity(5), 12);
    }

    #[test]
    fn suggested_quantity_out_of_range_is_none_by_exactly_one() {
        // max_level - projected: MAX exactly, then one more.
        assert_eq!(policy(1, Some(0), None).checked_suggested_quantity(-i64::MAX), Some(i64::MAX));
        assert_eq!(policy(1, Some(0), None).checked_suggested_quantity(i64::MIN), None);
        // Rounding up: to the largest multiple of 10 in range, then past it.
        let largest = i64::MAX - i64::MAX % 10;
        assert_eq!(policy(1, Some(0), Some(10)).checked_suggested_quantity(-largest), Some(largest));
        assert_eq!(policy(1, Some(0), Some(10)).checked_suggested_quantity(-largest - 1), None);
        // A projected so high that max_level - projected is below i64::MIN: reorder_quantity.
        assert_eq!(policy(5, Some(-10), Some(3)).checked_suggested_quantity(i64::MAX), Some(6));
        assert_eq!(policy(5, Some(0), None).suggested_quantity(i64::MIN), i64::MAX);
    }

    #[test]
    fn policy_keys_split_into_three_non_empty_parts() {
        assert_eq!(PolicyUpdate::parse_key("t/w/s/x"), Some(PositionKey::new("t", "w", "s/x")));
        assert_eq!(PolicyUpdate::parse_key("t/w"), None);
        assert_eq!(PolicyUpdate::parse_key("t//s"), None);
        let key = PositionKey::new("acme", "berlin", "SKU-1");
        assert_eq!(PolicyUpdate::parse_key(&PolicyUpdate::key(&key)), Some(key));
    }
}
