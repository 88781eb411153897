//! A running pipeline: its configuration, where it resumes from, starting and stopping it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use flowmart_schemas::{Outputs, Retention, StoredState, Time};
use serde::{Deserialize, Serialize};

use timely::communication::WorkerGuards;

use crate::cluster::{self, ClusterConfig};
use crate::collector::End;
use crate::handoff::WorkerBatch;
use crate::rewind::{Delivered, Desks};
use crate::status::PipelineStatus;
use crate::{ErrorClass, Sink, Source, SourceProgress, Topics, collector, cpu_share, supervision, worker};

/// How the runtime runs: the pipeline file's `[runtime]` section (every key optional, defaults
/// below), and what the binary derives from its other sections.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuntimeConfig {
    /// Timely worker threads (of this process). Default: the machine's cores.
    pub workers: usize,
    /// The other processes this one forms a timely cluster with; `None` (default): this process
    /// alone. Every process of a cluster runs the same pipeline with the same `workers`. (From
    /// the `[cluster]` section.)
    #[serde(skip)]
    pub cluster: Option<ClusterConfig>,
    /// Retention of per-key state that would otherwise grow without bound. (From `[retention]`.)
    #[serde(skip)]
    pub retention: Retention,
    /// The input topic names, for progress and metrics. (From `[topics]`.)
    #[serde(skip)]
    pub topics: Topics,
    /// Most records a worker takes from its source per step. Default 4,096. (A worker's first
    /// polls take fewer: 256, doubling with each poll that reads records.)
    pub poll_batch: usize,
    /// A worker stops reading while its output lags its input by more than this (ms), so memory
    /// stays bounded when downstream falls behind. Default 2,000.
    pub max_lag_ms: u64,
    /// How long an idle worker parks before advancing time again (ms): the finest `as_of` step
    /// when nothing arrives. Default 10.
    pub idle_tick_ms: u64,
    /// How much lower than the process the pipeline's threads (workers, collector) run: added to
    /// their `nice` (0..=19). Above 0 they yield the CPU to the query API's threads whenever those
    /// wake ([`cpu_share`]); 0 makes them equals. Default 10.
    pub nice: i32,
    /// The pipeline counts as stalled (`/readyz` answers 503 saying why) once a sink has kept
    /// failing, or no batch has passed every sink, for this long (ms). Default 30,000.
    pub stall_after_ms: u64,
}

impl RuntimeConfig {
    /// How many processes run the pipeline (1 without a cluster).
    pub(crate) fn processes(&self) -> usize {
        self.cluster.as_ref().map_or(1, ClusterConfig::processes)
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            cluster: None,
            retention: Retention::default(),
            topics: Topics::default(),
            poll_batch: 4096,
            max_lag_ms: 2000,
            idle_tick_ms: 10,
            nice: 10,
            stall_after_ms: 30_000,
        }
    }
}

/// Where a pipeline starts: from nothing ([`Resume::default`]), or from what a sink stored.
#[derive(Clone, Debug, Default)]
pub struct Resume {
    /// The stored results cover every pipeline time before this (0: nothing was stored). The
    /// state enters the operators at `as_of - 1`.
    pub as_of: Time,
    /// The operators' state, complete up to `as_of`.
    pub state: Outputs<StoredState>,
    /// The next offset per input partition that the state covers. The source must start there
    /// (the runtime does not seek it); batches report progress on top of it.
    pub progress: SourceProgress,
    /// How many alert changes the stored results hold: numbering goes on from there.
    pub alerts_before: u64,
}

/// Why the runtime could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// `workers` was zero.
    #[error("workers must be at least 1")]
    NoWorkers,
    /// Timely could not start its workers.
    #[error("timely could not start its workers: {0}")]
    Timely(String),
    /// A worker or the collector panicked (what, where, and the panic's message).
    #[error("{0}")]
    Panicked(String),
    /// Another process of the cluster went away; the workers were left running (they cannot
    /// finish without it) and go when this process exits.
    #[error("the cluster lost a process; this process must exit and the cluster be restarted")]
    PeerLost,
}

/// A running pipeline. Dropping it stops it as [`stop`](Pipeline::stop) does.
pub struct Pipeline {
    status: Arc<PipelineStatus>,
    shutdown: Arc<AtomicBool>,
    /// The collector's thread, which starts the workers again when the pipeline rewinds.
    driver: Option<JoinHandle<Result<(), RuntimeError>>>,
}

impl Pipeline {
    /// Starts `config.workers` timely workers reading `source`, and the collector feeding `sinks`
    /// (in the order given) with every complete frontier.
    ///
    /// In a cluster ([`RuntimeConfig::cluster`]) this waits until every process is up; the
    /// workers of all processes then read the source's partitions together, and every process's
    /// collector publishes the same complete frontiers: `sinks` of a process 0 with a database
    /// ([`ClusterConfig::recovery_state`]) see the whole result, those of every other process the
    /// results of the tenants it serves (`flowmart_schemas::tenant_owner`), every alert change,
    /// every dead letter and all progress.
    pub fn start(
        config: RuntimeConfig,
        source: Arc<dyn Source>,
        sinks: Vec<Box<dyn Sink>>,
    ) -> Result<Pipeline, RuntimeError> {
        Pipeline::resume(config, source, sinks, Resume::default())
    }

    /// Starts as [`start`](Pipeline::start) does, from `resume`: the workers load its state
    /// first, and the sinks receive what changes after it.
    pub fn resume(
        config: RuntimeConfig,
        source: Arc<dyn Source>,
        sinks: Vec<Box<dyn Sink>>,
        resume: Resume,
    ) -> Result<Pipeline, RuntimeError> {
        if config.workers == 0 {
            return Err(RuntimeError::NoWorkers);
        }
        let status = Arc::new(PipelineStatus::new(Duration::from_millis(config.stall_after_ms)));
        let shutdown = Arc::new(AtomicBool::new(false));
        let processes = config.processes();
        if processes > 1 {
            cluster::watch_for_lost_peers(Arc::clone(&status));
        }
        let stores_recovery_state = sinks.iter().any(|sink| sink.stores_recovery_state())
            || config.cluster.as_ref().is_some_and(|cluster| cluster.recovery_state);
        // A refused record is gone past by reading again from what a sink stored: one process
        // alone, from a source that can read again.
        let may_rewind = processes == 1 && source.can_rewind() && sinks.iter().any(|sink| sink.stores_recovery_state());
        let context = worker::Context {
            desks: Arc::new(Desks::new(config.workers)),
            config,
            source,
            status: Arc::clone(&status),
            shutdown: Arc::clone(&shutdown),
            resume: Arc::new(resume),
            skips: Arc::default(),
            read_from: Arc::default(),
            delivered: Delivered::default(),
            abort: AtomicBool::new(false),
            stores_recovery_state,
            clustered: processes > 1,
            may_rewind,
            fed_up_to: AtomicU64::new(0),
        };
        let first = Run::start(context)?;
        let nice = first.context.config.nice;
        let driver = std::thread::Builder::new()
            .name("flowmart-collector".into())
            .spawn(move || {
                supervision::supervise(&first.context.status, "the collector (or a sink it called)".into());
                cpu_share::run_in_background(nice);
                drive(first, sinks)
            })
            .map_err(|error| RuntimeError::Timely(error.to_string()))?;
        Ok(Pipeline { status, shutdown, driver: Some(driver) })
    }

    /// Counters and the frontier, for progress lines and readiness.
    pub fn status(&self) -> &Arc<PipelineStatus> {
        &self.status
    }

    /// Stops reading, lets the workers finish what they read, publishes it, and returns.
    pub fn stop(mut self) -> Result<(), RuntimeError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), RuntimeError> {
        self.shutdown.store(true, Ordering::SeqCst);
        if self.status.peer_lost() {
            // Joining would wait forever for the lost process's part of the dataflow.
            std::mem::forget(self.driver.take());
            return Err(RuntimeError::PeerLost);
        }
        if self.status.panicked_thread() {
            // The other workers wait for the one that panicked, and the collector for them:
            // joining would wait forever. The process is to exit.
            std::mem::forget(self.driver.take());
            return Err(RuntimeError::Panicked(self.status.failure().unwrap_or_default()));
        }
        match self.driver.take().map(JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(error))) => Err(error),
            Some(Err(_)) => Err(RuntimeError::Panicked("the collector panicked".into())),
        }
    }
}

/// One run of the workers, from one point a sink stored until the end or a rewind.
struct Run {
    context: Arc<worker::Context>,
    workers: WorkerGuards<()>,
    receiver: Receiver<WorkerBatch>,
}

impl Run {
    /// Starts the workers of `context`.
    fn start(context: worker::Context) -> Result<Run, RuntimeError> {
        let config = &context.config;
        // A few batches per worker in flight at most: a slow sink holds the workers back.
        let (sender, receiver) = sync_channel(4 * config.workers * config.processes());
        let timely_config = cluster::timely_config(config.workers, config.cluster.as_ref());
        let context = Arc::new(context);
        let workers = timely::execute(timely_config, {
            let context = Arc::clone(&context);
            move |timely_worker| {
                supervision::supervise(&context.status, format!("timely worker {}", timely_worker.index()));
                cpu_share::run_in_background(context.config.nice);
                worker::run(timely_worker, &context, sender.clone());
            }
        })
        .map_err(RuntimeError::Timely)?;
        Ok(Run { context, workers, receiver })
    }

    /// Stops the workers, dropping what they hand over, and waits until they are gone.
    fn abort(self) -> Result<Arc<worker::Context>, RuntimeError> {
        self.context.abort.store(true, Ordering::SeqCst);
        while self.receiver.recv().is_ok() {}
        if self.workers.join().into_iter().any(|result| result.is_err()) {
            return Err(RuntimeError::Panicked("a timely worker panicked".into()));
        }
        Ok(self.context)
    }
}

/// Runs the collector over each run of the workers, rewinding when a sink refuses records
/// (`rewind.rs`), until the pipeline ends.
fn drive(mut run: Run, mut sinks: Vec<Box<dyn Sink>>) -> Result<(), RuntimeError> {
    loop {
        let (skips, delivered) = match collector::run(&run.receiver, &mut sinks, &run.context) {
            End::Done => {
                // Gone before the workers are waited for: a worker blocked handing over a batch
                // nobody will take (the collector stopped at a failing sink) then sees it gone.
                drop(run.receiver);
                let workers_ok = run.workers.join().into_iter().all(|result| result.is_ok());
                return if workers_ok {
                    Ok(())
                } else {
                    Err(RuntimeError::Panicked("a timely worker panicked".into()))
                };
            }
            End::Rewind { skips, delivered } => (skips, delivered),
        };
        let context = run.abort()?;
        let Some(resume) = stored(&mut sinks, &context) else { return Ok(()) };
        let mut read_from = resume.progress.clone();
        read_from.merge(&context.read_from.lock().unwrap_or_else(PoisonError::into_inner));
        context.source.rewind(&read_from);
        metrics::counter!("flowmart_rewinds_total").increment(1);
        tracing::warn!(as_of = resume.as_of, records = skips.len(), "rewound to the stored results; reading again");
        run = Run::start(context.rewound(resume, skips, delivered))?;
    }
}

/// What the sink that stores the recovery state has stored, retried until it can say; `None`
/// when the pipeline stops first (or fails: the sink cannot say).
fn stored(sinks: &mut [Box<dyn Sink>], context: &worker::Context) -> Option<Resume> {
    let sink = sinks.iter_mut().find(|sink| sink.stores_recovery_state())?;
    let mut attempt = 0;
    loop {
        match sink.stored() {
            Some(Ok(resume)) => return Some(resume),
            Some(Err(error)) if error.class == ErrorClass::Fatal => {
                context.status.fail(format!("cannot rewind: {error}"));
                return None;
            }
            Some(Err(error)) => {
                tracing::warn!(%error, attempt, "cannot read back what the sink stored; retrying");
                context.status.sink_failed(sink.name(), error.class, error.message);
            }
            None => {
                context.status.fail(format!("sink {} cannot read back what it stored, to rewind", sink.name()));
                return None;
            }
        }
        if context.shutdown.load(Ordering::Relaxed) {
            return None;
        }
        std::thread::sleep(retry_delay(attempt));
        attempt += 1;
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        match self.stop_and_join() {
            // Already reported through the status, as the reason the pipeline failed.
            Ok(()) | Err(RuntimeError::PeerLost | RuntimeError::Panicked(_)) => {}
            Err(error) => tracing::error!(%error, "the pipeline stopped badly"),
        }
    }
}

/// How long the collector waits before retrying a sink that failed, doubling up to a cap.
pub(crate) fn retry_delay(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(6))).min(Duration::from_secs(5))
}
