//! What a worker hands to the collector: its sealed output, through a bounded channel.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::Duration;

use flowmart_schemas::{Diff, MakeOutput, Output, Outputs, Time, Updates, tenant_owner};

use crate::pipeline::retry_delay;
use crate::{DeadLetter, SourceProgress};

/// A worker's output for the times in `[previous upper, upper)`: complete for this worker.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct WorkerBatch {
    pub(crate) worker: usize,
    pub(crate) upper: Time,
    /// The updates of every output at those times.
    pub(crate) updates: Outputs<Updates>,
    pub(crate) dead_letters: Vec<(Time, DeadLetter)>,
    /// Cumulative progress of this worker's partitions as of each time it read at, in order.
    pub(crate) progress: Vec<(Time, SourceProgress)>,
}

impl WorkerBatch {
    /// What process `process` of a cluster of `processes` × `workers` needs of the batch when it
    /// does not write the results: the updates of the tenants it serves ([`tenant_owner`]), none
    /// of the outputs only a database stores ([`Output::STORED_ONLY`]: recovery state and
    /// lineage), and everything else (dead letters, progress).
    pub(crate) fn served_by(&self, process: usize, processes: usize, workers: usize) -> WorkerBatch {
        struct Served<'a> {
            updates: &'a Outputs<Updates>,
            serves: &'a dyn Fn(&str) -> bool,
        }
        impl MakeOutput<Updates> for Served<'_> {
            fn make<O: Output>(&mut self) -> Vec<(O::Data, Time, Diff)> {
                if O::STORED_ONLY {
                    return Vec::new();
                }
                let serves = |(data, _, _): &&(O::Data, Time, Diff)| O::tenant(data).is_none_or(self.serves);
                O::of(self.updates).iter().filter(serves).cloned().collect()
            }
        }
        let serves = |tenant: &str| tenant_owner(tenant, processes, workers) == process;
        WorkerBatch {
            worker: self.worker,
            upper: self.upper,
            updates: Outputs::make(&mut Served { updates: &self.updates, serves: &serves }),
            dead_letters: self.dead_letters.clone(),
            progress: self.progress.clone(),
        }
    }
}

/// Hands a batch to the collector, waiting while it is full (this is what stops a worker from
/// reading when sinks fall behind). False when the collector is gone or shutdown was asked.
pub(crate) fn send(sender: &SyncSender<WorkerBatch>, mut batch: WorkerBatch, shutdown: &AtomicBool) -> bool {
    let mut attempt = 0;
    loop {
        match sender.try_send(batch) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(returned)) => {
                if shutdown.load(Ordering::Relaxed) {
                    return false;
                }
                batch = returned;
                std::thread::sleep(retry_delay(attempt).min(Duration::from_millis(5)));
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use flowmart_schemas::{EventDigest, InputTopic, PositionKey, StockLevels};

    use super::*;

    #[test]
    fn a_process_is_sent_the_results_of_the_tenants_it_serves_and_every_dead_letter_and_progress() {
        // A cluster of 2 processes × 2 workers; tenants served by each.
        let served_by = |process| {
            (0..).map(|n| format!("tenant-{n}")).find(|tenant| tenant_owner(tenant, 2, 2) == process).unwrap()
        };
        let (ours, theirs) = (served_by(1), served_by(0));
        let mut updates = Outputs::<Updates>::default();
        for tenant in [&ours, &theirs] {
            updates.stock.push(((PositionKey::new(tenant.as_str(), "berlin", "SKU-1"), StockLevels::default()), 7, 1));
        }
        updates.inventory_ids.push((EventDigest::of("e-1"), 7, 1));
        let dead_letter = DeadLetter {
            topic: InputTopic::Inventory,
            partition: 0,
            offset: 3,
            key: None,
            value: None,
            kind: "invalid_record".into(),
            message: "no".into(),
        };
        let mut progress = SourceProgress::default();
        progress.consumed(InputTopic::Inventory, 0, 3);
        let batch = WorkerBatch {
            worker: 2,
            upper: 8,
            updates,
            dead_letters: vec![(7, dead_letter)],
            progress: vec![(7, progress)],
        };

        let sent = batch.served_by(1, 2, 2);
        let tenants =
            sent.updates.stock.iter().map(|((position, _), _, _)| position.tenant_id.as_str()).collect::<Vec<_>>();
        assert_eq!(tenants, [ours.as_str()], "only the tenants process 1 serves");
        assert!(sent.updates.inventory_ids.is_empty(), "what only a database stores stays with process 0");
        assert_eq!((sent.worker, sent.upper), (2, 8));
        assert_eq!((sent.dead_letters, sent.progress), (batch.dead_letters.clone(), batch.progress.clone()));
    }
}
