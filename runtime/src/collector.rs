//! The collector: merges every worker's sealed output into complete frontiers and applies them
//! to the sinks, in order, exactly once each.
//!
//! The order rule: a batch passes the sinks in the order given, and no sink sees batch `n + 1`
//! before every sink has taken batch `n`. A sink that fails gets the same batch again (with
//! backoff) while the pipeline runs; once a stop is asked, a sink that cannot take its batch
//! stops the collector there — the later sinks never see that batch, nor any sink a later one —
//! and fails the pipeline, naming what was not delivered. (Skipping it would let later sinks
//! publish what an earlier one never stored, and let offsets commit past unsent dead letters.)
//!
//! The one way past a sink that refuses a batch is a rewind (`rewind.rs`): the collector traces
//! what it refused to the records behind it and ends the run, for the pipeline to read again from
//! what the sinks stored with those records dead-lettered.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use flowmart_schemas::{MakeOutput, NetChanges, Output, Outputs, Time, Updates};

use crate::handoff::WorkerBatch;
use crate::pipeline::retry_delay;
use crate::rewind::{Delivered, Desks, Skips};
use crate::status::PipelineStatus;
use crate::worker::Context;
use crate::{ChangeBatch, DeadLetter, ErrorClass, Sink, SinkError, SourceProgress};

/// Updates received from workers and not yet part of a complete frontier.
#[derive(Default)]
struct Pending {
    updates: Outputs<Updates>,
    dead_letters: Vec<(Time, DeadLetter)>,
}

/// What the collector receives and has not yet published.
struct Collector<'a> {
    receiver: &'a Receiver<WorkerBatch>,
    uppers: Vec<Time>,
    worker_progress: Vec<VecDeque<(Time, SourceProgress)>>,
    current_progress: Vec<SourceProgress>,
    pending: Pending,
    context: &'a Context,
}

impl Collector<'_> {
    /// Waits up to `timeout` for a worker's batch and takes it in. False once every worker is gone.
    fn receive(&mut self, timeout: Duration) -> bool {
        let since_progress = self.context.status.since_progress();
        metrics::gauge!("flowmart_seconds_since_last_commit").set(since_progress.as_secs_f64());
        let batch = match self.receiver.recv_timeout(timeout) {
            Ok(batch) => batch,
            Err(RecvTimeoutError::Timeout) => return true,
            Err(RecvTimeoutError::Disconnected) => return false,
        };
        self.uppers[batch.worker] = self.uppers[batch.worker].max(batch.upper);
        self.worker_progress[batch.worker].extend(batch.progress);
        self.pending.updates.append(batch.updates);
        self.pending.dead_letters.extend(batch.dead_letters);
        true
    }

    /// The frontier every worker has passed.
    fn frontier(&self) -> Time {
        self.uppers.iter().copied().min().unwrap_or(0)
    }

    /// Takes everything pending before `upper` (the frontier) as the batch from `lower`.
    fn take(&mut self, lower: Time, upper: Time, alerts_before: u64) -> ChangeBatch {
        let mut progress = self.context.resume.progress.clone();
        let mut oldest_record = None::<Time>;
        for (queue, current) in self.worker_progress.iter_mut().zip(&mut self.current_progress) {
            // A worker reports progress at each time it read records at.
            while queue.front().is_some_and(|(time, _)| *time < upper) {
                let (time, reached) = queue.pop_front().expect("front was just seen");
                oldest_record = Some(oldest_record.map_or(time, |oldest| oldest.min(time)));
                *current = reached;
            }
            progress.merge(current);
        }
        struct NetBefore<'a>(&'a mut Outputs<Updates>, Time);
        impl MakeOutput<NetChanges> for NetBefore<'_> {
            fn make<O: Output>(&mut self) -> Vec<O::Change> {
                let updates = O::of_mut(self.0);
                let (before, later) = std::mem::take(updates).into_iter().partition(|(_, time, _)| *time < self.1);
                *updates = later;
                O::changes(before)
            }
        }
        let (mut dead_letters, later): (Vec<_>, _) =
            std::mem::take(&mut self.pending.dead_letters).into_iter().partition(|(time, _)| *time < upper);
        self.pending.dead_letters = later;
        // Read again after a rewind, a dead letter the sinks took before it is not sent twice.
        dead_letters.retain(|(_, dead)| !self.context.delivered.took(dead));
        ChangeBatch {
            lower,
            upper,
            changes: Outputs::make(&mut NetBefore(&mut self.pending.updates, upper)),
            alerts_before,
            dead_letters: dead_letters.into_iter().map(|(_, dead_letter)| dead_letter).collect(),
            progress,
            oldest_record,
        }
    }
}

/// How a run of the collector ended.
pub(crate) enum End {
    /// Every worker finished, and the sinks took everything; or the pipeline failed (its status
    /// says why).
    Done,
    /// A sink refused changes, behind which are these records: the pipeline is to read again
    /// from what the sinks stored, with them dead-lettered. The sinks before the refusing one
    /// took the refused batch, with its dead letters (`delivered`).
    Rewind { skips: Skips, delivered: Delivered },
}

/// Collects what the workers hand over through `receiver` and applies it to `sinks`, from the
/// context's `resume`, until the workers are gone, the pipeline fails, or a sink refuses changes
/// that a rewind can go past (only when the context `may_rewind`).
pub(crate) fn run(receiver: &Receiver<WorkerBatch>, sinks: &mut [Box<dyn Sink>], context: &Context) -> End {
    let (status, shutdown, resume) = (&*context.status, &*context.shutdown, &*context.resume);
    let (may_rewind, workers) = (context.may_rewind, context.config.workers * context.config.processes());
    let mut collector = Collector {
        receiver,
        uppers: vec![0; workers],
        worker_progress: vec![VecDeque::new(); workers],
        current_progress: vec![SourceProgress::default(); workers],
        pending: Pending::default(),
        context,
    };
    let mut published: Time = resume.as_of;
    let mut alerts_before = resume.alerts_before;
    // Exported from the start: what the sinks hold before this run publishes anything.
    metrics::gauge!("flowmart_as_of_ms").set(published as f64);
    for sink in sinks.iter() {
        // Export the retry count of every sink from the start, at zero.
        for class in [ErrorClass::Transient, ErrorClass::Data, ErrorClass::Fatal] {
            metrics::counter!("flowmart_sink_retries_total", "sink" => sink.name(), "class" => class.as_str())
                .increment(0);
        }
    }
    loop {
        if !collector.receive(Duration::from_millis(100)) {
            return End::Done;
        }
        let frontier = collector.frontier();
        if frontier <= published {
            continue;
        }
        let batch = collector.take(published, frontier, alerts_before);
        for index in 0..sinks.len() {
            let sink = sinks[index].as_mut();
            let mut result = apply_until_done(sink, &batch, status, shutdown, may_rewind);
            if let Err(error) = &result
                && !error.refused.is_empty()
                && !shutdown.load(Ordering::Relaxed)
            {
                let skips = refused_records(&mut collector, &context.desks, error, frontier);
                if !skips.is_empty() {
                    let delivered = if index > 0 { Delivered::of(&batch.dead_letters) } else { Delivered::default() };
                    return End::Rewind { skips, delivered };
                }
                // No record this process holds is behind it: retried as any failure, shown in
                // `/readyz`.
                result = apply_until_done(sink, &batch, status, shutdown, false);
            }
            let Err(error) = result else { continue };
            let undelivered = sinks[index..].iter().map(|sink| sink.name()).collect::<Vec<_>>().join(", ");
            status.fail(format!(
                "stopping with results undelivered: {error}; the batch up to pipeline time {frontier} and every \
                 later one did not reach {undelivered}; a restart reads them again from the stored offsets"
            ));
            return End::Done;
        }
        alerts_before += batch.changes.alerts.len() as u64;
        published = frontier;
        status.published(frontier);
        metrics::gauge!("flowmart_as_of_ms").set(frontier as f64);
    }
}

/// For each change `error` names, the latest record behind it that a worker of this process fed
/// before `upper`, with why it is refused.
fn refused_records(collector: &mut Collector<'_>, desks: &Desks, error: &SinkError, upper: Time) -> Skips {
    let mut skips = Skips::new();
    for refused in &error.refused {
        let receive = || collector.receive(Duration::from_millis(5));
        if let Some(suspect) = desks.latest_suspect(refused.change.clone(), upper, receive) {
            skips.entry(suspect.position()).or_insert_with(|| format!("{} refused {}", error.sink, refused.reason));
        }
    }
    match skips.len() {
        0 => {
            tracing::error!(sink = error.sink, %error, "the sink refused changes no record this process holds is behind")
        }
        records => {
            tracing::warn!(sink = error.sink, records, %error, "the sink refused changes: rewinding to dead-letter the records behind them")
        }
    }
    skips
}

/// Applies a batch, retrying with backoff until the sink takes it; a sink that keeps failing shows
/// in `status` (and so in `/readyz`). A fatal error is final, and so is any once shutdown is
/// asked: the error. With `may_refuse`, so is a data error naming refused changes, for the caller
/// to rewind past.
fn apply_until_done(
    sink: &mut dyn Sink,
    batch: &ChangeBatch,
    status: &PipelineStatus,
    shutdown: &AtomicBool,
    may_refuse: bool,
) -> Result<(), SinkError> {
    let mut attempt = 0;
    loop {
        let started = Instant::now();
        match sink.apply(batch) {
            Ok(()) => {
                metrics::histogram!("flowmart_sink_apply_seconds", "sink" => sink.name())
                    .record(started.elapsed().as_secs_f64());
                status.sink_recovered();
                return Ok(());
            }
            Err(error) => {
                let class = error.class.as_str();
                metrics::counter!("flowmart_sink_retries_total", "sink" => sink.name(), "class" => class).increment(1);
                if shutdown.load(Ordering::Relaxed)
                    || error.class == ErrorClass::Fatal
                    || (may_refuse && !error.refused.is_empty())
                {
                    return Err(error);
                }
                tracing::warn!(sink = sink.name(), %error, attempt, "sink failed; retrying the same batch");
                status.sink_failed(sink.name(), error.class, error.message);
                std::thread::sleep(retry_delay(attempt));
                attempt += 1;
            }
        }
    }
}
