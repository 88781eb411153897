//! The byte layout of a `decode_record` fuzz input, shared by the target and the seed program
//! (both include this file with `#[path]`).
//!
//! ```text
//! byte 0       selector: bits 0–1 the input topic (inventory, orders, payments, reorder-policies),
//!              bit 2 set: the Kafka value is null (a tombstone)
//! byte 1       key length k (255: no key), then k key bytes
//! 2 bytes      big-endian length s of a writer schema text, then s bytes: the schema the fake
//!              registry returns for id 6 (the fuzzed writer schema)
//! the rest     the Kafka value: a Confluent frame (magic 0, big-endian schema id, Avro body)
//! ```
//!
//! A short input leaves the parts it does not reach empty. The fake registry's ids: 1–4 the
//! repository's `InventoryEvent`, `OrderEvent`, `PaymentEvent`, `ReorderPolicy` schemas, 5
//! `ReorderAlert`, 6 the fuzzed text, 7 unavailable (a registry outage), any other unknown.

#![allow(dead_code)] // each includer uses one direction

/// Schema ids of the fake registry.
pub const INVENTORY_ID: u32 = 1;
pub const ORDER_ID: u32 = 2;
pub const PAYMENT_ID: u32 = 3;
pub const POLICY_ID: u32 = 4;
pub const ALERT_ID: u32 = 5;
pub const FUZZED_ID: u32 = 6;
pub const UNAVAILABLE_ID: u32 = 7;

/// One decoded fuzz input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordInput<'a> {
    /// 0 inventory, 1 orders, 2 payments, 3 reorder-policies.
    pub topic: u8,
    pub key: Option<&'a [u8]>,
    pub writer_schema: &'a [u8],
    pub value: Option<&'a [u8]>,
}

impl<'a> RecordInput<'a> {
    pub fn parse(data: &'a [u8]) -> RecordInput<'a> {
        let (selector, rest) = data.split_first().map_or((0, &[][..]), |(first, rest)| (*first, rest));
        let (key, rest) = match rest.split_first() {
            None | Some((255, _)) => (None, rest.get(1..).unwrap_or_default()),
            Some((length, rest)) => {
                let (key, rest) = rest.split_at(usize::from(*length).min(rest.len()));
                (Some(key), rest)
            }
        };
        let (length, rest) = match rest {
            [high, low, rest @ ..] => (usize::from(u16::from_be_bytes([*high, *low])), rest),
            _ => (0, &[][..]),
        };
        let (writer_schema, value) = rest.split_at(length.min(rest.len()));
        RecordInput { topic: selector & 3, key, writer_schema, value: (selector & 4 == 0).then_some(value) }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = vec![self.topic | if self.value.is_none() { 4 } else { 0 }];
        match self.key {
            Some(key) => {
                bytes.push(u8::try_from(key.len()).expect("a key under 255 bytes"));
                bytes.extend_from_slice(key);
            }
            None => bytes.push(255),
        }
        bytes.extend_from_slice(&u16::try_from(self.writer_schema.len()).expect("a schema under 64 KiB").to_be_bytes());
        bytes.extend_from_slice(self.writer_schema);
        bytes.extend_from_slice(self.value.unwrap_or_default());
        bytes
    }
}
