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
    /// `order_multiple` when set. Saturates instead of overflowing on absurd inputs.
    pub fn suggested_quantity(&self, projected: i64) -> i64 {
        let top_up = self.max_level.map(|max_level| max_level.saturating_sub(projected));
        let quantity = top_up.map_or(self.reorder_quantity, |top_up| top_up.max(self.reorder_quantity));
        match self.order_multiple {
            Some(multiple) if multiple > 0 => quantity
                .div_euclid(multiple)
                .saturating_add(i64::from(quantity.rem_euclid(multiple) != 0))
                .saturating_mul(multiple),
            _ => quantity,
        }
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
    fn policy_keys_split_into_three_non_empty_parts() {
        assert_eq!(PolicyUpdate::parse_key("t/w/s/x"), Some(PositionKey::new("t", "w", "s/x")));
        assert_eq!(PolicyUpdate::parse_key("t/w"), None);
        assert_eq!(PolicyUpdate::parse_key("t//s"), None);
        let key = PositionKey::new("acme", "berlin", "SKU-1");
        assert_eq!(PolicyUpdate::parse_key(&PolicyUpdate::key(&key)), Some(key));
    }
}
