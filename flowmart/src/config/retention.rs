//! `[retention]`: how long per-key state is kept.

use flowmart_schemas::Retention;
use serde::{Deserialize, Serialize};

use super::broken;

/// `[retention]`: how long per-key state is kept (days of pipeline time; 0 keeps forever).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionSettings {
    /// Event ids remembered for dedupe. Default 7.
    pub event_id_days: u64,
    /// Orders kept after their last change. Default 90.
    pub order_days: u64,
    /// Resolved alerts listed by the API. Default 1.
    pub resolved_alert_days: u64,
    /// Lineage rows (`stock_history`, `settlement_history`) kept in Postgres, dropped a whole day's
    /// partition at a time. Default 0: forever.
    pub history_days: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings { event_id_days: 7, order_days: 90, resolved_alert_days: 1, history_days: 0 }
    }
}

pub(super) const DAY_MS: u64 = 24 * 60 * 60 * 1000;
/// The longest retention accepted (100 years): longer ones overflow milliseconds of pipeline
/// time (found by fuzzing, `fuzz/`); 0 keeps forever.
const MAX_RETENTION_DAYS: u64 = 36_500;

impl RetentionSettings {
    /// The operators' retention.
    pub fn operators(&self) -> Retention {
        let days = |days: u64| (days > 0).then(|| days * DAY_MS);
        Retention {
            event_ids_ms: days(self.event_id_days),
            orders_ms: days(self.order_days),
            history_ms: days(self.history_days),
        }
    }

    /// How long resolved alerts stay listed (ms).
    pub fn resolved_alerts_ms(&self) -> u64 {
        if self.resolved_alert_days == 0 { u64::MAX } else { self.resolved_alert_days * DAY_MS }
    }

    /// Its rules, as (setting, problem).
    pub(super) fn problems(&self) -> Vec<(String, String)> {
        let problem = "must be at most 36500 days (0 keeps forever)";
        broken([
            (self.event_id_days <= MAX_RETENTION_DAYS, "retention.event_id_days", problem),
            (self.order_days <= MAX_RETENTION_DAYS, "retention.order_days", problem),
            (self.resolved_alert_days <= MAX_RETENTION_DAYS, "retention.resolved_alert_days", problem),
            (self.history_days <= MAX_RETENTION_DAYS, "retention.history_days", problem),
        ])
    }
}
