use std::collections::BTreeMap;

use crate::InputTopic;

/// The next offset to consume per topic and partition: how far the results reach into the inputs.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceProgress(BTreeMap<(InputTopic, u32), u64>);

impl SourceProgress {
    /// Records that `offset` of `partition` has been consumed. Offsets only move forward.
    pub fn consumed(&mut self, topic: InputTopic, partition: u32, offset: u64) {
        let next = self.0.entry((topic, partition)).or_insert(0);
        *next = (*next).max(offset + 1);
    }

    /// Records that `partition` of `topic` is read from `offset` on, unless it has progress.
    pub(crate) fn starts_at(&mut self, topic: InputTopic, partition: u32, offset: u64) {
        self.0.entry((topic, partition)).or_insert(offset);
    }

    /// Takes in another progress, keeping the furthest offset of each partition.
    pub fn merge(&mut self, other: &SourceProgress) {
        for (&(topic, partition), &next) in &other.0 {
            let mine = self.0.entry((topic, partition)).or_insert(0);
            *mine = (*mine).max(next);
        }
    }

    /// The next offset of `partition` of `topic`, if it has progress.
    pub fn next_offset(&self, topic: InputTopic, partition: u32) -> Option<u64> {
        self.0.get(&(topic, partition)).copied()
    }

    /// Each (topic, partition) with its next offset, in order.
    pub fn iter(&self) -> impl Iterator<Item = (InputTopic, u32, u64)> + '_ {
        self.0.iter().map(|(&(topic, partition), &next)| (topic, partition, next))
    }
}
