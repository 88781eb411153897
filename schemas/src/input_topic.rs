use serde::{Deserialize, Serialize};

use crate::InputRecord;

/// The four input topics of the contract (`CONTRACT.md` §1), by role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum InputTopic {
    /// `InventoryEvent`s.
    Inventory,
    /// `OrderEvent`s.
    Orders,
    /// `PaymentEvent`s.
    Payments,
    /// `ReorderPolicy` upserts, compacted.
    ReorderPolicies,
}

impl InputTopic {
    /// Every input topic.
    pub const ALL: [InputTopic; 4] =
        [InputTopic::Inventory, InputTopic::Orders, InputTopic::Payments, InputTopic::ReorderPolicies];
}

impl InputRecord {
    /// The topic a record of this type is read from.
    pub fn topic(&self) -> InputTopic {
        match self {
            InputRecord::Inventory(_) => InputTopic::Inventory,
            InputRecord::Order(_) => InputTopic::Orders,
            InputRecord::Payment(_) => InputTopic::Payments,
            InputRecord::Policy(_) => InputTopic::ReorderPolicies,
        }
    }
}
