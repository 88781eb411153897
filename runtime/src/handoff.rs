//! What a worker hands to the collector: its sealed output, through a bounded channel.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::Duration;

use flowmart_schemas::{Diff, MakeOutput, Output, Outputs, Time, Updates};

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
    /// What a process that does not write the results needs of the batch: all but the outputs
    /// only a database stores ([`Output::STORED_ONLY`]: recovery state and lineage).
    pub(crate) fn served(&self) -> WorkerBatch {
        struct Served<'a>(&'a Outputs<Updates>);
        impl MakeOutput<Updates> for Served<'_> {
            fn make<O: Output>(&mut self) -> Vec<(O::Data, Time, Diff)> {
                if O::STORED_ONLY { Vec::new() } else { O::of(self.0).clone() }
            }
        }
        WorkerBatch {
            worker: self.worker,
            upper: self.upper,
            updates: Outputs::make(&mut Served(&self.updates)),
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
