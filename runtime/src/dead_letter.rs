use std::borrow::Cow;

use crate::InputTopic;

/// A record that could not be used, with why (`CONTRACT.md` §1: the DLQ record and headers).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeadLetter {
    /// The topic it was read from (`source.topic`).
    pub topic: InputTopic,
    /// Its partition (`source.partition`).
    pub partition: u32,
    /// Its offset (`source.offset`).
    pub offset: u64,
    /// Its original key.
    pub key: Option<Vec<u8>>,
    /// Its original value bytes; `None` when the value was null or the source built the record
    /// itself (the built-in generator has no bytes).
    pub value: Option<Vec<u8>>,
    /// A stable name of what was wrong (`error.kind`).
    pub kind: Cow<'static, str>,
    /// What was wrong, for a person (`error.message`).
    pub message: String,
}
