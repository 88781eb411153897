//! The event ids a dedupe remembers: digests by time window, each window forgotten whole.

use flowmart_schemas::{EventDigest, Time};

use crate::StateMap;
use crate::digest_run::DigestRun;

/// Windows a retention is cut into: the oldest run holds up to one window of digests already
/// forgotten (half a window on average, 1/16 of what is remembered), and a lookup searches
/// `WINDOWS_PER_RETENTION + 1` runs at most.
const WINDOWS_PER_RETENTION: Time = 8;
/// The window without retention (nothing is forgotten; runs are merged instead).
const WINDOW_WITHOUT_RETENTION: Time = 60 * 60 * 1000;

/// Event digests, each with the pipeline time it was counted at, held once.
///
/// Pipeline time is cut into windows (an eighth of the retention). Digests counted in the current
/// window are in a hash map; once time passes into a later window they are sealed into a
/// [`DigestRun`] — sorted, 24 bytes a digest and ~2 of index — and a run is dropped whole once its
/// newest digest is forgotten. A digest counted a retention or more ago is forgotten at once
/// (every entry keeps its time), whether or not its run is dropped yet. Without retention nothing
/// is forgotten, and runs are merged so each is more than twice the next newer one (a lookup
/// searches logarithmically many).
pub(crate) struct RememberedDigests {
    retention: Option<Time>,
    window: Time,
    /// The window the open digests were counted in.
    open_window: Time,
    open: StateMap<EventDigest, Time>,
    /// Oldest first.
    sealed: Vec<DigestRun>,
}

impl RememberedDigests {
    /// Nothing remembered; digests are forgotten `retention` ms after they were counted.
    pub(crate) fn new(retention: Option<Time>) -> RememberedDigests {
        // A retention of 0 still remembers a digest at the time it was counted, as 1 does.
        let retention = retention.map(|ms| ms.max(1));
        let window = retention.map_or(WINDOW_WITHOUT_RETENTION, |ms| (ms / WINDOWS_PER_RETENTION).max(1));
        RememberedDigests { retention, window, open_window: 0, open: StateMap::default(), sealed: Vec::new() }
    }

    /// Counts `batch` at `now`, in order: remembers each digest not remembered yet (by an earlier
    /// time, or earlier in `batch`), and says for each whether it was new.
    pub(crate) fn count(&mut self, batch: &[EventDigest], now: Time) -> Vec<bool> {
        self.seal_before(now);
        let retention = self.retention;
        let remembered = |counted_at: Time| retention.is_none_or(|ms| counted_at.saturating_add(ms) > now);
        let mut new = vec![true; batch.len()];
        // Run by run, so the lookups of a batch (independent) overlap their cache misses.
        for run in &self.sealed {
            for (digest, new) in batch.iter().zip(&mut new) {
                *new &= !run.get(digest).is_some_and(remembered);
            }
        }
        for (digest, new) in batch.iter().zip(&mut new) {
            *new = *new && self.open.get(digest).is_none_or(|counted_at| !remembered(*counted_at));
            if *new {
                self.open.insert(*digest, now);
            }
        }
        new
    }

    /// Remembers that `digest` was counted at `counted_at`: in the window of `counted_at` if it
    /// is no earlier than the windows remembered (recovered digests in time order, before
    /// [`expire`](RememberedDigests::expire) at a later time), else in the current one (it keeps
    /// its own time either way).
    pub(crate) fn insert(&mut self, digest: EventDigest, counted_at: Time) {
        self.seal_before(counted_at);
        let latest = self.open.entry(digest).or_insert(counted_at);
        *latest = (*latest).max(counted_at);
    }

    /// Drops every run whose digests are all forgotten at `now`.
    pub(crate) fn expire(&mut self, now: Time) {
        self.seal_before(now);
        if let Some(ms) = self.retention {
            self.sealed.retain(|run| run.newest().saturating_add(ms) > now);
        }
    }

    /// Seals the open digests into a run if `time` is in a later window.
    fn seal_before(&mut self, time: Time) {
        let window = time / self.window;
        if window <= self.open_window {
            return;
        }
        self.open_window = window;
        if self.open.is_empty() {
            return;
        }
        // `drain` keeps the map's capacity for the next window, about as large.
        self.sealed.push(DigestRun::new(self.open.drain().collect()));
        while self.retention.is_none()
            && let [.., older, newer] = &self.sealed[..]
            && older.len() <= 2 * newer.len()
        {
            let newer = self.sealed.pop().expect("two runs were just seen");
            let older = self.sealed.pop().expect("two runs were just seen");
            self.sealed.push(older.merge(newer));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn recovered_digests_are_dropped_with_the_window_they_were_counted_in() {
        let mut remembered = RememberedDigests::new(Some(80));
        for time in 0..80 {
            remembered.insert(EventDigest::of(&time.to_string()), time);
        }
        remembered.expire(95);
        let held = remembered.open.len() + remembered.sealed.iter().map(DigestRun::len).sum::<usize>();
        assert_eq!(held, 80 - 10, "the window of times 0..10 dropped");
        let counted_again = remembered.count(&[EventDigest::of("15"), EventDigest::of("16")], 95);
        assert_eq!(counted_again, [true, false], "15 forgotten at 95, 16 not");
    }

    proptest! {
        /// Against a plain map of each digest's latest count, forgotten exactly a retention later.
        #[test]
        fn remembers_exactly_what_was_counted_within_the_retention(
            retention in prop_oneof![Just(None), (0u64..40).prop_map(Some)],
            // Steps of whole windows without retention too, so runs are sealed and merged.
            unit in prop_oneof![Just(1), Just(WINDOW_WITHOUT_RETENTION / 2)],
            steps in prop::collection::vec((0u64..6, prop::collection::vec(0u64..30, 0..12)), 1..60),
        ) {
            let mut remembered = RememberedDigests::new(retention);
            let mut latest = HashMap::new();
            let mut now = 0;
            for (advance, ids) in steps {
                now += advance * unit;
                remembered.expire(now);
                let mut expected = Vec::new();
                for id in &ids {
                    let known = latest
                        .get(id)
                        .is_some_and(|counted_at: &Time| retention.is_none_or(|ms| counted_at + ms.max(1) > now));
                    if !known {
                        latest.insert(*id, now);
                    }
                    expected.push(!known);
                }
                let batch = ids.iter().map(|id| EventDigest::of(&id.to_string())).collect::<Vec<_>>();
                prop_assert_eq!(remembered.count(&batch, now), expected, "{:?} at {}", ids, now);
            }
        }
    }
}
