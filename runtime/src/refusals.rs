//! From records the dataflow refuses to dead letters.
//!
//! The dataflow refuses a record when its effect would take an aggregate out of range
//! (`CONTRACT.md` §2, "Nothing wraps"), and outputs where it was read and why. A dead letter
//! carries the record's original key and value bytes, which the dataflow never sees: the worker
//! that read the record keeps them ([`FedRecords`]) until the record's time is sealed, and the
//! refusals are routed to that worker ([`to_readers`]) to be matched with them.
//!
//! Why not carry the bytes through the dataflow with each record: refusals are rare, and every
//! record would then move its bytes (100–200 bytes of Avro, or more) through every exchange and
//! every operator's stash — and across the network in a cluster — for nothing. Kept at the
//! reader, they cost one move into a queue per record and one drop at seal; the queue holds what
//! the worker read and has not sealed, which `max_lag_ms` bounds.

use std::collections::{HashMap, VecDeque};

use differential_dataflow::AsCollection;
use flowmart_operators::Collection;
use flowmart_schemas::{Diff, InputTopic, RefusedRecord, Time};
use timely::dataflow::operators::core::Exchange;

use crate::{DeadLetter, Topics};

/// Routes each refusal to the worker that read its record: partition `p` of every topic is read
/// by worker `p mod workers` (the [`Source`](crate::Source) rule), and timely's exchange sends a
/// route `r` to worker `r mod workers`.
pub(crate) fn to_readers(refused: Collection<'_, RefusedRecord>) -> Collection<'_, RefusedRecord> {
    refused.inner.exchange(|(refused, _, _): &(RefusedRecord, Time, Diff)| u64::from(refused.partition)).as_collection()
}

/// A record fed to the dataflow, as the DLQ would need it back.
#[derive(Debug)]
pub(crate) struct FedRecord {
    pub(crate) topic: InputTopic,
    pub(crate) partition: u32,
    pub(crate) offset: u64,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
}

/// The original bytes of every record a worker fed to the dataflow and has not yet sealed.
#[derive(Default)]
pub(crate) struct FedRecords {
    /// Per pipeline time fed at, in increasing order, the records fed then.
    by_time: VecDeque<(Time, Vec<FedRecord>)>,
}

impl FedRecords {
    /// Keeps a record fed at `time` (not before any time kept so far).
    pub(crate) fn keep(&mut self, time: Time, record: FedRecord) {
        match self.by_time.back_mut() {
            Some((last, records)) if *last == time => records.push(record),
            _ => self.by_time.push_back((time, vec![record])),
        }
    }

    /// The dead letters of `refused` — every refusal of a record this worker fed before `upper`
    /// — with their records' bytes; then forgets every record fed before `upper`. Counts them in
    /// `flowmart_dead_letters_total`.
    pub(crate) fn seal(
        &mut self,
        upper: Time,
        refused: Vec<(RefusedRecord, Time, Diff)>,
        topics: &Topics,
    ) -> Vec<(Time, DeadLetter)> {
        let sealed = self.by_time.iter().take_while(|(time, _)| *time < upper).count();
        let sealed = self.by_time.drain(..sealed);
        if refused.is_empty() {
            return Vec::new();
        }
        let mut fed = sealed
            .flat_map(|(_, records)| records)
            .map(|record| ((record.topic, record.partition, record.offset), record))
            .collect::<HashMap<_, _>>();
        refused
            .into_iter()
            .map(|(refused, time, _)| {
                let RefusedRecord { topic, partition, offset, error } = &refused;
                let record = fed.remove(&(*topic, *partition, *offset));
                if record.is_none() {
                    // Routed to the worker that read it, before its time was sealed: never. The
                    // dead letter goes out without bytes rather than not at all.
                    tracing::error!(?topic, partition, offset, "no bytes kept for a refused record");
                }
                let (key, value) = record.map_or((None, None), |record| (record.key, record.value));
                let kind = refused.kind();
                metrics::counter!("flowmart_dead_letters_total", "topic" => topics.name(*topic).to_string(), "kind" => kind)
                    .increment(1);
                tracing::debug!(kind, message = %error, partition, offset, "record refused");
                let message = error.to_string();
                (time, DeadLetter { topic: *topic, partition: *partition, offset: *offset, key, value, kind: kind.into(), message })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use flowmart_schemas::{Aggregate, AggregateKey, AggregateOutOfRange, PositionKey};

    use super::*;

    fn fed(topic: InputTopic, offset: u64) -> FedRecord {
        FedRecord { topic, partition: 3, offset, key: Some(b"acme".to_vec()), value: Some(vec![0, 1, 2, offset as u8]) }
    }

    #[test]
    fn a_refused_record_becomes_a_dead_letter_with_its_original_bytes_and_sealed_bytes_are_forgotten() {
        let mut kept = FedRecords::default();
        kept.keep(5, fed(InputTopic::Inventory, 7));
        kept.keep(5, fed(InputTopic::Orders, 7));
        kept.keep(6, fed(InputTopic::Inventory, 8));
        let error = AggregateOutOfRange::new(
            Aggregate::OnHand,
            AggregateKey::Position(PositionKey::new("acme", "berlin", "SKU-1")),
        );
        let refused = RefusedRecord { topic: InputTopic::Orders, partition: 3, offset: 7, error: error.clone() };
        let dead = kept.seal(6, vec![(refused, 5, 1)], &Topics::default());
        assert_eq!(
            dead,
            vec![(
                5,
                DeadLetter {
                    topic: InputTopic::Orders,
                    partition: 3,
                    offset: 7,
                    key: Some(b"acme".to_vec()),
                    value: Some(vec![0, 1, 2, 7]),
                    kind: "aggregate_out_of_range".into(),
                    message: error.to_string(),
                }
            )]
        );
        assert_eq!(kept.by_time.len(), 1, "only what was fed at 6 is left");
        assert!(kept.seal(7, Vec::new(), &Topics::default()).is_empty());
        assert!(kept.by_time.is_empty());
    }
}
