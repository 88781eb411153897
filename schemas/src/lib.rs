//! The records of the FlowMart contract (`CONTRACT.md` §1–§2): their Avro schemas, Rust types,
//! Avro decoding with writer/reader schema resolution, and validation of every contract rule.
//!
//! Nothing here does I/O. The Kafka wire format and the Schema Registry live in `pipelines`;
//! this crate turns an Avro body plus its writer schema into a typed, validated record.

#![warn(missing_docs)]

mod alert;
mod avro;
mod currency;
mod input_record;
mod inventory;
mod order;
mod payment;
mod policy;
mod position;
mod validate;

pub use alert::{ReorderAlert, ReorderAlertStatus};
pub use avro::{AvroRecord, DecodeError, EncodeError, decode, encode};
pub use currency::Currency;
pub use input_record::InputRecord;
pub use inventory::{InventoryEvent, InventoryKind};
pub use order::{OrderEvent, OrderLine, OrderStatus};
pub use payment::{PaymentEvent, PaymentKind};
pub use policy::{PolicyUpdate, ReorderPolicy};
pub use position::PositionKey;
pub use validate::{
    FieldPath, IdProblem, InvalidRecord, MAX_ABS_VALUE, MAX_ID_BYTES, OCCURRED_AT_END, OCCURRED_AT_MIN, Validate,
};

/// Identifiers (tenant, warehouse, sku, event, order …): short strings, stored inline when they fit.
pub type Id = compact_str::CompactString;

/// Milliseconds since the Unix epoch, UTC (Avro `timestamp-millis`).
pub type TimestampMillis = i64;
