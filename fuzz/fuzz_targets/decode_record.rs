//! A Kafka record on an input topic, as the source reads it: the Confluent frame
//! (`split_frame`), the writer schema from the registry (the repository's `.avsc` files, or a
//! fuzzed schema text), the Avro body resolved against the reader schema (`decode`), the policy
//! key, then the contract's rules (`Validate`). Input layout: `record_input.rs`.
//!
//! Beyond "no panic, no OOM, no hang": a record that decodes must encode again under its reader
//! schema and decode back to itself, and any framed body must be read alike by the own-schema
//! reader and by apache-avro's generic reading, as each of the five records.

#![no_main]

#[path = "../record_input.rs"]
mod record_input;

use std::collections::HashMap;
use std::sync::LazyLock;

use flowmart_kafka::{LookupError, SchemaLookup, WriterSchemas, decode_record, split_frame};
use flowmart_runtime::InputTopic;
use flowmart_schemas::{
    AvroRecord, InputRecord, InventoryEvent, OrderEvent, PaymentEvent, ReorderAlert, ReorderPolicy, Validate,
    WriterSchema, decode, encode,
};
use libfuzzer_sys::fuzz_target;
use record_input::*;

/// The Schema Registry, as the input describes it.
struct FakeRegistry {
    fuzzed: String,
}

impl SchemaLookup for FakeRegistry {
    fn schema_text(&self, id: u32) -> Result<String, LookupError> {
        match id {
            INVENTORY_ID => Ok(InventoryEvent::SCHEMA_TEXT.into()),
            ORDER_ID => Ok(OrderEvent::SCHEMA_TEXT.into()),
            PAYMENT_ID => Ok(PaymentEvent::SCHEMA_TEXT.into()),
            POLICY_ID => Ok(ReorderPolicy::SCHEMA_TEXT.into()),
            ALERT_ID => Ok(ReorderAlert::SCHEMA_TEXT.into()),
            FUZZED_ID => Ok(self.fuzzed.clone()),
            UNAVAILABLE_ID => Err(LookupError::Unavailable("the fake registry is down".into())),
            unknown => Err(LookupError::UnknownId(unknown)),
        }
    }
}

fn round_trips<T: AvroRecord + PartialEq + std::fmt::Debug>(record: &T) {
    let body = encode(record).expect("a decoded record encodes");
    let again: T = decode(&BOTH_WAYS[T::FULL_NAME].0, &body).expect("an encoded record decodes");
    assert_eq!(&again, record, "decode(encode(record)) is the record");
}

/// Each record's reader schema, read as it is and through apache-avro, by the record's name:
/// made once, not per input.
static BOTH_WAYS: LazyLock<HashMap<&'static str, (WriterSchema, WriterSchema)>> = LazyLock::new(|| {
    fn both_ways<T: AvroRecord>() -> (&'static str, (WriterSchema, WriterSchema)) {
        (T::FULL_NAME, (WriterSchema::own::<T>(), WriterSchema::generic(T::reader_schema().clone())))
    }
    HashMap::from([
        both_ways::<InventoryEvent>(),
        both_ways::<OrderEvent>(),
        both_ways::<PaymentEvent>(),
        both_ways::<ReorderPolicy>(),
        both_ways::<ReorderAlert>(),
    ])
});

/// The own-schema reader makes the record of `body` apache-avro's generic reading makes, or
/// refuses it as that does.
fn read_as_apache_avro_reads<T: AvroRecord + PartialEq + std::fmt::Debug>(body: &[u8]) {
    let (own, generic) = &BOTH_WAYS[T::FULL_NAME];
    let (own, generic) = (decode::<T>(own, body).ok(), decode::<T>(generic, body).ok());
    assert_eq!(own, generic, "{} read as it is and through apache-avro's generic reading", T::FULL_NAME);
}

fuzz_target!(|data: &[u8]| {
    let input = RecordInput::parse(data);
    if let Some(Ok((_, body))) = input.value.map(split_frame) {
        read_as_apache_avro_reads::<InventoryEvent>(body);
        read_as_apache_avro_reads::<OrderEvent>(body);
        read_as_apache_avro_reads::<PaymentEvent>(body);
        read_as_apache_avro_reads::<ReorderPolicy>(body);
        read_as_apache_avro_reads::<ReorderAlert>(body);
    }
    // The registry serves JSON text; non-UTF-8 bytes cannot reach the parser.
    let fuzzed = String::from_utf8_lossy(input.writer_schema).into_owned();
    let schemas = WriterSchemas::new(Box::new(FakeRegistry { fuzzed }));
    let topic = InputTopic::ALL[usize::from(input.topic)];
    let Ok(Ok(record)) = decode_record(topic, input.key, input.value, &schemas) else {
        return;
    };
    let _ = record.validate();
    match &record {
        InputRecord::Inventory(event) => round_trips(event),
        InputRecord::Order(event) => round_trips(event),
        InputRecord::Payment(event) => round_trips(event),
        InputRecord::Policy(update) => {
            if let Some(policy) = &update.policy {
                round_trips(policy);
            }
        }
    }
});
