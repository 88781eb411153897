use flowmart_operators::Time;
use flowmart_operators::settlement_totals::{SettlementKey, SettlementTotals};
use flowmart_operators::stock_positions::StockLevels;
use flowmart_schemas::{PositionKey, ReorderAlert};

use crate::{DeadLetter, SourceProgress};

/// Everything the pipeline learned between two frontiers: complete and consolidated.
///
/// After applying every batch up to one with `upper = t`, a sink holds exactly the results of all
/// input records read at pipeline times before `t` — which are the records up to `progress`.
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
    /// Records that could not be used, read at times in this batch.
    pub dead_letters: Vec<DeadLetter>,
    /// The next offset per input partition that the results now cover (cumulative).
    pub progress: SourceProgress,
}
