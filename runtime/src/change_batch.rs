use flowmart_schemas::{NetChanges, Outputs, ReorderAlert, Time};

use crate::{DeadLetter, SourceProgress};

/// Everything the pipeline learned between two frontiers: complete and consolidated.
///
/// After applying every batch up to one with `upper = t`, a sink holds exactly the results of all
/// input records read at pipeline times before `t` — which are the records up to `progress`.
/// Besides the results, a batch carries what only a storing sink takes — the state a restarted
/// pipeline recovers from, and the lineage (the [stored-only](flowmart_schemas::Output::STORED_ONLY)
/// outputs) — empty unless some sink [stores it](crate::Sink::stores_recovery_state).
#[derive(Clone, Debug, Default)]
pub struct ChangeBatch {
    /// The frontier before this batch: its changes are at times `>= lower`.
    pub lower: Time,
    /// The frontier after this batch: its changes are at times `< upper`.
    pub upper: Time,
    /// The net change of every output ([`Output::changes`](flowmart_schemas::Output::changes)):
    /// per key its new value (`None`: gone) in key order, alert changes in the order they
    /// happened, orders and event ids with the time they changed. `refused` is always empty
    /// here: the workers turn refused records into [`dead_letters`](ChangeBatch::dead_letters).
    pub changes: Outputs<NetChanges>,
    /// How many alert changes all earlier batches held, since the stored results began: the
    /// `i`-th change of this batch (from 0) is change number `alerts_before + i + 1`.
    pub alerts_before: u64,
    /// Records that could not be used, read at times in this batch: those the source could not
    /// decode, those breaking a rule, and those the dataflow refused because their effect would
    /// take an aggregate out of range (`aggregate_out_of_range`).
    pub dead_letters: Vec<DeadLetter>,
    /// The next offset per input partition that the results now cover (cumulative).
    pub progress: SourceProgress,
    /// The earliest pipeline time at which a record of this batch was read (`None`: no record
    /// was): how stale the batch's oldest input is when a sink applies it.
    pub oldest_record: Option<Time>,
}

impl ChangeBatch {
    /// The number of each alert change of the batch, in order.
    pub fn numbered_alerts(&self) -> impl Iterator<Item = (u64, &ReorderAlert)> {
        (self.alerts_before + 1..).zip(&self.changes.alerts)
    }
}
