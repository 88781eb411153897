//! What procurement said about its alerts — acknowledged, snoozed — kept beside the pipeline's
//! results for as long as the alert is in the index.

use std::collections::HashMap;
use std::sync::RwLock;

use flowmart_schemas::Id;
use serde::Serialize;

/// A tenant's acknowledgement and snooze of one alert. A new crossing is a new alert id, so it
/// starts with none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AlertAnnotation {
    /// When it was acknowledged (ms since the epoch).
    pub acknowledged_at: Option<i64>,
    /// The id of the key that acknowledged it.
    pub acknowledged_by: Option<String>,
    /// The last note given with an acknowledgement or a snooze.
    pub note: Option<String>,
    /// Until when it is snoozed (ms since the epoch); a time passed means not snoozed.
    pub snoozed_until: Option<i64>,
}

impl AlertAnnotation {
    /// Whether it takes the alert out of "needs attention" at `now` (ms since the epoch).
    pub fn settles(&self, now: i64) -> bool {
        self.acknowledged_at.is_some() || self.snoozed_until.is_some_and(|until| until > now)
    }
}

/// Every tenant's annotations, by alert id. Bounded by the alerts the index holds: the index
/// writer forgets an alert's annotation when it forgets the alert.
#[derive(Default)]
pub(crate) struct Annotations {
    by_tenant: RwLock<HashMap<Id, HashMap<Id, AlertAnnotation>>>,
    /// Held across a change of an annotation ([`crate::ServingIndex::annotating`]).
    pub(crate) writing: tokio::sync::Mutex<()>,
}

impl Annotations {
    pub(crate) fn get(&self, tenant_id: &str, alert_id: &str) -> Option<AlertAnnotation> {
        let tenants = self.by_tenant.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        tenants.get(tenant_id)?.get(alert_id).cloned()
    }

    /// The tenant's annotations, by alert id.
    pub(crate) fn of_tenant(&self, tenant_id: &str) -> HashMap<Id, AlertAnnotation> {
        let tenants = self.by_tenant.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        tenants.get(tenant_id).cloned().unwrap_or_default()
    }

    pub(crate) fn set(&self, tenant_id: &Id, alert_id: &Id, annotation: AlertAnnotation) {
        let mut tenants = self.by_tenant.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        tenants.entry(tenant_id.clone()).or_default().insert(alert_id.clone(), annotation);
    }

    pub(crate) fn forget(&self, tenant_id: &str, alert_ids: &[Id]) {
        let mut tenants = self.by_tenant.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(alerts) = tenants.get_mut(tenant_id) {
            for alert_id in alert_ids {
                alerts.remove(alert_id);
            }
            if alerts.is_empty() {
                tenants.remove(tenant_id);
            }
        }
    }
}
