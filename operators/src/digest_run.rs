//! A sealed run of remembered event digests: sorted, immutable, found by their first bits.

use flowmart_schemas::{EventDigest, SeenEventId, Time};

/// Digests with the time each was counted, sorted by digest, one entry per digest: 24 bytes an
/// entry, and one fence per ~4 entries (~2 bytes an entry).
pub(crate) struct DigestRun {
    entries: Box<[SeenEventId]>,
    /// `fences[b]` is the first entry whose digest's top `bits` bits are `b` or more: a lookup
    /// reads only the ~4 entries between two fences (two cache lines). Digests are uniform, so
    /// buckets are even.
    fences: Box<[usize]>,
    bits: u32,
    /// The latest time any entry was counted at: once it is forgotten, the whole run is.
    newest: Time,
}

/// Entries per fence bucket, on average.
const ENTRIES_PER_BUCKET: usize = 4;

impl DigestRun {
    /// A run of `entries`, each digest once (the latest time wins).
    pub(crate) fn new(mut entries: Vec<SeenEventId>) -> DigestRun {
        // Equal digests latest first, so the one kept is the latest.
        entries.sort_unstable_by(|(a, a_time), (b, b_time)| a.cmp(b).then(b_time.cmp(a_time)));
        entries.dedup_by_key(|(digest, _)| *digest);
        let bits = (entries.len() / ENTRIES_PER_BUCKET).max(1).ilog2();
        let bucket = |digest: &EventDigest| digest.prefix().checked_shr(64 - bits).unwrap_or(0) as usize;
        let mut fences = Vec::with_capacity((1 << bits) + 1);
        let mut next = 0;
        for fence in 0..=(1usize << bits) {
            while next < entries.len() && bucket(&entries[next].0) < fence {
                next += 1;
            }
            fences.push(next);
        }
        let newest = entries.iter().map(|(_, time)| *time).max().unwrap_or(0);
        DigestRun { entries: entries.into_boxed_slice(), fences: fences.into_boxed_slice(), bits, newest }
    }

    /// When `digest` was counted, if it is in the run.
    pub(crate) fn get(&self, digest: &EventDigest) -> Option<Time> {
        let bucket = digest.prefix().checked_shr(64 - self.bits).unwrap_or(0) as usize;
        // A scan, not a binary search: its loads do not wait on each other.
        self.entries[self.fences[bucket]..self.fences[bucket + 1]]
            .iter()
            .find(|(entry, _)| entry == digest)
            .map(|(_, counted_at)| *counted_at)
    }

    /// The latest time any entry was counted at.
    pub(crate) fn newest(&self) -> Time {
        self.newest
    }

    /// How many digests the run holds.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// One run holding both runs' digests.
    pub(crate) fn merge(self, other: DigestRun) -> DigestRun {
        let mut entries = Vec::from(self.entries);
        entries.extend_from_slice(&other.entries);
        DigestRun::new(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u64) -> EventDigest {
        EventDigest::of(&format!("evt-{n}"))
    }

    #[test]
    fn a_run_finds_each_of_its_digests_with_its_time_and_no_other() {
        for size in [0, 1, 7, 8, 9, 100, 5000] {
            let run = DigestRun::new((0..size).map(|n| (digest(n), n * 10)).collect());
            assert_eq!(run.len(), size as usize);
            for n in 0..size {
                assert_eq!(run.get(&digest(n)), Some(n * 10), "{n} of {size}");
            }
            for n in size..size + 100 {
                assert_eq!(run.get(&digest(n)), None, "{n} not in {size}");
            }
            assert_eq!(run.newest(), size.saturating_sub(1) * 10);
        }
    }

    #[test]
    fn a_digest_counted_twice_keeps_its_latest_time() {
        let run = DigestRun::new(vec![(digest(1), 5), (digest(2), 3), (digest(1), 9), (digest(1), 7)]);
        assert_eq!((run.len(), run.get(&digest(1)), run.get(&digest(2))), (2, Some(9), Some(3)));
    }

    #[test]
    fn merged_runs_hold_both() {
        let run = DigestRun::new((0..300).map(|n| (digest(n), n)).collect())
            .merge(DigestRun::new((200..500).map(|n| (digest(n), n + 1000)).collect()));
        assert_eq!(run.len(), 500);
        assert_eq!(
            (run.get(&digest(100)), run.get(&digest(250)), run.get(&digest(499))),
            (Some(100), Some(1250), Some(1499))
        );
        assert_eq!(run.newest(), 1499);
    }
}
