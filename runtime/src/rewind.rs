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
//! the refused batch are not sent again when read again ([`Delivered`]).
//!
//! The collector and the workers meet at one desk per worker of this process: the collector asks,
//! each worker answers between two steps of its dataflow. A cluster does not rewind (its
//! processes cannot be restarted from one of them): the sink keeps retrying, which `/readyz` shows.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use flowmart_schemas::{NetChanges, Outputs, Time};

use crate::fed::{FedRecords, RecordPosition, Suspect};
use crate::{DeadLetter, SourceProgress};

/// Records to dead-letter as they are read, with why: what the sinks refused.
pub(crate) type Skips = BTreeMap<RecordPosition, String>;

/// The dead letters sinks took from the batches a rewind reads again, by record: read again, they
/// are not sent twice. By record, not by offset: reading again may refuse a record the first read
/// took (whether a sum leaves its range depends on the order records meet it), and that one's
/// dead letter must go out.
#[derive(Clone, Debug, Default)]
pub(crate) struct Delivered(BTreeSet<RecordPosition>);

impl Delivered {
    /// The dead letters of a batch that the sinks before the refusing one took.
    pub(crate) fn of(dead_letters: &[DeadLetter]) -> Delivered {
        Delivered(dead_letters.iter().map(|dead| (dead.topic, dead.partition, dead.offset)).collect())
    }

    /// These and `more`, less those of records the `stored` offsets cover: never read again.
    pub(crate) fn and(&self, more: Delivered, stored: &SourceProgress) -> Delivered {
        let mut all = self.0.clone();
        all.extend(more.0);
        all.retain(|&(topic, partition, offset)| {
            stored.next_offset(topic, partition).is_none_or(|next| offset >= next)
        });
        Delivered(all)
    }

    /// Whether the sinks took `dead_letter` before the rewind.
    pub(crate) fn took(&self, dead_letter: &DeadLetter) -> bool {
        self.0.contains(&(dead_letter.topic, dead_letter.partition, dead_letter.offset))
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InputTopic;

    fn dead(partition: u32, offset: u64) -> DeadLetter {
        DeadLetter {
            topic: InputTopic::Inventory,
            partition,
            offset,
            key: None,
            value: None,
            kind: "aggregate_out_of_range".into(),
            message: String::new(),
        }
    }

    #[test]
    fn only_the_dead_letters_taken_are_held_back_and_stored_records_are_forgotten() {
        let delivered = Delivered::default().and(Delivered::of(&[dead(0, 5), dead(1, 9)]), &SourceProgress::default());
        assert!(delivered.took(&dead(0, 5)) && delivered.took(&dead(1, 9)));
        // Refused only when read again, below or above a taken one: sent.
        assert!(!delivered.took(&dead(0, 3)) && !delivered.took(&dead(1, 12)));
        // A later rewind resumes from stored offsets past partition 0's record: it goes.
        let mut stored = SourceProgress::default();
        stored.consumed(InputTopic::Inventory, 0, 5);
        let later = delivered.and(Delivered::of(&[dead(0, 7)]), &stored);
        assert_eq!(later.0, BTreeSet::from([(InputTopic::Inventory, 0, 7), (InputTopic::Inventory, 1, 9)]));
    }
}
