//! How long per-key state that would otherwise grow without bound is kept.

use crate::Time;

/// How long the operators (and what a sink stores for them) keep per-key state that would
/// otherwise grow without bound, in pipeline time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Event ids remembered for dedupe; `None` keeps every id.
    pub event_ids_ms: Option<Time>,
    /// Orders kept after their last change; `None` keeps every order.
    pub orders_ms: Option<Time>,
    /// Lineage rows a sink keeps after they were applied, in whole days; `None` keeps them all.
    /// (The operators keep no lineage: this binds sinks only.)
    pub history_ms: Option<Time>,
}

impl Default for Retention {
    /// Event ids for 7 days (far beyond any producer retry), orders for 90 days after their
    /// last change (beyond a wholesale order's life, returns included), lineage forever.
    fn default() -> Self {
        const DAY_MS: Time = 24 * 60 * 60 * 1000;
        Retention { event_ids_ms: Some(7 * DAY_MS), orders_ms: Some(90 * DAY_MS), history_ms: None }
    }
}
