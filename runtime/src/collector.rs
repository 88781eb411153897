//! The collector: merges every worker's sealed output into complete frontiers and applies them
//! to the sinks, in order, exactly once each.
//!
//! The order rule: a batch passes the sinks in the order given, and no sink sees batch `n + 1`
//! before every sink has taken batch `n`. A sink that fails gets the same batch again (with
//! backoff) while the pipeline runs; once a stop is asked, a sink that cannot take its batch
//! stops the collector there — the later sinks never see that batch, nor any sink a later one —
//! and fails the pipeline, naming what was not delivered. (Skipping it would let later sinks
//! publish what an earlier one never stored, and let offsets commit past unsent dead letters.)

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use flowmart_schemas::{MakeOutput, NetChanges, Output, Outputs, Time, Updates};

use crate::handoff::WorkerBatch;
use crate::pipeline::{Resume, retry_delay};
use crate::status::PipelineStatus;
use crate::{ChangeBatch, DeadLetter, ErrorClass, Sink, SinkError, SourceProgress};

/// Updates received from workers and not yet part of a complete frontier.
#[derive(Default)]
struct Pending {
    updates: Outputs<Updates>,
    dead_letters: Vec<(Time, DeadLetter)>,
}

pub(crate) fn run(
    workers: usize,
    receiver: Receiver<WorkerBatch>,
    mut sinks: Vec<Box<dyn Sink>>,
    status: &PipelineStatus,
    shutdown: &AtomicBool,
    resume: &Resume,
) {
    let mut uppers = vec![0; workers];
    let mut worker_progress = vec![VecDeque::<(Time, SourceProgress)>::new(); workers];
    let mut current_progress = vec![SourceProgress::default(); workers];
    let mut pending = Pending::default();
    let mut published: Time = resume.as_of;
    let mut alerts_before = resume.alerts_before;
    for sink in &sinks {
        // Export the retry count of every sink from the start, at zero.
        for class in [ErrorClass::Transient, ErrorClass::Data] {
            metrics::counter!("flowmart_sink_retries_total", "sink" => sink.name(), "class" => class.as_str())
                .increment(0);
        }
    }
    loop {
        metrics::gauge!("flowmart_seconds_since_last_commit").set(status.since_progress().as_secs_f64());
        let batch = match receiver.recv_timeout(Duration::from_millis(100)) {
            Ok(batch) => batch,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        uppers[batch.worker] = uppers[batch.worker].max(batch.upper);
        worker_progress[batch.worker].extend(batch.progress);
        pending.updates.append(batch.updates);
        pending.dead_letters.extend(batch.dead_letters);

        let frontier = uppers.iter().copied().min().unwrap_or(0);
        if frontier <= published {
            continue;
        }
        let mut progress = resume.progress.clone();
        let mut oldest_record = None::<Time>;
        for (queue, current) in worker_progress.iter_mut().zip(&mut current_progress) {
            // A worker reports progress at each time it read records at.
            while queue.front().is_some_and(|(time, _)| *time < frontier) {
                let (time, reached) = queue.pop_front().expect("front was just seen");
                oldest_record = Some(oldest_record.map_or(time, |oldest| oldest.min(time)));
                *current = reached;
            }
            progress.merge(current);
        }
        let change_batch = complete(&mut pending, published, frontier, progress, alerts_before, oldest_record);
        alerts_before += change_batch.changes.alerts.len() as u64;
        for (index, sink) in sinks.iter_mut().enumerate() {
            if let Err(error) = apply_until_done(sink.as_mut(), &change_batch, status, shutdown) {
                let undelivered = sinks[index..].iter().map(|sink| sink.name()).collect::<Vec<_>>().join(", ");
                status.fail(format!(
                    "stopping with results undelivered: {error}; the batch up to pipeline time {frontier} and every \
                     later one did not reach {undelivered}; a restart reads them again from the stored offsets"
                ));
                return;
            }
        }
        published = frontier;
        status.published(frontier);
        metrics::gauge!("flowmart_as_of_ms").set(frontier as f64);
    }
}

/// Applies a batch, retrying with backoff until the sink takes it; a sink that keeps failing shows
/// in `status` (and so in `/readyz`). Once shutdown is asked, a failure is final: the error.
fn apply_until_done(
    sink: &mut dyn Sink,
    batch: &ChangeBatch,
    status: &PipelineStatus,
    shutdown: &AtomicBool,
) -> Result<(), SinkError> {
    let mut attempt = 0;
    loop {
        let started = Instant::now();
        match sink.apply(batch) {
            Ok(()) => {
                metrics::histogram!("flowmart_sink_apply_seconds", "sink" => sink.name())
                    .record(started.elapsed().as_secs_f64());
                if attempt > 0 {
                    status.sink_recovered();
                }
                return Ok(());
            }
            Err(error) => {
                let class = error.class.as_str();
                metrics::counter!("flowmart_sink_retries_total", "sink" => sink.name(), "class" => class).increment(1);
                tracing::warn!(sink = sink.name(), %error, attempt, "sink failed; retrying the same batch");
                if shutdown.load(Ordering::Relaxed) {
                    return Err(error);
                }
                status.sink_failed(sink.name(), error.class, error.message);
                std::thread::sleep(retry_delay(attempt));
                attempt += 1;
            }
        }
    }
}

/// Takes the pending updates before `upper` and consolidates them into a [`ChangeBatch`].
fn complete(
    pending: &mut Pending,
    lower: Time,
    upper: Time,
    progress: SourceProgress,
    alerts_before: u64,
    oldest_record: Option<Time>,
) -> ChangeBatch {
    struct NetBefore<'a>(&'a mut Outputs<Updates>, Time);
    impl MakeOutput<NetChanges> for NetBefore<'_> {
        fn make<O: Output>(&mut self) -> Vec<O::Change> {
            let upper = self.1;
            let updates = O::of_mut(self.0);
            let (before, later) = std::mem::take(updates).into_iter().partition(|(_, time, _)| *time < upper);
            *updates = later;
            O::changes(before)
        }
    }
    let (dead_letters, later) =
        std::mem::take(&mut pending.dead_letters).into_iter().partition(|(time, _)| *time < upper);
    pending.dead_letters = later;
    ChangeBatch {
        lower,
        upper,
        changes: Outputs::make(&mut NetBefore(&mut pending.updates, upper)),
        alerts_before,
        dead_letters: dead_letters.into_iter().map(|(_, dead_letter)| dead_letter).collect(),
        progress,
        oldest_record,
    }
}
