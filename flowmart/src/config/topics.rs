//! `[topics]`: the names of the topics read and written.

use flowmart_runtime::Topics;
use serde::{Deserialize, Serialize};

use super::broken;

/// `[topics]`: defaults from `CONTRACT.md` §1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TopicSettings {
    /// Default `flowmart.inventory`.
    pub inventory: String,
    /// Default `flowmart.orders`.
    pub orders: String,
    /// Default `flowmart.payments`.
    pub payments: String,
    /// Default `flowmart.reorder-policies`.
    pub reorder_policies: String,
    /// Default `flowmart.reorder-alerts`.
    pub reorder_alerts: String,
    /// Default `flowmart.dlq`.
    pub dlq: String,
}

impl Default for TopicSettings {
    fn default() -> Self {
        let inputs = Topics::default();
        TopicSettings {
            inventory: inputs.inventory,
            orders: inputs.orders,
            payments: inputs.payments,
            reorder_policies: inputs.reorder_policies,
            reorder_alerts: "flowmart.reorder-alerts".into(),
            dlq: "flowmart.dlq".into(),
        }
    }
}

impl TopicSettings {
    /// The input topics.
    pub fn inputs(&self) -> Topics {
        Topics {
            inventory: self.inventory.clone(),
            orders: self.orders.clone(),
            payments: self.payments.clone(),
            reorder_policies: self.reorder_policies.clone(),
        }
    }

    /// Its rules, as (setting, problem).
    pub(super) fn problems(&self) -> Vec<(String, String)> {
        let topics = [
            ("topics.inventory", &self.inventory),
            ("topics.orders", &self.orders),
            ("topics.payments", &self.payments),
            ("topics.reorder_policies", &self.reorder_policies),
            ("topics.reorder_alerts", &self.reorder_alerts),
            ("topics.dlq", &self.dlq),
        ];
        broken(topics.map(|(key, name)| {
            let valid = !name.is_empty()
                && name.len() <= 249
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            (valid, key, "must be a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)")
        }))
    }
}
