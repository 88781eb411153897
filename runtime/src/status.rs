use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use flowmart_schemas::Time;

/// Live counters of a running pipeline, shared with whoever reports on it.
#[derive(Debug, Default)]
pub struct PipelineStatus {
    records: AtomicU64,
    dead_letters: AtomicU64,
    as_of: AtomicU64,
    failure: Mutex<Option<String>>,
    stopping: AtomicBool,
    peer_lost: AtomicBool,
}

impl PipelineStatus {
    /// Input records read so far (dead letters included).
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Records set aside so far.
    pub fn dead_letters(&self) -> u64 {
        self.dead_letters.load(Ordering::Relaxed)
    }

    /// The frontier last published to every sink (0 before the first).
    pub fn as_of(&self) -> Time {
        self.as_of.load(Ordering::Relaxed)
    }

    /// Why the pipeline stopped on its own, if it did.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Whether another process of the cluster asked every process to stop.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Whether the connection to another process of the cluster was lost: the workers cannot go
    /// on, and cannot finish either (they would wait for the lost process forever).
    pub fn peer_lost(&self) -> bool {
        self.peer_lost.load(Ordering::Relaxed)
    }

    pub(super) fn stop_asked_by_cluster(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    pub(super) fn lose_peer(&self, reason: String) {
        self.fail(reason);
        self.peer_lost.store(true, Ordering::Relaxed);
    }

    pub(super) fn fail(&self, reason: String) {
        self.failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get_or_insert(reason);
    }

    pub(super) fn add_records(&self, records: u64, dead_letters: u64) {
        self.records.fetch_add(records, Ordering::Relaxed);
        self.dead_letters.fetch_add(dead_letters, Ordering::Relaxed);
    }

    pub(super) fn published(&self, as_of: Time) {
        self.as_of.store(as_of, Ordering::Relaxed);
    }
}
