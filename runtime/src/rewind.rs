//! Going past records a sink refused (`CONTRACT.md` §2, "No record stops the pipeline").
//!
//! A sink whose destination refuses part of a batch (a value the database will not store: a data
//! error) names the changes it refused ([`SinkError::refused`](crate::SinkError)). The collector
//! traces each to the records behind it ([`Output::caused_by`](flowmart_schemas::Output)) among
//! those the workers fed and the sinks have not taken, and picks the latest read. The pipeline
//! then rewinds: its workers stop, it reloads what the storing sink committed
//! ([`Sink::stored`](crate::Sink::stored)), rewinds the source there
//! ([`Source::rewind`](crate::Source::rewind)) and reads again — this time turning the picked
//! records into dead letters (`sink_rejected`, with the destination's reason) as they are read,
//! so their offsets commit with the results as every other record's do. This repeats until the
//! sink takes the batch: latest first, so that when a sum of records is what the destination
//! refuses, the records read before the one that crossed the line are kept.
//!
//! Rewinding reuses recovery, which the crash tests prove exactly once: nothing the sinks hold
//! changes until the batch without those records is committed. The dead letters sinks took from
//! the refused batch are sent again when read again, as after a crash.
//!
//! The collector and the workers meet at one desk per worker of this process: the collector asks,
//! each worker answers between two steps of its dataflow. A cluster does not rewind (its
//! processes cannot be restarted from one of them): the sink keeps retrying, which `/readyz` shows.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use flowmart_schemas::{NetChanges, Outputs, Time};

use crate::fed::{FedRecords, RecordPosition, Suspect};

/// Records to dead-letter as they are read, with why: what the sinks refused.
pub(crate) type Skips = BTreeMap<RecordPosition, String>;

/// A question of the collector to the workers: which records fed before `upper` may be behind
/// these changes?
struct Trace {
    refused: Outputs<NetChanges>,
    upper: Time,
}

#[derive(Default)]
struct Desk {
    ask: Option<Arc<Trace>>,
    answer: Option<Vec<Suspect>>,
}

/// The desks between this process's collector and its workers.
pub(crate) struct Desks {
    desks: Vec<Mutex<Desk>>,
}

impl Desks {
    /// Desks for `workers` workers of this process.
    pub(crate) fn new(workers: usize) -> Self {
        Desks { desks: (0..workers).map(|_| Mutex::default()).collect() }
    }

    /// Worker `local` (its index in this process) answers what it was asked, if anything.
    pub(crate) fn serve(&self, local: usize, fed: &FedRecords) {
        let mut desk = self.desks[local].lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(trace) = desk.ask.take() {
            desk.answer = Some(fed.suspects(&trace.refused, trace.upper));
        }
    }

    /// The latest-read record fed before `upper` that may be behind `refused`, among those every
    /// worker of this process holds. Waits for every answer, calling `meanwhile` while it waits
    /// (the collector keeps receiving what workers hand over: a worker blocked handing over would
    /// never answer). `None` when there is none, or `meanwhile` says to give up.
    pub(crate) fn latest_suspect(
        &self,
        refused: Outputs<NetChanges>,
        upper: Time,
        mut meanwhile: impl FnMut() -> bool,
    ) -> Option<Suspect> {
        let trace = Arc::new(Trace { refused, upper });
        for desk in &self.desks {
            *desk.lock().unwrap_or_else(PoisonError::into_inner) = Desk { ask: Some(trace.clone()), answer: None };
        }
        let mut latest = None;
        for desk in &self.desks {
            loop {
                if let Some(suspects) = desk.lock().unwrap_or_else(PoisonError::into_inner).answer.take() {
                    latest = latest.into_iter().chain(suspects).max();
                    break;
                }
                if !meanwhile() {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        latest
    }
}
