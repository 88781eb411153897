//! What a worker fed to the dataflow, kept until the results that include it are committed.
//!
//! Two things need a record after it went in: a refusal by the dataflow (its dead letter carries
//! the original bytes, which the dataflow never sees: see `refusals.rs`), and a refusal by a sink
//! (the records behind the refused change are traced: see `rewind.rs`). Both are rare, so the worker
//! keeps each record it fed — decoded, with its bytes — in a queue by pipeline time, and drops the
//! front once the collector has published those times to every sink. The queue holds what the
//! worker read and the sinks have not yet taken: `max_lag_ms` and the bounded channel to the
//! collector bound it.

use std::collections::{HashMap, VecDeque};

use flowmart_operators::SourceOffset;
use flowmart_schemas::{InputRecord, InputTopic, NetChanges, Outputs, Time};

use crate::DeadLetter;

/// A record fed to the dataflow, as the DLQ would need it back.
#[derive(Debug)]
pub(crate) struct FedRecord {
    pub(crate) topic: InputTopic,
    pub(crate) partition: u32,
    pub(crate) offset: u64,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    /// The record as fed, when the pipeline may rewind (else nothing traces it).
    pub(crate) record: Option<InputRecord>,
    /// Dead-lettered already (refused by the dataflow): never traced.
    pub(crate) dead: bool,
}

impl FedRecord {
    /// Where it was read, as the dataflow knows it.
    pub(crate) fn source(&self) -> SourceOffset {
        SourceOffset { partition: self.partition, offset: self.offset }
    }

    /// Where it was read.
    fn position(&self) -> RecordPosition {
        (self.topic, self.partition, self.offset)
    }

    /// Its dead letter, of `kind` for `message`; marks it dead.
    pub(crate) fn dead_letter(&mut self, kind: &'static str, message: String) -> DeadLetter {
        self.dead = true;
        let (topic, partition, offset) = (self.topic, self.partition, self.offset);
        DeadLetter {
            topic,
            partition,
            offset,
            key: self.key.clone(),
            value: self.value.clone(),
            kind: kind.into(),
            message,
        }
    }
}

/// Where a record was read: topic, partition, offset.
pub(crate) type RecordPosition = (InputTopic, u32, u64);

/// A record that may be behind a refused change, and the pipeline time it was fed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Suspect {
    /// First, so that the latest-read record orders last.
    pub(crate) time: Time,
    pub(crate) partition: u32,
    pub(crate) offset: u64,
    pub(crate) topic: InputTopic,
}

impl Suspect {
    pub(crate) fn position(&self) -> RecordPosition {
        (self.topic, self.partition, self.offset)
    }
}

/// Every record a worker fed and the sinks have not all taken yet, by pipeline time.
#[derive(Default)]
pub(crate) struct FedRecords {
    /// Per pipeline time fed at, in increasing order, the records fed then.
    by_time: VecDeque<(Time, Vec<FedRecord>)>,
}

impl FedRecords {
    /// Makes room for `additional` records fed at `time` (not before any time kept so far), so
    /// that keeping a poll's records moves each once.
    pub(crate) fn reserve(&mut self, time: Time, additional: usize) {
        self.fed_at(time).reserve(additional);
    }

    /// Keeps a record fed at `time` (not before any time kept so far).
    pub(crate) fn keep(&mut self, time: Time, record: FedRecord) {
        self.fed_at(time).push(record);
    }

    /// The records kept for `time` (not before any time kept so far), none yet if it is new.
    fn fed_at(&mut self, time: Time) -> &mut Vec<FedRecord> {
        if self.by_time.back().is_none_or(|(last, _)| *last != time) {
            self.by_time.push_back((time, Vec::new()));
        }
        &mut self.by_time.back_mut().expect("a group for the time: pushed above if new").1
    }

    /// Forgets every record fed before `committed`: every sink has its results.
    pub(crate) fn forget_before(&mut self, committed: Time) {
        let done = self.by_time.iter().take_while(|(time, _)| *time < committed).count();
        self.by_time.drain(..done);
    }

    /// Every record fed before `upper` and still kept, by where it was read.
    pub(crate) fn by_position(&mut self, upper: Time) -> HashMap<RecordPosition, &mut FedRecord> {
        self.by_time
            .iter_mut()
            .take_while(|(time, _)| *time < upper)
            .flat_map(|(_, records)| records.iter_mut())
            .map(|record| (record.position(), record))
            .collect()
    }

    /// The records fed before `upper`, not dead-lettered, that may be behind one of `refused`.
    pub(crate) fn suspects(&self, refused: &Outputs<NetChanges>, upper: Time) -> Vec<Suspect> {
        self.by_time
            .iter()
            .take_while(|(time, _)| *time < upper)
            .flat_map(|(time, records)| records.iter().map(move |record| (*time, record)))
            .filter(|(_, fed)| !fed.dead && fed.record.as_ref().is_some_and(|record| refused.caused_by(record)))
            .map(|(time, record)| Suspect {
                time,
                partition: record.partition,
                offset: record.offset,
                topic: record.topic,
            })
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_time.iter().map(|(_, records)| records.len()).sum()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use flowmart_schemas::{InventoryEvent, InventoryKind, PositionKey, StockLevels};

    use super::*;

    pub(crate) fn inventory(offset: u64, sku: &str) -> FedRecord {
        FedRecord {
            topic: InputTopic::Inventory,
            partition: 3,
            offset,
            key: Some(b"acme".to_vec()),
            value: Some(vec![0, 1, 2, offset as u8]),
            record: Some(InputRecord::Inventory(InventoryEvent {
                event_id: format!("e{offset}").into(),
                tenant_id: "acme".into(),
                warehouse_id: "berlin".into(),
                sku: sku.into(),
                kind: InventoryKind::Received,
                quantity: 5,
                occurred_at: 1_767_571_200_000,
                purchase_order_id: None,
            })),
            dead: false,
        }
    }

    fn stock_change(sku: &str) -> Outputs<NetChanges> {
        let mut change = Outputs::<NetChanges>::default();
        change.stock.push((PositionKey::new("acme", "berlin", sku), Some(StockLevels::default())));
        change
    }

    #[test]
    fn suspects_are_the_live_records_behind_a_change_fed_before_the_upper() {
        let mut fed = FedRecords::default();
        fed.keep(5, inventory(1, "A"));
        fed.keep(5, inventory(2, "B"));
        fed.keep(6, inventory(3, "A"));
        fed.keep(9, inventory(4, "A"));
        let suspects = fed.suspects(&stock_change("A"), 9);
        assert_eq!(suspects.iter().map(|suspect| (suspect.time, suspect.offset)).collect::<Vec<_>>(), [(5, 1), (6, 3)]);
        assert_eq!(suspects.iter().max().map(|latest| latest.offset), Some(3), "the latest read orders last");

        let dead = fed
            .by_position(9)
            .remove(&(InputTopic::Inventory, 3, 3))
            .expect("kept")
            .dead_letter("aggregate_out_of_range", "no".into());
        assert_eq!((dead.offset, dead.value, &*dead.kind), (3, Some(vec![0, 1, 2, 3]), "aggregate_out_of_range"));
        assert_eq!(fed.suspects(&stock_change("A"), 9).len(), 1, "a dead-lettered record is no suspect");
        assert!(!fed.by_position(9).contains_key(&(InputTopic::Inventory, 3, 4)), "fed at the upper or later");
    }

    #[test]
    fn records_are_kept_until_their_results_are_committed() {
        let mut fed = FedRecords::default();
        fed.keep(5, inventory(1, "A"));
        fed.keep(6, inventory(2, "A"));
        fed.forget_before(6);
        assert_eq!(fed.len(), 1);
        fed.forget_before(7);
        assert_eq!(fed.len(), 0);
    }
}
