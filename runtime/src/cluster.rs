//! Many processes, one timely cluster (`CommunicationConfig::Cluster`): workers of every process
//! share one dataflow, so operator state is partitioned by key over the whole cluster. Small
//! dataflows beside it, over timely's own channels, keep the processes in step:
//!
//! - **settings**, first: every worker learns every other's settings, so processes that would
//!   build different dataflows stop at once, saying so, instead of waiting for each other forever.
//! - **fan-in**: each worker sends every batch it seals to the first worker of every process,
//!   which hands it to its process's collector. Every collector thus hears from every worker and
//!   publishes the same complete frontiers: process 0 commits them (Postgres, alert and dead-letter
//!   topics) and, when it has a database ([`ClusterConfig::recovery_state`]), receives everything;
//!   each other process — and process 0 without a database — receives the results of the tenants
//!   it serves (`flowmart_schemas::tenant_owner`), every alert change (so that all number them
//!   alike), and no outputs that only a database stores (recovery state, lineage). A tenant's
//!   stock, alerts and settlements are computed in the process that serves it, so its stock and
//!   settlements cross to no other process but a process 0 that stores them.
//! - **stop**: a stop asked of any process (SIGTERM) reaches every worker, so the whole cluster
//!   closes its inputs, finishes what it read and publishes it; no process waits for a peer that
//!   already left.
//!
//! A process that dies cannot say so: its peers' timely network threads fail with "timely
//! communication error". [`watch_for_lost_peers`] turns that into a clear failure of the pipeline,
//! and stops the failing threads where they are, so that the process exits with that failure.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::InputHandle;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Input;
use timely::dataflow::operators::generic::Operator;
use timely::worker::Worker;

use crate::handoff::{WorkerBatch, send};
use crate::status::PipelineStatus;

/// This process's place in a cluster of processes that run the same pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// This process's index in `addresses`.
    pub process: usize,
    /// Every process's timely address (`host:port`), in process order; the same list everywhere.
    pub addresses: Vec<String>,
    /// Whether the process that writes the results (process 0) stores what recovery needs (it has
    /// a database). Every worker must then capture it, and every process must build the same
    /// dataflow whatever its own sinks are; only process 0's sinks receive it.
    pub recovery_state: bool,
}

impl ClusterConfig {
    /// How many processes the cluster has.
    pub fn processes(&self) -> usize {
        self.addresses.len()
    }
}

/// The timely configuration for `threads` workers per process.
pub(crate) fn timely_config(threads: usize, cluster: Option<&ClusterConfig>) -> timely::Config {
    match cluster {
        Some(cluster) if cluster.processes() > 1 => timely::Config {
            communication: timely::CommunicationConfig::Cluster {
                threads,
                process: cluster.process,
                addresses: cluster.addresses.clone(),
                report: false,
                zerocopy: false,
            },
            worker: timely::WorkerConfig::default(),
        },
        _ if threads == 1 => timely::Config::thread(),
        _ => timely::Config::process(threads),
    }
}

/// Checks that every worker of the cluster runs with the same `settings` (what shapes the
/// dataflow and its partitioning): processes built from different settings would build different
/// dataflows and wait for each other forever. Every worker calls it first, before any other
/// dataflow; all of them learn every worker's settings, so on a mismatch all stop, each naming it.
pub(crate) fn agree_on_settings(worker: &mut Worker, threads: usize, settings: &str) -> Result<(), String> {
    let peers = worker.peers();
    let received = Rc::new(RefCell::new(Vec::<(usize, String)>::with_capacity(peers)));
    let mut input = worker.dataflow::<u64, _, _>(|scope| {
        let (handle, stream) = scope.new_input::<Vec<(usize, usize, String)>>();
        let into = Rc::clone(&received);
        let exchange = Exchange::new(|(target, _, _): &(usize, usize, String)| *target as u64);
        stream.sink(exchange, "Settings", move |(input, _frontier)| {
            input.for_each(|_, settings| {
                into.borrow_mut().extend(settings.drain(..).map(|(_, from, settings)| (from, settings)));
            });
        });
        handle
    });
    for target in 0..peers {
        input.send((target, worker.index(), settings.to_string()));
    }
    drop(input);
    while received.borrow().len() < peers {
        worker.step_or_park(Some(std::time::Duration::from_millis(10)));
    }
    let received = received.borrow();
    match received.iter().find(|(_, theirs)| theirs != settings) {
        None => Ok(()),
        Some((from, theirs)) => Err(format!(
            "process {} runs with other settings than this one ({theirs} there, {settings} here): give every \
             process the same pipeline file and settings",
            from / threads
        )),
    }
}

/// One worker's ends of the fan-in and stop dataflows.
pub(crate) struct ClusterLink {
    /// `(target worker, batch)`: a worker's sealed batches, one copy per process.
    batches: InputHandle<u64, CapacityContainerBuilder<Vec<(usize, WorkerBatch)>>>,
    /// `target worker`: one message per worker of the cluster when a stop is asked.
    stop: InputHandle<u64, CapacityContainerBuilder<Vec<usize>>>,
    stop_seen: Rc<Cell<bool>>,
    stop_sent: bool,
    threads: usize,
    peers: usize,
    /// Process 0 stores every result (it has a database): it is sent every tenant's.
    writer_stores: bool,
}

impl ClusterLink {
    /// Builds the two dataflows on `worker` (every worker must, in the same order); the first
    /// worker of each process hands what reaches it to `collector`. `writer_stores`: process 0
    /// stores every result (it has a database).
    pub(crate) fn new(
        worker: &mut Worker,
        threads: usize,
        writer_stores: bool,
        collector: SyncSender<WorkerBatch>,
    ) -> ClusterLink {
        let peers = worker.peers();
        let stop_seen = Rc::new(Cell::new(false));
        let batches = worker.dataflow::<u64, _, _>(|scope| {
            let (handle, stream) = scope.new_input::<Vec<(usize, WorkerBatch)>>();
            let exchange = Exchange::new(|(target, _): &(usize, WorkerBatch)| *target as u64);
            stream.sink(exchange, "FanIn", move |(input, _frontier)| {
                input.for_each(|_, batches| {
                    for (_, batch) in batches.drain(..) {
                        // Gone only when the collector stopped (a sink failing at shutdown) or
                        // panicked: then nobody takes it.
                        let _ = send(&collector, batch, &std::sync::atomic::AtomicBool::new(false));
                    }
                });
            });
            handle
        });
        let stop = worker.dataflow::<u64, _, _>(|scope| {
            let (handle, stream) = scope.new_input::<Vec<usize>>();
            let seen = Rc::clone(&stop_seen);
            stream.sink(Exchange::new(|target: &usize| *target as u64), "Stop", move |(input, _frontier)| {
                input.for_each(|_, targets| {
                    targets.clear();
                    seen.set(true);
                });
            });
            handle
        });
        ClusterLink { batches, stop, stop_seen, stop_sent: false, threads, peers, writer_stores }
    }

    /// Sends `batch` to the first worker of every process: what each serves, or all of it to a
    /// process 0 that stores every result.
    pub(crate) fn publish(&mut self, batch: WorkerBatch) {
        let upper = batch.upper;
        let parts = batch.split(self.peers / self.threads, self.threads, self.writer_stores);
        for (process, part) in parts.into_iter().enumerate() {
            self.batches.send((process * self.threads, part));
        }
        // Closing the epoch sends the batches on; uppers only grow.
        self.batches.advance_to(upper);
    }

    /// Asks every worker of the cluster to stop (the first call sends, later calls do nothing).
    pub(crate) fn ask_to_stop(&mut self) {
        if !self.stop_sent {
            self.stop_sent = true;
            for target in 0..self.peers {
                self.stop.send(target);
            }
            // Closing the epoch is what sends buffered messages on (a flush alone does not).
            self.stop.advance_to(1);
        }
    }

    /// Whether some worker of the cluster asked to stop.
    pub(crate) fn stop_asked(&self) -> bool {
        self.stop_seen.get()
    }
}

/// Makes a lost connection to another process of the cluster fail the pipeline (with a message
/// naming what happened and what to do) instead of leaving the workers waiting for it forever.
///
/// Timely's network threads panic with "timely communication error" when a peer's connection
/// breaks; the panic hook sees it before the thread dies, and parks the thread for good instead
/// of letting it unwind. Unwinding would poison the thread's queues (timely marks a queue dropped
/// while panicking), every worker reading them would panic in turn ("MergeQueue poisoned"), and a
/// second panic during one thread's unwinding aborts the whole process (SIGABRT) before it can
/// exit with the failure. Parked, the threads wait until the process exits; a timely thread that
/// panics after a peer was lost anyway is parked the same way.
pub(crate) fn watch_for_lost_peers(status: Arc<PipelineStatus>) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("timely communication error") {
            // Said once, by whoever watches the status (`flowmart run` prints it and exits).
            status.lose_peer(format!(
                "lost the connection to another process of the cluster ({message}); this process stops too. \
                 Restart every process of the cluster: it resumes from what Postgres holds"
            ));
        } else if !status.peer_lost() {
            previous(info);
            return;
        }
        // Once a peer is lost, other failures follow from it: the message above says what
        // happened. Timely's own threads (network and workers) stop here.
        if std::thread::current().name().is_some_and(|name| name.starts_with("timely:")) {
            loop {
                std::thread::park();
            }
        }
    }));
}
