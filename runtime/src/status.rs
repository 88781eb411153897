use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use flowmart_schemas::Time;

use crate::sink::ErrorClass;

/// Live counters of a running pipeline, shared with whoever reports on it.
#[derive(Debug)]
pub struct PipelineStatus {
    records: AtomicU64,
    dead_letters: AtomicU64,
    as_of: AtomicU64,
    failure: Mutex<Option<String>>,
    stopping: AtomicBool,
    peer_lost: AtomicBool,
    panicked: AtomicBool,
    /// When the last batch passed every sink (or the pipeline started).
    progressed: Mutex<Instant>,
    /// The sink failing now, since when, and why.
    sink_trouble: Mutex<Option<SinkTrouble>>,
    /// How long a sink may keep failing, or results stop coming, before the pipeline counts as
    /// stalled.
    stall_after: Duration,
}

#[derive(Debug)]
struct SinkTrouble {
    sink: &'static str,
    class: ErrorClass,
    message: String,
    since: Instant,
}

impl Default for PipelineStatus {
    fn default() -> Self {
        PipelineStatus::new(Duration::from_secs(30))
    }
}

impl PipelineStatus {
    /// A status that calls the pipeline stalled once it has made no progress for `stall_after`.
    pub fn new(stall_after: Duration) -> Self {
        PipelineStatus {
            records: AtomicU64::default(),
            dead_letters: AtomicU64::default(),
            as_of: AtomicU64::default(),
            failure: Mutex::default(),
            stopping: AtomicBool::default(),
            peer_lost: AtomicBool::default(),
            panicked: AtomicBool::default(),
            progressed: Mutex::new(Instant::now()),
            sink_trouble: Mutex::default(),
            stall_after,
        }
    }

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
        lock(&self.failure).clone()
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

    /// Whether a pipeline thread panicked: the pipeline cannot go on, nor finish (the other
    /// workers would wait for the lost one forever).
    pub fn panicked_thread(&self) -> bool {
        self.panicked.load(Ordering::Relaxed)
    }

    /// Why the pipeline is not healthy, if it is not: it failed, a sink has kept failing, or no
    /// batch has passed every sink, for longer than the stall time (`runtime.stall_after_ms`).
    pub fn unhealthy(&self) -> Option<String> {
        if let Some(failure) = self.failure() {
            return Some(failure);
        }
        // A failing sink holds every later batch back: no progress is the one symptom, and the
        // sink, if one is failing, the reason.
        let quiet = lock(&self.progressed).elapsed();
        if quiet <= self.stall_after {
            return None;
        }
        Some(match lock(&self.sink_trouble).as_ref() {
            Some(trouble) => format!(
                "sink {} has failed for {:.1} s ({} error): {}",
                trouble.sink,
                trouble.since.elapsed().as_secs_f64(),
                trouble.class.as_str(),
                trouble.message
            ),
            None => format!("no results published for {:.1} s", quiet.as_secs_f64()),
        })
    }

    /// How long since the last batch passed every sink (or the pipeline started).
    pub fn since_progress(&self) -> Duration {
        lock(&self.progressed).elapsed()
    }

    pub(crate) fn sink_failed(&self, sink: &'static str, class: ErrorClass, message: String) {
        let mut trouble = lock(&self.sink_trouble);
        let since =
            trouble.as_ref().filter(|trouble| trouble.sink == sink).map_or_else(Instant::now, |trouble| trouble.since);
        *trouble = Some(SinkTrouble { sink, class, message, since });
    }

    pub(crate) fn sink_recovered(&self) {
        *lock(&self.sink_trouble) = None;
    }

    pub(crate) fn panicked(&self, reason: String) {
        self.fail(reason);
        self.panicked.store(true, Ordering::Relaxed);
    }

    pub(super) fn stop_asked_by_cluster(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    pub(super) fn lose_peer(&self, reason: String) {
        self.fail(reason);
        self.peer_lost.store(true, Ordering::Relaxed);
    }

    pub(super) fn fail(&self, reason: String) {
        lock(&self.failure).get_or_insert(reason);
    }

    pub(super) fn add_records(&self, records: u64, dead_letters: u64) {
        self.records.fetch_add(records, Ordering::Relaxed);
        self.dead_letters.fetch_add(dead_letters, Ordering::Relaxed);
    }

    pub(super) fn published(&self, as_of: Time) {
        self.as_of.store(as_of, Ordering::Relaxed);
        *lock(&self.progressed) = Instant::now();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
