//! From records the dataflow refuses to dead letters.
//!
//! The dataflow refuses a record when its effect would take an aggregate out of range
//! (`CONTRACT.md` §2, "Nothing wraps"), and outputs where it was read and why. A dead letter
//! carries the record's original key and value bytes, which the dataflow never sees: the worker
//! that read the record keeps them ([`FedRecords`]) until the record's results are committed, and
//! the refusals are routed to that worker ([`to_readers`]) to be matched with them.
//!
//! Why not carry the bytes through the dataflow with each record: refusals are rare, and every
//! record would then move its bytes (100–200 bytes of Avro, or more) through every exchange and
//! every operator's stash — and across the network in a cluster — for nothing. Kept at the
//! reader, they cost one move into a queue per record and one drop once committed.

use differential_dataflow::AsCollection;
use flowmart_operators::Collection;
use flowmart_schemas::{Diff, RefusedRecord, Time};
use timely::dataflow::operators::core::Exchange;

use crate::fed::FedRecords;
use crate::{DeadLetter, Topics};

/// Routes each refusal to the worker that read its record: partition `p` of every topic is read
/// by worker `p mod workers` (the [`Source`](crate::Source) rule), and timely's exchange sends a
/// route `r` to worker `r mod workers`.
pub(crate) fn to_readers(refused: Collection<'_, RefusedRecord>) -> Collection<'_, RefusedRecord> {
    refused.inner.exchange(|(refused, _, _): &(RefusedRecord, Time, Diff)| u64::from(refused.partition)).as_collection()
}

/// The dead letters of `refused` — the refusals of records this worker fed before `upper` — with
/// their records' bytes (the records are marked dead: never traced again). Counts them in
/// `flowmart_dead_letters_total`. A refusal withdrawn (a negative update) is no new dead letter.
pub(crate) fn dead_letters(
    fed: &mut FedRecords,
    upper: Time,
    refused: Vec<(RefusedRecord, Time, Diff)>,
    topics: &Topics,
) -> Vec<(Time, DeadLetter)> {
    if refused.is_empty() {
        return Vec::new();
    }
    let mut kept = fed.by_position(upper);
    refused
        .into_iter()
        .filter(|(_, _, diff)| *diff > 0)
        .map(|(refused, time, _)| {
            let RefusedRecord { topic, partition, offset, error } = &refused;
            let kind = refused.kind();
            metrics::counter!("flowmart_dead_letters_total", "topic" => topics.name(*topic).to_string(), "kind" => kind)
                .increment(1);
            tracing::debug!(kind, message = %error, partition, offset, "record refused");
            let message = error.to_string();
            let dead_letter = match kept.get_mut(&(*topic, *partition, *offset)) {
                Some(record) => record.dead_letter(kind, message),
                None => {
                    // Routed to the worker that read it, before its time was committed: never.
                    // The dead letter goes out without bytes rather than not at all.
                    tracing::error!(?topic, partition, offset, "no bytes kept for a refused record");
                    let (topic, partition, offset) = (*topic, *partition, *offset);
                    DeadLetter { topic, partition, offset, key: None, value: None, kind: kind.into(), message }
                }
            };
            (time, dead_letter)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use flowmart_schemas::{Aggregate, AggregateKey, AggregateOutOfRange, PositionKey};

    use super::*;
    use crate::InputTopic;
    use crate::fed::tests::inventory;

    #[test]
    fn a_refused_record_becomes_a_dead_letter_with_its_original_bytes_once() {
        let mut fed = FedRecords::default();
        fed.keep(5, inventory(6, "A"));
        fed.keep(5, inventory(7, "A"));
        fed.keep(6, inventory(8, "A"));
        let error = AggregateOutOfRange::new(
            Aggregate::OnHand,
            AggregateKey::Position(PositionKey::new("acme", "berlin", "SKU-1")),
        );
        let refused = RefusedRecord { topic: InputTopic::Inventory, partition: 3, offset: 7, error: error.clone() };
        let dead = dead_letters(&mut fed, 6, vec![(refused.clone(), 5, 1)], &Topics::default());
        assert_eq!(
            dead,
            vec![(
                5,
                DeadLetter {
                    topic: InputTopic::Inventory,
                    partition: 3,
                    offset: 7,
                    key: Some(b"acme".to_vec()),
                    value: Some(vec![0, 1, 2, 7]),
                    kind: "aggregate_out_of_range".into(),
                    message: error.to_string(),
                }
            )]
        );
        assert!(fed.by_position(6)[&(InputTopic::Inventory, 3, 7)].dead);
        let taken_back = dead_letters(&mut fed, 9, vec![(refused, 8, -1)], &Topics::default());
        assert!(taken_back.is_empty(), "a refusal withdrawn is no second dead letter");
    }
}
