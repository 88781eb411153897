use serde::{Deserialize, Serialize};

/// Where a record was read: its source partition and its offset there.
///
/// Operators that must pick one of several records at the same pipeline time (a retry and its
/// original, two policies for a key in one poll) break the tie by this position, so the result
/// never depends on how records were batched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SourceOffset {
    /// The source partition.
    pub partition: u32,
    /// The record's offset within the partition.
    pub offset: u64,
}

/// A record with the position it was read from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Sourced<E> {
    /// Where it was read.
    pub offset: SourceOffset,
    /// The record.
    pub event: E,
}
