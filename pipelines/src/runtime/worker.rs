//! One timely worker: read, validate, feed the dataflow, seal and hand over its output.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant};

use flowmart_operators::dataflow::{self, InputSessions};
use flowmart_operators::order_upsert::{OrderKey, OrderState};
use flowmart_operators::recovery::Recovered;
use flowmart_operators::settlement_totals::{SettlementKey, SettlementTotals};
use flowmart_operators::stock_positions::StockLevels;
use flowmart_operators::{Diff, Time};
use flowmart_schemas::{Id, PositionKey, ReorderAlert, ReorderPolicy};
use timely::dataflow::ProbeHandle;
use timely::worker::Worker;

use super::capture::{Captured, capture, take_before};
use super::clock::PipelineClock;
use super::cluster::{self, ClusterLink};
use super::status::PipelineStatus;
use super::{Resume, RuntimeConfig, retry_delay};
use crate::ingest::ingest;
use crate::{DeadLetter, InputTopic, PollStatus, Source, SourceProgress, SourceRecord};

/// What every worker shares.
pub(super) struct Context {
    pub(super) config: RuntimeConfig,
    pub(super) source: Arc<dyn Source>,
    pub(super) status: Arc<PipelineStatus>,
    pub(super) shutdown: Arc<AtomicBool>,
    pub(super) resume: Arc<Resume>,
    /// Whether a sink stores recovery state (else its outputs are not captured at all).
    pub(super) stores_recovery_state: bool,
    /// Whether the workers span several processes (then batches reach the collectors through
    /// [`ClusterLink`]).
    pub(super) clustered: bool,
}

impl Context {
    /// The settings every process of a cluster must share, named as in the pipeline file.
    fn settings(&self) -> String {
        let config = &self.config;
        let topics = crate::InputTopic::ALL.map(|topic| config.topics.name(topic)).join(",");
        let kept = |ms: Option<Time>| ms.map_or_else(|| "forever".to_string(), |ms| format!("{ms} ms"));
        format!(
            "runtime.workers={}, postgres.database_url {}, retention of event ids {} and of orders {}, topics {topics}",
            config.workers,
            if self.stores_recovery_state { "set" } else { "unset" },
            kept(config.retention.event_ids_ms),
            kept(config.retention.orders_ms),
        )
    }
}

/// A worker's output for the times in `[previous upper, upper)`: complete for this worker.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct WorkerBatch {
    pub(super) worker: usize,
    pub(super) upper: Time,
    pub(super) stock: Vec<((PositionKey, StockLevels), Time, Diff)>,
    pub(super) settlements: Vec<((SettlementKey, SettlementTotals), Time, Diff)>,
    pub(super) alerts: Vec<(ReorderAlert, Time, Diff)>,
    pub(super) orders: Vec<((OrderKey, OrderState), Time, Diff)>,
    pub(super) policies: Vec<((PositionKey, ReorderPolicy), Time, Diff)>,
    pub(super) dead_letters: Vec<(Time, DeadLetter)>,
    /// Event ids counted by the dedupe, with the time they were.
    pub(super) event_ids: Vec<(Time, InputTopic, Id)>,
    /// Cumulative progress of this worker's partitions as of each time it read at, in order.
    pub(super) progress: Vec<(Time, SourceProgress)>,
}

struct Outputs {
    stock: Captured<(PositionKey, StockLevels)>,
    settlements: Captured<(SettlementKey, SettlementTotals)>,
    alerts: Captured<ReorderAlert>,
    /// Only when a sink stores recovery state.
    recovery: Option<RecoveryOutputs>,
}

/// The outputs a sink stores so that a restarted pipeline can recover.
struct RecoveryOutputs {
    orders: Captured<(OrderKey, OrderState)>,
    policies: Captured<(PositionKey, ReorderPolicy)>,
    inventory_ids: Captured<Id>,
    payment_ids: Captured<Id>,
}

impl Outputs {
    fn is_empty(&self) -> bool {
        self.stock.borrow().is_empty()
            && self.settlements.borrow().is_empty()
            && self.alerts.borrow().is_empty()
            && self.recovery.as_ref().is_none_or(|recovery| {
                recovery.orders.borrow().is_empty()
                    && recovery.policies.borrow().is_empty()
                    && recovery.inventory_ids.borrow().is_empty()
                    && recovery.payment_ids.borrow().is_empty()
            })
    }

    /// Drops everything captured: what the recovered state itself produced, which the sinks
    /// already hold.
    fn clear(&self) {
        self.stock.borrow_mut().clear();
        self.settlements.borrow_mut().clear();
        self.alerts.borrow_mut().clear();
        if let Some(recovery) = &self.recovery {
            recovery.orders.borrow_mut().clear();
            recovery.policies.borrow_mut().clear();
            recovery.inventory_ids.borrow_mut().clear();
            recovery.payment_ids.borrow_mut().clear();
        }
    }
}

/// What a worker has fed and not yet sealed.
#[derive(Default)]
struct Pending {
    progress: VecDeque<(Time, SourceProgress)>,
    dead_letters: Vec<(Time, DeadLetter)>,
}

/// A worker publishes at least this often while its frontier moves, even with nothing changed,
/// so `as_of` keeps up with time.
const QUIET_PUBLISH_INTERVAL: Duration = Duration::from_millis(20);

pub(super) fn run(worker: &mut Worker, context: &Context, sender: SyncSender<WorkerBatch>) {
    let (index, peers) = (worker.index(), worker.peers());
    let config = &context.config;
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
    let recovered = &context.resume.state;
    let (mut inputs, recovered_inputs, outputs) = worker.dataflow::<Time, _, _>(|scope| {
        let (sessions, collections) = InputSessions::new(scope);
        let (recovered_inputs, recovered_collections) = Recovered::new(scope);
        let built = dataflow::build(collections, recovered_collections, config.retention);
        let outputs = Outputs {
            stock: capture(built.stock, &probe),
            settlements: capture(built.settlements, &probe),
            alerts: capture(built.alerts, &probe),
            recovery: context.stores_recovery_state.then(|| RecoveryOutputs {
                orders: capture(built.orders, &probe),
                policies: capture(built.policies, &probe),
                inventory_ids: capture(built.inventory_ids, &probe),
                payment_ids: capture(built.payment_ids, &probe),
            }),
        };
        (sessions, recovered_inputs, outputs)
    });
    // In a cluster every worker builds the link's dataflows too, after the pipeline's.
    let mut link = context.clustered.then(|| ClusterLink::new(worker, config.workers, sender.clone()));
    recovered_inputs.load(recovered, index, peers);
    // Records go in after every time the recovered state covers.
    inputs.advance_to(recovered.as_of);
    inputs.flush();
    if recovered.time().is_some() {
        let started = Instant::now();
        while probe.less_than(&recovered.as_of) {
            worker.step();
        }
        outputs.clear();
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
    let mut progress = SourceProgress::default();
    let mut pending = Pending::default();
    let mut exhausted = false;
    let mut published_upper = recovered.as_of;
    let mut last_publish = Instant::now();
    let idle_tick = Duration::from_millis(config.idle_tick_ms);

    loop {
        let mut stopping = context.shutdown.load(Ordering::Relaxed);
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
            match reader.poll(config.poll_batch, &mut polled) {
                PollStatus::Ready => park = Duration::ZERO,
                PollStatus::IdleUntil(due) => park = due.saturating_duration_since(Instant::now()).min(idle_tick),
                PollStatus::Exhausted => exhausted = true,
            }
            if !polled.is_empty() {
                feed(now, polled.drain(..), &mut inputs, &mut progress, &mut pending, &context.status, config);
                pending.progress.push_back((now, progress.clone()));
            }
        }
        inputs.flush();
        if stopping {
            break;
        }
        worker.step_or_park(Some(park));

        let upper = probe.with_frontier(|frontier| frontier.first().copied()).unwrap_or(inputs.time());
        if upper > published_upper && (last_publish.elapsed() >= QUIET_PUBLISH_INTERVAL || !outputs.is_empty()) {
            let batch = seal(index, upper, &outputs, &mut pending);
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
    let batch = seal(index, last_time + 1, &outputs, &mut pending);
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
    records: impl Iterator<Item = SourceRecord>,
    inputs: &mut InputSessions,
    progress: &mut SourceProgress,
    pending: &mut Pending,
    status: &PipelineStatus,
    config: &RuntimeConfig,
) {
    let mut consumed = BTreeMap::<(InputTopic, u32), u64>::new();
    let mut rejected = 0;
    for record in records {
        progress.consumed(record.topic, record.partition, record.offset);
        *consumed.entry((record.topic, record.partition)).or_default() += 1;
        match ingest(record) {
            Ok((offset, input)) => inputs.insert(offset, input),
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

/// Everything this worker has for times before `upper`.
fn seal(worker: usize, upper: Time, outputs: &Outputs, pending: &mut Pending) -> WorkerBatch {
    let ready = pending.progress.iter().take_while(|(time, _)| *time < upper).count();
    let (dead_letters, later) =
        std::mem::take(&mut pending.dead_letters).into_iter().partition(|(time, _)| *time < upper);
    pending.dead_letters = later;
    let counted = |topic, ids: Vec<(Id, Time, Diff)>| ids.into_iter().map(move |(id, time, _)| (time, topic, id));
    let (orders, policies, event_ids) = match &outputs.recovery {
        Some(recovery) => (
            take_before(&recovery.orders, upper),
            take_before(&recovery.policies, upper),
            counted(InputTopic::Inventory, take_before(&recovery.inventory_ids, upper))
                .chain(counted(InputTopic::Payments, take_before(&recovery.payment_ids, upper)))
                .collect(),
        ),
        None => Default::default(),
    };
    WorkerBatch {
        worker,
        upper,
        stock: take_before(&outputs.stock, upper),
        settlements: take_before(&outputs.settlements, upper),
        alerts: take_before(&outputs.alerts, upper),
        orders,
        policies,
        dead_letters,
        event_ids,
        progress: pending.progress.drain(..ready).collect(),
    }
}

/// Hands a batch to the collector, waiting while it is full (this is what stops a worker from
/// reading when sinks fall behind). False when the collector is gone or shutdown was asked.
pub(super) fn send(sender: &SyncSender<WorkerBatch>, mut batch: WorkerBatch, shutdown: &AtomicBool) -> bool {
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
