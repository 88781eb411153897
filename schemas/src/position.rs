use serde::{Deserialize, Serialize};

use crate::Id;

/// The (tenant, warehouse, sku) position that stock levels, reorder policies and alerts belong to.
///
/// Ordered tenant first, so a tenant's positions sort together, by warehouse then sku.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PositionKey {
    /// The tenant that owns the stock.
    pub tenant_id: Id,
    /// The warehouse holding the stock.
    pub warehouse_id: Id,
    /// The stock-keeping unit.
    pub sku: Id,
}

impl PositionKey {
    /// A key from its three parts.
    pub fn new(tenant_id: impl Into<Id>, warehouse_id: impl Into<Id>, sku: impl Into<Id>) -> Self {
        PositionKey { tenant_id: tenant_id.into(), warehouse_id: warehouse_id.into(), sku: sku.into() }
    }
}
