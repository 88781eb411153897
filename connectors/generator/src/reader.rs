use std::time::{Duration, Instant};

use super::PartitionWorkload;
use flowmart_runtime::{PollStatus, SourceReader, SourceRecord};

/// One worker's partitions of the generator, paced to its share of the configured rate.
///
/// A paced reader releases what is due on whole milliseconds (the pipeline's time granularity),
/// as a broker's fetch hands over a batch: the worker wakes once per millisecond with every record
/// that came due in it, not once per record (at 50,000 records/s that is 20 µs apart, and stepping
/// the dataflow for each one cost more than the records themselves).
pub(super) struct GeneratorReader {
    partitions: Vec<PartitionWorkload>,
    /// Records per second for this reader, `None` for flat out.
    rate: Option<f64>,
    started: Instant,
    emitted: u64,
    next_partition: usize,
}

impl GeneratorReader {
    pub(super) fn new(partitions: Vec<PartitionWorkload>, records_per_second: Option<u64>) -> Self {
        let total_partitions = partitions.first().map_or(1, PartitionWorkload::partitions).max(1);
        let rate = records_per_second.map(|rate| rate as f64 * partitions.len() as f64 / f64::from(total_partitions));
        GeneratorReader { partitions, rate, started: Instant::now(), emitted: 0, next_partition: 0 }
    }
}

impl SourceReader for GeneratorReader {
    fn poll(&mut self, max_records: usize, into: &mut Vec<SourceRecord>) -> PollStatus {
        let budget = match self.rate {
            None => max_records,
            Some(rate) => {
                let elapsed_ms = self.started.elapsed().as_millis() as u64;
                let due = (elapsed_ms as f64 * rate / 1000.0) as u64;
                let budget = due.saturating_sub(self.emitted).min(max_records as u64) as usize;
                if budget == 0 {
                    // The first whole millisecond by which the next record is due.
                    let next_due_ms = ((self.emitted + 1) as f64 * 1000.0 / rate).ceil() as u64;
                    return PollStatus::IdleUntil(
                        self.started + Duration::from_millis(next_due_ms.max(elapsed_ms + 1)),
                    );
                }
                budget
            }
        };
        let mut produced = 0;
        let mut exhausted = 0;
        while produced < budget && exhausted < self.partitions.len() {
            let partition = self.next_partition;
            self.next_partition = (partition + 1) % self.partitions.len();
            match self.partitions[partition].next() {
                Some(record) => {
                    into.push(record);
                    produced += 1;
                    exhausted = 0;
                }
                None => exhausted += 1,
            }
        }
        self.emitted += produced as u64;
        if produced == 0 && exhausted >= self.partitions.len() { PollStatus::Exhausted } else { PollStatus::Ready }
    }
}
