use flowmart_operators::Time;
use flowmart_operators::order_upsert::{OrderKey, OrderState};
use flowmart_operators::settlement_totals::{SettlementKey, SettlementTotals};
use flowmart_operators::stock_positions::StockLevels;
use flowmart_schemas::{Id, PositionKey, ReorderAlert, ReorderPolicy};

use crate::{DeadLetter, InputTopic, SourceProgress};

/// Everything the pipeline learned between two frontiers: complete and consolidated.
///
/// After applying every batch up to one with `upper = t`, a sink holds exactly the results of all
/// input records read at pipeline times before `t` — which are the records up to `progress`.
/// Besides the results, a batch carries what a sink must store for a restarted pipeline to
/// recover its state ([`RecoveredState`](flowmart_operators::recovery::RecoveredState)) — empty
/// unless some sink [stores it](crate::Sink::stores_recovery_state).
#[derive(Clone, Debug, Default)]
pub struct ChangeBatch {
    /// The frontier before this batch: its changes are at times `>= lower`.
    pub lower: Time,
    /// The frontier after this batch: its changes are at times `< upper`.
    pub upper: Time,
    /// New stock levels per position (`None`: the position is gone), in position order.
    pub stock: Vec<(PositionKey, Option<StockLevels>)>,
    /// New settlement totals per key (`None`: gone), in key order.
    pub settlements: Vec<(SettlementKey, Option<SettlementTotals>)>,
    /// Alert changes, in the order they happened.
    pub alerts: Vec<ReorderAlert>,
    /// How many alert changes all earlier batches held, since the stored results began: the
    /// `i`-th change of this batch (from 0) is change number `alerts_before + i + 1`.
    pub alerts_before: u64,
    /// Records that could not be used, read at times in this batch.
    pub dead_letters: Vec<DeadLetter>,
    /// The next offset per input partition that the results now cover (cumulative).
    pub progress: SourceProgress,
    /// The earliest pipeline time at which a record of this batch was read (`None`: no record
    /// was): how stale the batch's oldest input is when a sink applies it.
    pub oldest_record: Option<Time>,
    /// For recovery: orders whose current state changed, with the time it did (an order never
    /// leaves the upsert's output, so there are no deletions).
    pub orders: Vec<(OrderKey, OrderState, Time)>,
    /// For recovery: the new policy per position (`None`: deleted).
    pub policies: Vec<(PositionKey, Option<ReorderPolicy>)>,
    /// For recovery: the event ids the dedupe counted (inventory and payments), per time.
    pub event_ids: Vec<(InputTopic, Time, Vec<Id>)>,
}

impl ChangeBatch {
    /// The number of each alert change of the batch, in order.
    pub fn numbered_alerts(&self) -> impl Iterator<Item = (u64, &ReorderAlert)> {
        (self.alerts_before + 1..).zip(&self.alerts)
    }
}
