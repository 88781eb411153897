//! Walking the chain: each record, read in `seq` order, is checked against the one before it, so a
//! reader holds one hash, never the whole log (`flowmart audit verify`).

use super::record::{AuditRecord, FIRST_PREV_HASH, Hash};

/// Where and why the chain is broken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// A `seq` is missing: the record was deleted (or `seq` rewritten).
    #[error("seq {expected}: missing (the next record is seq {found}): a gap in seq, a record deleted")]
    Gap {
        /// The `seq` that should have come.
        expected: i64,
        /// The `seq` that came instead.
        found: i64,
    },
    /// The record's `prev_hash` is not the previous record's hash: records were reordered, or one
    /// was replaced with another's.
    #[error("seq {seq}: prev_hash is not the hash of the record before it: records reordered or replaced")]
    NotLinked {
        /// The record.
        seq: i64,
    },
    /// The record's fields do not hash to its `hash`: a field was changed.
    #[error("seq {seq}: hash mismatch: a field was changed after it was written")]
    HashMismatch {
        /// The record.
        seq: i64,
    },
    /// The record's details hold a value with no canonical text (a fraction).
    #[error("seq {seq}: details hold {value}, which has no canonical JSON: a field was changed")]
    NotCanonical {
        /// The record.
        seq: i64,
        /// The offending number.
        value: String,
    },
}

impl ChainBreak {
    /// The first `seq` at which the chain is broken.
    pub fn seq(&self) -> i64 {
        match self {
            ChainBreak::Gap { expected, .. } => *expected,
            ChainBreak::NotLinked { seq } | ChainBreak::HashMismatch { seq } | ChainBreak::NotCanonical { seq, .. } => {
                *seq
            }
        }
    }
}

/// The chain as read so far: the `seq` and `prev_hash` the next record must have.
#[derive(Clone, Debug)]
pub struct ChainCheck {
    next_seq: i64,
    last_hash: Hash,
}

impl Default for ChainCheck {
    fn default() -> Self {
        ChainCheck { next_seq: 1, last_hash: FIRST_PREV_HASH }
    }
}

impl ChainCheck {
    /// Before the first record.
    pub fn new() -> ChainCheck {
        ChainCheck::default()
    }

    /// Checks the next record, in `seq` order: its `seq` follows, it links to the record before,
    /// and its fields hash to its `hash`.
    pub fn check(&mut self, record: &AuditRecord) -> Result<(), ChainBreak> {
        if record.seq != self.next_seq {
            return Err(ChainBreak::Gap { expected: self.next_seq, found: record.seq });
        }
        if record.prev_hash != self.last_hash {
            return Err(ChainBreak::NotLinked { seq: record.seq });
        }
        let expected = record
            .expected_hash()
            .map_err(|not_canonical| ChainBreak::NotCanonical { seq: record.seq, value: not_canonical.0 })?;
        if expected != record.hash {
            return Err(ChainBreak::HashMismatch { seq: record.seq });
        }
        self.next_seq += 1;
        self.last_hash = record.hash;
        Ok(())
    }

    /// The records checked so far.
    pub fn checked(&self) -> i64 {
        self.next_seq - 1
    }

    /// The hash of the last record checked (the zero hash before any).
    pub fn last_hash(&self) -> Hash {
        self.last_hash
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::audit::{Action, Actor, AuditEntry};

    fn chain(length: i64) -> Vec<AuditRecord> {
        let mut prev_hash = FIRST_PREV_HASH;
        (1..=length)
            .map(|seq| {
                let entry = AuditEntry::new(Actor::Admin, Action::AdminRead, Some("acme"), json!({ "n": seq }));
                let record = AuditRecord::chained(&entry, seq, 1_000 + seq, prev_hash).unwrap();
                prev_hash = record.hash;
                record
            })
            .collect()
    }

    fn first_break(records: &[AuditRecord]) -> Option<ChainBreak> {
        let mut check = ChainCheck::new();
        records.iter().find_map(|record| check.check(record).err())
    }

    #[test]
    fn an_untouched_chain_passes() {
        assert_eq!(first_break(&chain(5)), None);
        assert_eq!(first_break(&[]), None);
    }

    #[test]
    fn a_changed_field_breaks_the_chain_at_its_record() {
        let mut records = chain(5);
        records[2].actor = "key_someone_else".into();
        let broken = first_break(&records).unwrap();
        assert_eq!((broken.seq(), matches!(broken, ChainBreak::HashMismatch { .. })), (3, true));
    }

    #[test]
    fn a_deleted_record_is_named_as_the_gap() {
        let mut records = chain(5);
        records.remove(1);
        assert_eq!(first_break(&records), Some(ChainBreak::Gap { expected: 2, found: 3 }));
    }

    #[test]
    fn swapped_records_break_the_chain_at_the_first_of_them() {
        let mut records = chain(5);
        // Contents swapped, each keeping its place in seq: the first no longer links.
        let (second, third) = (records[1].clone(), records[2].clone());
        records[1] = AuditRecord { seq: 2, ..third };
        records[2] = AuditRecord { seq: 3, ..second };
        assert_eq!(first_break(&records), Some(ChainBreak::NotLinked { seq: 2 }));
    }

    #[test]
    fn a_rehashed_record_still_breaks_the_link_after_it() {
        let mut records = chain(4);
        records[1].details = json!({ "n": 99 });
        records[1].hash = records[1].expected_hash().unwrap();
        assert_eq!(first_break(&records), Some(ChainBreak::NotLinked { seq: 3 }));
    }

    #[test]
    fn a_fraction_in_details_is_reported_not_rounded() {
        let mut records = chain(2);
        records[0].details = json!({ "n": 1.5 });
        assert_eq!(first_break(&records), Some(ChainBreak::NotCanonical { seq: 1, value: "1.5".into() }));
    }
}
