//! What a worker hands to the collector: its sealed output, through a bounded channel.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::Duration;

use flowmart_schemas::{ForEachOutput, Output, Outputs, Time, Updates, for_each_output, tenant_owner};

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
    /// Splits the batch among the processes of a cluster of `processes` × `workers`, in one pass
    /// that finds each update's owner once: entry `p` is what process `p` is sent. Each process
    /// gets the updates of the tenants it serves ([`tenant_owner`]), those of outputs with no
    /// tenant ([`Output::tenant`]: alert changes), and every dead letter and progress report. A
    /// process 0 that `stores_every_result` (it has a database) gets the whole batch; no other
    /// process gets the outputs only a database stores ([`Output::STORED_ONLY`]: recovery state
    /// and lineage).
    pub(crate) fn split(self, processes: usize, workers: usize, stores_every_result: bool) -> Vec<WorkerBatch> {
        struct Split<'a> {
            whole: &'a mut Outputs<Updates>,
            parts: Vec<Outputs<Updates>>,
            owner: &'a dyn Fn(&str) -> usize,
            stores_every_result: bool,
        }
        impl ForEachOutput for Split<'_> {
            fn each<O: Output>(&mut self) {
                let updates = std::mem::take(O::of_mut(self.whole));
                if self.stores_every_result {
                    if !O::STORED_ONLY {
                        for update in &updates {
                            match O::tenant(&update.0).map(self.owner) {
                                Some(0) => {}
                                Some(owner) => O::of_mut(&mut self.parts[owner]).push(update.clone()),
                                None => {
                                    self.parts[1..].iter_mut().for_each(|part| O::of_mut(part).push(update.clone()))
                                }
                            }
                        }
                    }
                    *O::of_mut(&mut self.parts[0]) = updates;
                } else if !O::STORED_ONLY {
                    for update in updates {
                        match O::tenant(&update.0).map(self.owner) {
                            Some(owner) => O::of_mut(&mut self.parts[owner]).push(update),
                            None => {
                                self.parts[1..].iter_mut().for_each(|part| O::of_mut(part).push(update.clone()));
                                O::of_mut(&mut self.parts[0]).push(update);
                            }
                        }
                    }
                }
            }
        }
        let WorkerBatch { worker, upper, mut updates, dead_letters, progress } = self;
        let owner = |tenant: &str| tenant_owner(tenant, processes, workers);
        let mut split = Split {
            whole: &mut updates,
            parts: (0..processes).map(|_| Outputs::default()).collect(),
            owner: &owner,
            stores_every_result,
        };
        for_each_output(&mut split);
        split
            .parts
            .into_iter()
            .map(|updates| WorkerBatch {
                worker,
                upper,
                updates,
                dead_letters: dead_letters.clone(),
                progress: progress.clone(),
            })
            .collect()
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
    use flowmart_schemas::{EventDigest, InputTopic, PositionKey, ReorderAlert, ReorderAlertStatus, StockLevels};

    use super::*;

    /// A batch of a worker of a 2 × 2 cluster with a stock update of a tenant of each process, an
    /// alert change of process 0's tenant, an event id counted, a dead letter and progress; and
    /// the tenants of process 0 and 1.
    fn batch() -> (WorkerBatch, [String; 2]) {
        let served_by = |process| {
            (0..).map(|n| format!("tenant-{n}")).find(|tenant| tenant_owner(tenant, 2, 2) == process).unwrap()
        };
        let tenants = [served_by(0), served_by(1)];
        let mut updates = Outputs::<Updates>::default();
        for tenant in &tenants {
            updates.stock.push(((PositionKey::new(tenant.as_str(), "berlin", "SKU-1"), StockLevels::default()), 7, 1));
        }
        let alert = ReorderAlert {
            alert_id: "a-1".into(),
            tenant_id: tenants[0].as_str().into(),
            warehouse_id: "berlin".into(),
            sku: "SKU-1".into(),
            status: ReorderAlertStatus::Opened,
            projected: 3,
            reorder_point: 5,
            suggested_quantity: 10,
            changed_at: 7,
        };
        updates.alerts.push((alert, 7, 1));
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
        (batch, tenants)
    }

    fn stock_tenants(batch: &WorkerBatch) -> Vec<&str> {
        batch.updates.stock.iter().map(|((position, _), _, _)| position.tenant_id.as_str()).collect()
    }

    #[test]
    fn each_process_is_sent_the_results_of_the_tenants_it_serves_every_alert_dead_letter_and_progress() {
        let (batch, tenants) = batch();
        let parts = batch.clone().split(2, 2, false);
        assert_eq!(parts.len(), 2);
        for (process, part) in parts.iter().enumerate() {
            assert_eq!(stock_tenants(part), [tenants[process].as_str()], "only the tenants process {process} serves");
            assert_eq!(part.updates.alerts, batch.updates.alerts, "every alert change: all number them alike");
            assert!(part.updates.inventory_ids.is_empty(), "what only a database stores goes nowhere");
            assert_eq!((part.worker, part.upper), (2, 8));
            assert_eq!((&part.dead_letters, &part.progress), (&batch.dead_letters, &batch.progress));
        }
    }

    #[test]
    fn a_process_0_that_stores_every_result_is_sent_the_whole_batch() {
        let (batch, tenants) = batch();
        let parts = batch.clone().split(2, 2, true);
        assert_eq!(parts[0].updates, batch.updates, "process 0: all of it, what only a database stores too");
        assert_eq!(stock_tenants(&parts[1]), [tenants[1].as_str()], "process 1: its own tenants");
        assert_eq!(parts[1].updates.alerts, batch.updates.alerts, "and every alert change");
        assert!(parts[1].updates.inventory_ids.is_empty());
        for part in &parts {
            assert_eq!((&part.dead_letters, &part.progress), (&batch.dead_letters, &batch.progress));
        }
    }
}
