//! Where records come from: the [`Source`] a pipeline reads and the per-worker [`SourceReader`].

use std::time::Instant;

use flowmart_schemas::{InputRecord, InputTopic};

/// The topic names a pipeline reads (`CONTRACT.md` §1 names the defaults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topics {
    /// Default `flowmart.inventory`.
    pub inventory: String,
    /// Default `flowmart.orders`.
    pub orders: String,
    /// Default `flowmart.payments`.
    pub payments: String,
    /// Default `flowmart.reorder-policies`.
    pub reorder_policies: String,
}

impl Default for Topics {
    fn default() -> Self {
        Topics {
            inventory: "flowmart.inventory".into(),
            orders: "flowmart.orders".into(),
            payments: "flowmart.payments".into(),
            reorder_policies: "flowmart.reorder-policies".into(),
        }
    }
}

impl Topics {
    /// The name of `topic`.
    pub fn name(&self, topic: InputTopic) -> &str {
        match topic {
            InputTopic::Inventory => &self.inventory,
            InputTopic::Orders => &self.orders,
            InputTopic::Payments => &self.payments,
            InputTopic::ReorderPolicies => &self.reorder_policies,
        }
    }
}

/// One record read from a partition of an input topic.
#[derive(Clone, Debug)]
pub struct SourceRecord {
    /// The topic it was read from.
    pub topic: InputTopic,
    /// The partition it was read from.
    pub partition: u32,
    /// Its offset in the partition.
    pub offset: u64,
    /// Its key: the tenant id, or `tenant_id/warehouse_id/sku` on the policies topic.
    pub key: Option<Vec<u8>>,
    /// The value's bytes as read, kept for the DLQ; `None` for a null value and for sources that
    /// build records themselves.
    pub raw_value: Option<Vec<u8>>,
    /// The decoded value (not yet validated), or why it could not be decoded.
    pub decoded: Result<InputRecord, Rejection>,
}

/// Why a source could not decode a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// A stable name of what was wrong (the DLQ's `error.kind`).
    pub kind: &'static str,
    /// What was wrong, for a person.
    pub message: String,
}

/// What a poll found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollStatus {
    /// Records may be waiting: poll again soon.
    Ready,
    /// Nothing is due before the given instant (or before something wakes the worker).
    IdleUntil(Instant),
    /// Every partition of this reader has ended (bounded sources only).
    Exhausted,
}

/// A source of input records, split over timely workers.
///
/// Partition `p` of every topic belongs to worker `p mod workers`: a stable rule, so that a
/// cluster of processes needs no coordination to agree on ownership.
pub trait Source: Send + Sync + 'static {
    /// Opens the reader for the partitions that `worker` of `workers` owns.
    fn reader(&self, worker: usize, workers: usize) -> Result<Box<dyn SourceReader>, SourceError>;

    /// Whether [`rewind`](Source::rewind) works: whether records can be read again.
    fn can_rewind(&self) -> bool {
        false
    }

    /// Makes readers opened from now on start at `progress` (the offsets a sink stored, and where
    /// partitions without stored offsets were first read from), for the pipeline to read again
    /// from there. Called only when [`can_rewind`](Source::can_rewind).
    fn rewind(&self, _progress: &crate::SourceProgress) {}
}

/// One worker's share of a [`Source`].
pub trait SourceReader {
    /// Appends at most `max_records` records to `into`, without waiting for records to arrive.
    fn poll(&mut self, max_records: usize, into: &mut Vec<SourceRecord>) -> PollStatus;

    /// Told that this worker's output now covers `progress` (this reader's partitions among
    /// others), so it may report it upstream (e.g. commit offsets for lag tools). Sealed, not
    /// yet stored: a restart resumes from the offsets the sinks stored, never from these.
    fn checkpoint(&mut self, _progress: &crate::SourceProgress) {}

    /// Given a waker that unparks the worker; a reader whose records arrive from another thread
    /// calls it when some do, so the worker need not poll while idle. Readers that only produce
    /// on a schedule ignore it.
    fn set_waker(&mut self, _waker: Waker) {}
}

/// Wakes a parked worker; callable from any thread.
pub type Waker = Box<dyn Fn() + Send + Sync>;

/// Why a source could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Its settings are wrong.
    #[error("{0}")]
    Config(String),
}
