use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use flowmart_runtime::{PollStatus, Source, SourceError, SourceProgress, SourceReader, SourceRecord};

/// A [`Source`] of fixed records: partition `p` read by worker `p mod workers`, each reader from
/// where the last rewind says (from the first record, before any).
pub struct FixedRecords {
    records: Vec<SourceRecord>,
    from: Mutex<SourceProgress>,
    rewinds: AtomicUsize,
}

impl FixedRecords {
    /// A source of `records`, in the order given per partition.
    pub fn new(records: Vec<SourceRecord>) -> Self {
        FixedRecords { records, from: Mutex::default(), rewinds: AtomicUsize::new(0) }
    }

    /// How many times the pipeline rewound it.
    pub fn rewinds(&self) -> usize {
        self.rewinds.load(Ordering::SeqCst)
    }
}

struct Reader(std::vec::IntoIter<SourceRecord>);

impl Source for FixedRecords {
    fn reader(&self, worker: usize, workers: usize) -> Result<Box<dyn SourceReader>, SourceError> {
        let from = self.from.lock().unwrap().clone();
        let mine = self.records.iter().filter(|record| {
            record.partition as usize % workers == worker
                && from.next_offset(record.topic, record.partition).is_none_or(|next| record.offset >= next)
        });
        Ok(Box::new(Reader(mine.cloned().collect::<Vec<_>>().into_iter())))
    }

    fn can_rewind(&self) -> bool {
        true
    }

    fn rewind(&self, progress: &SourceProgress) {
        *self.from.lock().unwrap() = progress.clone();
        self.rewinds.fetch_add(1, Ordering::SeqCst);
    }
}

impl SourceReader for Reader {
    fn poll(&mut self, max_records: usize, into: &mut Vec<SourceRecord>) -> PollStatus {
        into.extend(self.0.by_ref().take(max_records));
        if self.0.len() == 0 { PollStatus::Exhausted } else { PollStatus::Ready }
    }
}
