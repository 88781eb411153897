use flowmart_operators::Time;
use flowmart_operators::settlement_totals::{SettlementDate, SettlementTotals};
use flowmart_operators::stock_positions::StockLevels;
use flowmart_schemas::{Currency, Id, ReorderAlert, ReorderAlertStatus};
use imbl::{OrdMap, OrdSet};

/// Whether an alert is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertState {
    /// projected is at or below the reorder point.
    Open,
    /// projected rose above the reorder point, or the policy was deleted.
    Resolved,
}

/// A reorder alert as the API lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertView {
    /// The alert's id.
    pub alert_id: Id,
    /// The warehouse of the position.
    pub warehouse_id: Id,
    /// The sku of the position.
    pub sku: Id,
    /// Open or resolved.
    pub state: AlertState,
    /// Projected stock at the alert's last change.
    pub projected: i64,
    /// The reorder point at the alert's last change.
    pub reorder_point: i64,
    /// The suggested quantity at the alert's last change.
    pub suggested_quantity: i64,
    /// Pipeline time it opened.
    pub opened_at: Time,
    /// Pipeline time it resolved, if it has.
    pub resolved_at: Option<Time>,
}

/// Everything the index holds for one tenant.
#[derive(Clone, Debug, Default)]
pub struct TenantView {
    /// Stock levels per (warehouse_id, sku).
    pub stock: OrdMap<(Id, Id), StockLevels>,
    /// Alerts by id: every open one, and resolved ones within the retention.
    pub alerts: OrdMap<Id, AlertView>,
    /// Settlement totals per (date, currency).
    pub settlements: OrdMap<(SettlementDate, Currency), SettlementTotals>,
    /// How many alerts are open.
    pub open_alerts: usize,
    /// Resolved alerts by resolution time, to expire them.
    resolved: OrdSet<(Time, Id)>,
}

impl TenantView {
    pub(super) fn apply_alert(&mut self, change: &ReorderAlert) {
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
    pub(super) fn restore_alert(&mut self, alert: AlertView) {
        match alert.resolved_at {
            Some(resolved_at) => {
                self.resolved.insert((resolved_at, alert.alert_id.clone()));
            }
            None => self.open_alerts += 1,
        }
        self.alerts.insert(alert.alert_id.clone(), alert);
    }

    pub(super) fn has_resolved_before(&self, horizon: Time) -> bool {
        self.resolved.get_min().is_some_and(|(resolved_at, _)| *resolved_at < horizon)
    }

    /// Forgets alerts resolved before `horizon`.
    pub(super) fn expire_resolved(&mut self, horizon: Time) {
        while let Some((resolved_at, alert_id)) = self.resolved.get_min().cloned() {
            if resolved_at >= horizon {
                break;
            }
            self.resolved.remove(&(resolved_at, alert_id.clone()));
            self.alerts.remove(&alert_id);
        }
    }
}
