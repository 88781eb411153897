use crate::{InventoryEvent, OrderEvent, PaymentEvent, PolicyUpdate};

/// One record of any input topic, decoded.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InputRecord {
    /// From `flowmart.inventory`.
    Inventory(InventoryEvent),
    /// From `flowmart.orders`.
    Order(OrderEvent),
    /// From `flowmart.payments`.
    Payment(PaymentEvent),
    /// From `flowmart.reorder-policies`.
    Policy(PolicyUpdate),
}

impl InputRecord {
    /// The tenant the record belongs to.
    pub fn tenant_id(&self) -> &crate::Id {
        match self {
            InputRecord::Inventory(event) => &event.tenant_id,
            InputRecord::Order(event) => &event.tenant_id,
            InputRecord::Payment(event) => &event.tenant_id,
            InputRecord::Policy(update) => &update.position.tenant_id,
        }
    }
}
