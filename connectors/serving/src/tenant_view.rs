use flowmart_schemas::{
    AlertState, AlertView, Currency, Id, ReorderAlert, ReorderAlertStatus, ReorderPolicy, SettlementDate,
    SettlementTotals, StockLevels, Time,
};
use imbl::{OrdMap, OrdSet};

/// Everything the index holds for one tenant.
#[derive(Clone, Debug, Default)]
pub struct TenantView {
    /// Stock levels per (warehouse_id, sku).
    pub stock: OrdMap<(Id, Id), StockLevels>,
    /// Alerts by id: every open one, and resolved ones within the retention.
    pub alerts: OrdMap<Id, AlertView>,
    /// Settlement totals per (date, currency).
    pub settlements: OrdMap<(SettlementDate, Currency), SettlementTotals>,
    /// The reorder policy's terms per (warehouse_id, sku), for the replenishment view.
    pub policies: OrdMap<(Id, Id), PolicyTerms>,
    /// How many alerts are open.
    pub open_alerts: usize,
    /// Resolved alerts by resolution time, to expire them.
    resolved: OrdSet<(Time, Id)>,
}

impl TenantView {
    pub(crate) fn apply_alert(&mut self, change: &ReorderAlert) {
        let changed_at = change.changed_at as Time;
        match change.status {
            ReorderAlertStatus::Opened => {
                self.open_alerts += 1;
                self.alerts.insert(
                    change.alert_id.clone(),
                    AlertView {
                        alert_id: change.alert_id.clone(),
                        warehouse_id: change.warehouse_id.clone(),
                        sku: change.sku.clone(),
                        state: AlertState::Open,
                        projected: change.projected,
                        reorder_point: change.reorder_point,
                        suggested_quantity: change.suggested_quantity,
                        opened_at: changed_at,
                        resolved_at: None,
                    },
                );
            }
            ReorderAlertStatus::Updated | ReorderAlertStatus::Resolved => {
                let Some(alert) = self.alerts.get_mut(&change.alert_id) else {
                    // An alert opened before this index existed (a recovered pipeline): it
                    // becomes known from its next change.
                    return self.apply_alert(&ReorderAlert { status: ReorderAlertStatus::Opened, ..change.clone() });
                };
                alert.projected = change.projected;
                alert.reorder_point = change.reorder_point;
                alert.suggested_quantity = change.suggested_quantity;
                if change.status == ReorderAlertStatus::Resolved && alert.state == AlertState::Open {
                    alert.state = AlertState::Resolved;
                    alert.resolved_at = Some(changed_at);
                    self.open_alerts -= 1;
                    self.resolved.insert((changed_at, change.alert_id.clone()));
                }
            }
        }
    }

    /// Adds an alert as stored (a recovered index).
    pub(crate) fn restore_alert(&mut self, alert: AlertView) {
        match alert.resolved_at {
            Some(resolved_at) => {
                self.resolved.insert((resolved_at, alert.alert_id.clone()));
            }
            None => self.open_alerts += 1,
        }
        self.alerts.insert(alert.alert_id.clone(), alert);
    }

    pub(crate) fn has_resolved_before(&self, horizon: Time) -> bool {
        self.resolved.get_min().is_some_and(|(resolved_at, _)| *resolved_at < horizon)
    }

    /// Forgets alerts resolved before `horizon`; returns their ids.
    pub(crate) fn expire_resolved(&mut self, horizon: Time) -> Vec<Id> {
        let mut expired = Vec::new();
        while let Some((resolved_at, alert_id)) = self.resolved.get_min().cloned() {
            if resolved_at >= horizon {
                break;
            }
            self.resolved.remove(&(resolved_at, alert_id.clone()));
            self.alerts.remove(&alert_id);
            expired.push(alert_id);
        }
        expired
    }
}

/// What a reorder policy says beyond its reorder point (which each alert carries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyTerms {
    /// The least quantity suggested.
    pub reorder_quantity: i64,
    /// The level a suggestion tops projected up to, when set.
    pub max_level: Option<i64>,
    /// What suggestions are rounded up to a multiple of, when set.
    pub order_multiple: Option<i64>,
    /// The supplier's lead time in days, when given.
    pub lead_time_days: Option<i32>,
}

impl From<&ReorderPolicy> for PolicyTerms {
    fn from(policy: &ReorderPolicy) -> Self {
        PolicyTerms {
            reorder_quantity: policy.reorder_quantity,
            max_level: policy.max_level,
            order_multiple: policy.order_multiple,
            lead_time_days: policy.lead_time_days,
        }
    }
}
