//! Starting a partition at an offset inside a record batch, on any broker.
//!
//! A fetch at offset `n` is answered, by Kafka, with the record batch that holds `n`; librdkafka
//! drops the batch's records before `n`. Some Kafka-protocol brokers (Tansu 0.6, measured)
//! answer with the first batch that *starts* at or after `n` instead, so the records from `n` to
//! the end of its batch are never read. A pipeline resumes at whatever offset its results were
//! stored at — inside a batch as often as not — so on such a broker a restart would lose records.
//!
//! So a partition assigned at an offset is *landing* until it reads a record at or before it: at
//! the offset asked for, all is well. Past it — or with nothing read for [`PATIENCE`] while the
//! partition's end is past the offset, since a broker that skips to the next batch has nothing
//! to answer when the offset is in the last one — the reader asks again from further back (1
//! record, then 2, 4, …, never before the partition's earliest offset) and drops the records
//! before the offset it wants. On Kafka this costs one batch read again where the offset asked
//! for is missing (compacted away, or a transaction marker); a gap that remains when read from
//! before it, or from the partition's earliest offset on, is real. Records before a partition's
//! next offset are dropped whenever they come (a fetch from further back, or an answer to an
//! earlier one), so none is read twice.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use flowmart_runtime::InputTopic;

/// How long a landing partition may read nothing before it is fetched from further back.
pub(super) const PATIENCE: Duration = Duration::from_millis(100);

/// A partition: its topic and number.
type Partition = (InputTopic, i32);

/// What to do with a record read from a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Read it: the partition is read from where it was asked to start.
    Read,
    /// Drop it: it is before the offset the partition starts at.
    Drop,
    /// Drop it and fetch the partition again from this offset: the broker started past the
    /// offset asked for.
    FetchFrom(i64),
}

/// A partition that has not yet read a record at or after the offset it started at (`wanted`:
/// its position's next offset, which only a record read moves, ending the landing).
#[derive(Clone, Copy, Debug)]
struct Landing {
    /// How far before `wanted` the last fetch started (0: at `wanted`).
    back: i64,
    /// Whether a record before `wanted` was read: the broker answered from before it, so what
    /// comes next is what it holds from `wanted` on.
    before: bool,
    /// When the last fetch was asked for.
    asked_at: Instant,
}

impl Landing {
    /// Steps further back, if anything is held before where the last fetch started: the offset
    /// to fetch from.
    fn step_back(&mut self, wanted: i64, earliest: i64, now: Instant) -> Option<i64> {
        if wanted - self.back <= earliest {
            return None;
        }
        self.back = (self.back * 2).max(1);
        self.asked_at = now;
        Some((wanted - self.back).max(earliest))
    }
}

/// A partition started at an offset: the next offset to read (records before it, read again by
/// a fetch from further back or by one the broker answers late, are dropped), and its landing
/// while it lasts.
#[derive(Clone, Copy, Debug)]
struct Position {
    next: i64,
    landing: Option<Landing>,
}

/// The partitions started at an offset.
#[derive(Debug, Default)]
pub(super) struct Landings(BTreeMap<Partition, Position>);

impl Landings {
    /// `partition` is assigned at `offset` (asked for at `now`): it is to read from there on.
    pub(super) fn starting_at(&mut self, partition: Partition, offset: i64, now: Instant) {
        let landing = (offset > 0).then_some(Landing { back: 0, before: false, asked_at: now });
        self.0.insert(partition, Position { next: offset, landing });
    }

    /// `partition` is assigned at a logical start (its beginning or end): nothing to check.
    pub(super) fn starting_anywhere(&mut self, partition: Partition) {
        self.0.remove(&partition);
    }

    /// What to do with the record at `offset` of `partition`, read at `now`; `earliest` tells
    /// the partition's earliest offset, where known (asked only while it lands).
    pub(super) fn verdict(
        &mut self,
        partition: Partition,
        offset: i64,
        earliest: impl FnOnce() -> Option<i64>,
        now: Instant,
    ) -> Verdict {
        let Some(position) = self.0.get_mut(&partition) else { return Verdict::Read };
        if offset < position.next {
            if let Some(landing) = &mut position.landing {
                // Read from before the offset wanted, to reach the batch that holds it.
                landing.before = true;
            }
            return Verdict::Drop;
        }
        if let Some(landing) = &mut position.landing
            && offset > position.next
            && !landing.before
            && let Some(from) = landing.step_back(position.next, earliest().unwrap_or(0), now)
        {
            return Verdict::FetchFrom(from);
        }
        // There; or past it, read from before it or from the earliest offset: the records
        // between are not held.
        position.landing = None;
        position.next = offset + 1;
        Verdict::Read
    }

    /// The partitions still landing that have read nothing for [`PATIENCE`] by `now` though
    /// the broker holds records from where they start, each with the offset to fetch it from
    /// now; `watermarks` tells a partition's earliest offset and end, once a fetch said them.
    pub(super) fn stalled(
        &mut self,
        now: Instant,
        watermarks: impl Fn(Partition) -> Option<(i64, i64)>,
    ) -> Vec<(Partition, i64)> {
        let mut again = Vec::new();
        for (&partition, position) in &mut self.0 {
            let Some(landing) = &mut position.landing else { continue };
            if landing.before || now < landing.asked_at + PATIENCE {
                continue;
            }
            let Some((earliest, end)) = watermarks(partition) else {
                // No answer yet: look again later.
                landing.asked_at = now;
                continue;
            };
            if position.next >= end {
                // Nothing there yet (or an offset beyond the end, which the broker reports):
                // the next record appended is the one wanted.
                position.landing = None;
                continue;
            }
            match landing.step_back(position.next, earliest.max(0), now) {
                Some(from) => again.push((partition, from)),
                // Nothing is held before: whatever it reads next is where it starts.
                None => position.landing = None,
            }
        }
        again
    }

    /// When the next partition that reads nothing is to be fetched from further back.
    pub(super) fn next_patience_end(&self) -> Option<Instant> {
        let landings = self.0.values().filter_map(|position| position.landing);
        landings.filter(|landing| !landing.before).map(|landing| landing.asked_at + PATIENCE).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARTITION: Partition = (InputTopic::Inventory, 0);

    /// A broker holding records `0..end` in batches of `batch` records that answers a fetch at
    /// `from` with the first batch starting at or after it (as Tansu 0.6 does) or with the batch
    /// holding it (as Kafka does); the offsets a reader delivers starting at `start`.
    fn read(batch: i64, end: i64, start: i64, whole_batches_after: bool) -> Vec<i64> {
        let mut now = Instant::now();
        let mut landings = Landings::default();
        landings.starting_at(PARTITION, start, now);
        let mut from = start;
        let mut delivered = Vec::new();
        'fetch: loop {
            let first = match whole_batches_after {
                true => (from + batch - 1) / batch * batch,
                false => from,
            };
            for offset in first..end {
                match landings.verdict(PARTITION, offset, || Some(0), now) {
                    Verdict::Read => delivered.push(offset),
                    Verdict::Drop => {}
                    Verdict::FetchFrom(again) => {
                        from = again;
                        continue 'fetch;
                    }
                }
            }
            // Nothing more to read: once patience runs out, the partition is fetched again.
            now += PATIENCE;
            match landings.stalled(now, |_| Some((0, end))).as_slice() {
                [] => return delivered,
                [(_, again)] => from = *again,
                more => panic!("one partition: {more:?}"),
            }
        }
    }

    #[test]
    fn every_record_from_the_offset_asked_for_is_read_whatever_the_broker_starts_with() {
        for batch in [1, 3, 10, 64] {
            for start in 0..=130 {
                let expected = (start..130).collect::<Vec<_>>();
                assert_eq!(read(batch, 130, start, true), expected, "batches of {batch}, from {start}");
                assert_eq!(read(batch, 130, start, false), expected, "kafka, batches of {batch}, from {start}");
            }
        }
    }

    #[test]
    fn a_real_gap_is_read_past_after_one_look_back() {
        let now = Instant::now();
        let mut landings = Landings::default();
        landings.starting_at(PARTITION, 50, now);
        // Offsets 50..60 were compacted away: the broker answers from 60.
        assert_eq!(landings.verdict(PARTITION, 60, || Some(0), now), Verdict::FetchFrom(49));
        assert_eq!(landings.verdict(PARTITION, 49, || Some(0), now), Verdict::Drop);
        assert_eq!(landings.verdict(PARTITION, 60, || Some(0), now), Verdict::Read);
        assert_eq!(landings.verdict(PARTITION, 61, || Some(0), now), Verdict::Read);
        // From the earliest offset on, a gap is taken as it is.
        landings.starting_at(PARTITION, 100, now);
        assert_eq!(landings.verdict(PARTITION, 120, || Some(100), now), Verdict::Read);
        // A partition started at its beginning is never checked.
        landings.starting_at(PARTITION, 7, now);
        landings.starting_anywhere(PARTITION);
        assert_eq!(landings.verdict(PARTITION, 3, || None, now), Verdict::Read);
    }

    #[test]
    fn records_read_again_are_dropped() {
        let now = Instant::now();
        let mut landings = Landings::default();
        landings.starting_at(PARTITION, 45, now);
        // Nothing came within patience: fetched again from 44; meanwhile the first fetch's answer
        // arrives, and then the second's, from 44 on.
        assert_eq!(landings.stalled(now + PATIENCE, |_| Some((0, 100))), vec![(PARTITION, 44)]);
        let verdicts = [45, 46, 44, 45, 46, 47].map(|offset| landings.verdict(PARTITION, offset, || Some(0), now));
        use Verdict::{Drop, Read};
        assert_eq!(verdicts, [Read, Read, Drop, Drop, Drop, Read]);
    }

    #[test]
    fn a_partition_read_to_its_end_lands_at_once_and_one_past_it_is_left_to_the_broker() {
        let now = Instant::now();
        let mut landings = Landings::default();
        for offset in [50, 1_000_000] {
            landings.starting_at(PARTITION, offset, now);
            // No fetch answered yet: nothing to go by.
            assert!(landings.stalled(now + PATIENCE, |_| None).is_empty());
            assert_eq!(landings.next_patience_end(), Some(now + PATIENCE * 2));
            assert!(landings.stalled(now + PATIENCE * 2, |_| Some((0, 50))).is_empty());
            assert_eq!(landings.next_patience_end(), None, "from {offset}");
        }
        // Read from its beginning after the broker said the offset was out of range: no floor.
        landings.starting_anywhere(PARTITION);
        assert_eq!(landings.verdict(PARTITION, 0, || Some(0), now), Verdict::Read);
    }

    #[test]
    fn a_partition_started_inside_its_last_batch_is_looked_back_on_until_it_reads() {
        let now = Instant::now();
        let mut landings = Landings::default();
        landings.starting_at(PARTITION, 50, now);
        assert_eq!(landings.next_patience_end(), Some(now + PATIENCE));
        assert!(landings.stalled(now + PATIENCE / 2, |_| Some((0, 100))).is_empty());
        assert_eq!(landings.stalled(now + PATIENCE, |_| Some((0, 100))), vec![(PARTITION, 49)]);
        // The broker answers from before it: the partition waits for what comes next, unhurried.
        assert_eq!(landings.verdict(PARTITION, 49, || Some(0), now + PATIENCE), Verdict::Drop);
        assert_eq!(landings.next_patience_end(), None);
        assert!(landings.stalled(now + PATIENCE * 10, |_| Some((0, 100))).is_empty());
        assert_eq!(landings.verdict(PARTITION, 50, || Some(0), now + PATIENCE * 10), Verdict::Read);
    }
}
