//! One timely worker: read, validate, feed the dataflow, seal and hand over its output.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use differential_dataflow::Hashable;
use flowmart_operators::dataflow::{self, Collections, InputSessions};
use flowmart_operators::recovery::stored_collections;
use flowmart_schemas::{ForEachOutput, MakeOutput, Output, Outputs, Time, Updates};
use timely::dataflow::ProbeHandle;
use timely::worker::Worker;

use crate::capture::{Captured, Capturing, capture, take_before};
use crate::clock::PipelineClock;
use crate::cluster::{self, ClusterLink};
use crate::fed::FedRecords;
use crate::handoff::{WorkerBatch, send};
use crate::ingest::ingest;
use crate::pipeline::{Resume, RuntimeConfig};
use crate::refusals::{self, to_readers};
use crate::rewind::{Delivered, Desks, Skips};
use crate::status::PipelineStatus;
use crate::{DeadLetter, InputTopic, PollStatus, Source, SourceProgress, SourceRecord};

/// What every worker shares.
pub(crate) struct Context {
    pub(crate) config: RuntimeConfig,
    pub(crate) source: Arc<dyn Source>,
    pub(crate) status: Arc<PipelineStatus>,
    pub(crate) shutdown: Arc<AtomicBool>,
    pub(crate) resume: Arc<Resume>,
    /// Where the collector asks this process's workers which records are behind what a sink
    /// refused.
    pub(crate) desks: Arc<Desks>,
    /// Records to dead-letter as they are read: what sinks refused, read again after a rewind.
    pub(crate) skips: Arc<Skips>,
    /// Where this process's workers started reading each partition without stored progress:
    /// where a rewind reads it again from.
    pub(crate) read_from: Arc<Mutex<SourceProgress>>,
    /// The dead letters the sinks took before a rewind, of records read again: not sent twice.
    pub(crate) delivered: Delivered,
    /// Set when the collector rewinds: the workers stop as they do at shutdown, and their output
    /// is dropped.
    pub(crate) abort: AtomicBool,
    /// Whether a sink stores recovery state (else its outputs are not captured at all).
    pub(crate) stores_recovery_state: bool,
    /// Whether the workers span several processes (then batches reach the collectors through
    /// [`ClusterLink`]).
    pub(crate) clustered: bool,
    /// Whether the pipeline rewinds past records a sink refuses (one process, a source that reads
    /// again, a sink that stores the state): only then do the workers keep a decoded copy of
    /// each record until it is committed, to trace what a sink refuses.
    pub(crate) may_rewind: bool,
    /// The latest time this process's workers fed records at: until every worker's frontier
    /// passes it, idle workers wake each millisecond to let it close.
    pub(crate) fed_up_to: AtomicU64,
}

impl Context {
    /// The context of the run after a rewind to `resume`: `skips` dead-lettered as they are read
    /// again besides the earlier ones, and the dead letters the sinks took, `delivered` among them.
    pub(crate) fn rewound(&self, resume: Resume, skips: Skips, delivered: Delivered) -> Context {
        let mut all_skips = (*self.skips).clone();
        all_skips.extend(skips);
        let all_delivered = self.delivered.and(delivered, &resume.progress);
        Context {
            config: self.config.clone(),
            source: Arc::clone(&self.source),
            status: Arc::clone(&self.status),
            shutdown: Arc::clone(&self.shutdown),
            resume: Arc::new(resume),
            desks: Arc::new(Desks::new(self.config.workers)),
            skips: Arc::new(all_skips),
            read_from: Arc::clone(&self.read_from),
            delivered: all_delivered,
            abort: AtomicBool::new(false),
            stores_recovery_state: self.stores_recovery_state,
            clustered: self.clustered,
            may_rewind: self.may_rewind,
            fed_up_to: AtomicU64::new(0),
        }
    }

    /// The settings every process of a cluster must share, named as in the pipeline file, and
    /// what it recovered: processes that read different stored states (a write between their
    /// reads) would resume from different points.
    fn settings(&self) -> String {
        let config = &self.config;
        let topics = crate::InputTopic::ALL.map(|topic| config.topics.name(topic)).join(",");
        let kept = |ms: Option<Time>| ms.map_or_else(|| "forever".to_string(), |ms| format!("{ms} ms"));
        let resume = &self.resume;
        let progress = resume.progress.iter().collect::<Vec<_>>().hashed();
        format!(
            "runtime.workers={}, postgres.database_url {}, retention of event ids {} and of orders {}, topics {topics}, \
             recovered results as of {} with {} alert changes and source progress {progress:016x}",
            config.workers,
            if self.stores_recovery_state { "set" } else { "unset" },
            kept(config.retention.event_ids_ms),
            kept(config.retention.orders_ms),
            resume.as_of,
            resume.alerts_before,
        )
    }
}

/// Captures every output of the dataflow (the stored-only ones only when `recovery`: a sink stores them):
/// `probe` passes a time once all its updates are in the buffers.
fn capture_outputs(built: Outputs<Collections<'_>>, probe: &ProbeHandle<Time>, recovery: bool) -> Outputs<Capturing> {
    struct Capture<'a, 'scope> {
        built: &'a Outputs<Collections<'scope>>,
        probe: &'a ProbeHandle<Time>,
        recovery: bool,
    }
    impl MakeOutput<Capturing> for Capture<'_, '_> {
        fn make<O: Output>(&mut self) -> Captured<O::Data> {
            if O::STORED_ONLY && !self.recovery {
                // Never filled: the collection is left unconsumed.
                return Captured::default();
            }
            capture(O::of(self.built).clone(), self.probe)
        }
    }
    Outputs::make(&mut Capture { built: &built, probe, recovery })
}

/// Whether nothing is captured.
fn nothing_captured(captured: &Outputs<Capturing>) -> bool {
    struct Empty<'a>(&'a Outputs<Capturing>, bool);
    impl ForEachOutput for Empty<'_> {
        fn each<O: Output>(&mut self) {
            self.1 &= O::of(self.0).borrow().is_empty();
        }
    }
    let mut empty = Empty(captured, true);
    flowmart_schemas::for_each_output(&mut empty);
    empty.1
}

/// Takes every captured update at a time before `upper`.
fn take_captured(captured: &Outputs<Capturing>, upper: Time) -> Outputs<Updates> {
    struct Take<'a>(&'a Outputs<Capturing>, Time);
    impl MakeOutput<Updates> for Take<'_> {
        fn make<O: Output>(&mut self) -> Vec<(O::Data, Time, flowmart_schemas::Diff)> {
            take_before(O::of(self.0), self.1)
        }
    }
    Outputs::make(&mut Take(captured, upper))
}

/// What a worker has fed and not yet sealed.
#[derive(Default)]
struct Pending {
    progress: VecDeque<(Time, SourceProgress)>,
    dead_letters: Vec<(Time, DeadLetter)>,
    /// The records fed and not yet committed, for those the dataflow or a sink refuses.
    fed: FedRecords,
}

/// A worker publishes at least this often while its frontier moves, even with nothing changed,
/// so `as_of` keeps up with time.
const QUIET_PUBLISH_INTERVAL: Duration = Duration::from_millis(20);

/// The first poll's batch; each poll that reads records doubles it, up to the configured
/// `poll_batch`. A backlog's first time then closes (and is queryable) after a few hundred
/// records' work, not after a pipeline of full batches read ahead of it.
const FIRST_POLL_BATCH: usize = 256;

/// The time to the next wall-clock millisecond, when the pipeline time moves on.
fn until_next_millisecond() -> Duration {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Duration::from_nanos(1_000_000 - u64::from(since_epoch.subsec_nanos() % 1_000_000))
}

pub(crate) fn run(worker: &mut Worker, context: &Context, sender: SyncSender<WorkerBatch>) {
    let (index, peers) = (worker.index(), worker.peers());
    let config = &context.config;
    // Workers of process `p` are `p * workers ..`: this one's desk is its place among them.
    let local = index % config.workers;
    if context.clustered
        && let Err(problem) = cluster::agree_on_settings(worker, config.workers, &context.settings())
    {
        context.status.fail(problem);
        context.shutdown.store(true, Ordering::SeqCst);
        return;
    }
    let probe = ProbeHandle::new();
    // Activating the dataflow's root from another thread unparks this worker: the source's waker.
    let wake = worker.sync_activator_for(vec![worker.next_dataflow_index()]);
    let resume = &context.resume;
    let (mut inputs, outputs) = worker.dataflow::<Time, _, _>(|scope| {
        let (sessions, collections) = InputSessions::new(scope);
        let stored = stored_collections(scope, &resume.state, resume.as_of, index, peers);
        let mut built = dataflow::build(collections, stored, config.retention);
        // Refusals meet their records' bytes on the worker that read them.
        built.refused = to_readers(built.refused);
        (sessions, capture_outputs(built, &probe, context.stores_recovery_state))
    });
    // In a cluster every worker builds the link's dataflows too, after the pipeline's.
    let mut link = context
        .clustered
        .then(|| ClusterLink::new(worker, config.workers, context.stores_recovery_state, sender.clone()));
    // Records go in after every time the recovered state covers.
    inputs.advance_to(resume.as_of);
    inputs.flush();
    if resume.as_of > 0 {
        let started = Instant::now();
        while probe.less_than(&resume.as_of) {
            worker.step();
        }
        // What the recovered state itself produced: the sinks already hold it.
        drop(take_captured(&outputs, resume.as_of));
        tracing::info!(worker = index, seconds = started.elapsed().as_secs_f64(), "recovered state loaded");
    }

    let mut reader = match context.source.reader(index, peers) {
        Ok(reader) => reader,
        Err(error) => {
            tracing::error!(worker = index, %error, "cannot open the source; stopping the pipeline");
            context.status.fail(format!("cannot open the source: {error}"));
            context.shutdown.store(true, Ordering::SeqCst);
            if let Some(link) = &mut link {
                link.ask_to_stop();
            }
            return;
        }
    };
    reader.set_waker(Box::new(move || {
        // Only fails once the worker is gone, when there is nobody to wake.
        let _ = wake.activate();
    }));
    let mut clock = PipelineClock::new();
    let mut polled = Vec::with_capacity(config.poll_batch);
    let mut poll_batch = FIRST_POLL_BATCH.min(config.poll_batch);
    let mut progress = SourceProgress::default();
    let mut pending = Pending::default();
    let mut exhausted = false;
    let mut published_upper = resume.as_of;
    let mut last_publish = Instant::now();
    let idle_tick = Duration::from_millis(config.idle_tick_ms);

    loop {
        let mut stopping = context.shutdown.load(Ordering::Relaxed) || context.abort.load(Ordering::Relaxed);
        if let Some(link) = &mut link {
            if stopping {
                link.ask_to_stop();
            } else if link.stop_asked() {
                // Another process is stopping: so does this one, with everything it read.
                context.status.stop_asked_by_cluster();
                stopping = true;
            }
        }
        let now = clock.now().max(inputs.time());
        inputs.advance_to(now);
        let upper = probe.with_frontier(|frontier| frontier.first().copied()).unwrap_or(now);
        let mut park = idle_tick;
        if !stopping && !exhausted && now.saturating_sub(upper) <= config.max_lag_ms {
            match reader.poll(poll_batch, &mut polled) {
                PollStatus::Ready => park = Duration::ZERO,
                PollStatus::IdleUntil(due) => park = due.saturating_duration_since(Instant::now()).min(idle_tick),
                PollStatus::Exhausted => exhausted = true,
            }
            if !polled.is_empty() {
                poll_batch = (poll_batch * 2).min(config.poll_batch);
                feed(now, polled.drain(..), &mut inputs, &mut progress, &mut pending, context);
                context.fed_up_to.fetch_max(now, Ordering::Relaxed);
                pending.progress.push_back((now, progress.clone()));
            }
        }
        if upper <= context.fed_up_to.load(Ordering::Relaxed) {
            // Results of records fed (here or on another worker) are in flight: their time
            // closes only once every worker's input passes it, so wake at the next millisecond
            // to move on, instead of holding it back for a whole idle tick.
            park = park.min(until_next_millisecond());
        }
        pending.fed.forget_before(context.status.as_of());
        context.desks.serve(local, &pending.fed);
        inputs.flush();
        if stopping {
            break;
        }
        worker.step_or_park(Some(park));

        let upper = probe.with_frontier(|frontier| frontier.first().copied()).unwrap_or(inputs.time());
        // An advance past times records were fed at is published at once, changes here or not:
        // the collector closes a time only once every worker has, so a quiet worker holding its
        // frontier back would delay the others' results.
        let closes_fed = published_upper <= context.fed_up_to.load(Ordering::Relaxed);
        if upper > published_upper
            && (closes_fed || last_publish.elapsed() >= QUIET_PUBLISH_INTERVAL || !nothing_captured(&outputs))
        {
            let batch = seal(index, upper, &outputs, &mut pending, context);
            if let Some((_, sealed)) = batch.progress.last() {
                reader.checkpoint(sealed);
            }
            if !hand_over(&mut link, &sender, batch, &context.shutdown) {
                return;
            }
            published_upper = upper;
            last_publish = Instant::now();
        }
    }

    // Shutting down: close the inputs, let the dataflow finish what it read, publish it all.
    let last_time = inputs.time();
    drop(inputs);
    while probe.with_frontier(|frontier| !frontier.is_empty()) {
        worker.step_or_park(Some(idle_tick));
    }
    let batch = seal(index, last_time + 1, &outputs, &mut pending, context);
    hand_over(&mut link, &sender, batch, &AtomicBool::new(false));
}

/// Hands a sealed batch on: in a cluster to every process's collector (through the link), else
/// to this process's. False when this process's collector is gone or shutdown was asked.
fn hand_over(
    link: &mut Option<ClusterLink>,
    sender: &SyncSender<WorkerBatch>,
    batch: WorkerBatch,
    shutdown: &AtomicBool,
) -> bool {
    match link {
        Some(link) => {
            link.publish(batch);
            true
        }
        None => send(sender, batch, shutdown),
    }
}

/// Validates polled records and feeds the valid ones to the dataflow at `time`.
fn feed(
    time: Time,
    records: impl ExactSizeIterator<Item = SourceRecord>,
    inputs: &mut InputSessions,
    progress: &mut SourceProgress,
    pending: &mut Pending,
    context: &Context,
) {
    let (status, config) = (&context.status, &context.config);
    let mut consumed = BTreeMap::<(InputTopic, u32), u64>::new();
    let mut rejected = 0;
    pending.fed.reserve(time, records.len());
    for record in records {
        if progress.next_offset(record.topic, record.partition).is_none() {
            // The first record of this partition this run reads.
            let mut read_from = context.read_from.lock().unwrap_or_else(PoisonError::into_inner);
            read_from.starts_at(record.topic, record.partition, record.offset);
        }
        progress.consumed(record.topic, record.partition, record.offset);
        *consumed.entry((record.topic, record.partition)).or_default() += 1;
        match ingest(record, &context.skips) {
            Ok((record, mut fed)) => {
                if context.may_rewind {
                    fed.record = Some(record.clone());
                }
                inputs.insert(fed.source(), record);
                pending.fed.keep(time, fed);
            }
            Err(dead_letter) => {
                let topic = config.topics.name(dead_letter.topic).to_string();
                metrics::counter!("flowmart_dead_letters_total", "topic" => topic, "kind" => dead_letter.kind.clone())
                    .increment(1);
                tracing::debug!(kind = %dead_letter.kind, message = %dead_letter.message, partition = dead_letter.partition, offset = dead_letter.offset, "record set aside");
                pending.dead_letters.push((time, dead_letter));
                rejected += 1;
            }
        }
    }
    let mut total = 0;
    for ((topic, partition), count) in consumed {
        let topic = config.topics.name(topic).to_string();
        metrics::counter!("flowmart_records_consumed_total", "topic" => topic, "partition" => partition.to_string())
            .increment(count);
        total += count;
    }
    status.add_records(total, rejected);
}

/// Everything this worker has for times before `upper`. The records the dataflow refused leave
/// the updates and join the dead letters, with their original bytes.
fn seal(
    worker: usize,
    upper: Time,
    outputs: &Outputs<Capturing>,
    pending: &mut Pending,
    context: &Context,
) -> WorkerBatch {
    let ready = pending.progress.iter().take_while(|(time, _)| *time < upper).count();
    let (mut dead_letters, later): (Vec<_>, _) =
        std::mem::take(&mut pending.dead_letters).into_iter().partition(|(time, _)| *time < upper);
    pending.dead_letters = later;
    let mut updates = take_captured(outputs, upper);
    let refused =
        refusals::dead_letters(&mut pending.fed, upper, std::mem::take(&mut updates.refused), &context.config.topics);
    context.status.add_records(0, refused.len() as u64);
    dead_letters.extend(refused);
    WorkerBatch { worker, upper, updates, dead_letters, progress: pending.progress.drain(..ready).collect() }
}
