//! The records of the FlowMart contract (`CONTRACT.md` §1–§3): their Avro schemas, Rust types,
//! Avro decoding with writer/reader schema resolution, validation of every contract rule, and the
//! pipeline's outputs — declared once in [`Outputs`] — with their value types.
//!
//! Nothing here does I/O. The Kafka wire format and the Schema Registry live in the Kafka
//! connector; this crate turns an Avro body plus its writer schema into a typed, validated record.

#![warn(missing_docs)]

mod alert;
mod alert_view;
mod avro;
mod currency;
mod event_digest;
mod history;
mod input_record;
mod input_topic;
mod inventory;
mod order;
mod order_state;
mod out_of_range;
mod outputs;
mod own_schema;
mod payment;
mod policy;
mod position;
mod reorder_check;
mod retention;
mod settlement;
mod stock_levels;
mod tenant_owner;
mod validate;

pub use alert::{ReorderAlert, ReorderAlertStatus};
pub use alert_view::{AlertState, AlertView};
pub use avro::{AvroRecord, DecodeError, EncodeError, WriterSchema, decode, encode};
pub use currency::Currency;
pub use event_digest::EventDigest;
pub use history::{RecordSource, SettlementHistoryRow, StockChangeKind, StockHistoryRow};
pub use input_record::InputRecord;
pub use input_topic::InputTopic;
pub use inventory::{InventoryEvent, InventoryKind};
pub use order::{OrderEvent, OrderLine, OrderStatus};
pub use order_state::{OrderKey, OrderState, RecoveredOrder};
pub use out_of_range::{Aggregate, AggregateKey, AggregateOutOfRange, RefusedRecord};
pub use outputs::{
    Alerts, ForEachOutput, Form, InventoryIds, ListForm, MakeOutput, NetChanges, Orders, Output, Outputs, PaymentIds,
    Policies, Refused, SeenEventId, SettlementHistory, Settlements, Stock, StockHistory, StoredState, Updates,
    for_each_output,
};
pub use own_schema::Malformed;
pub use payment::{PaymentEvent, PaymentKind};
pub use policy::{PolicyUpdate, ReorderPolicy};
pub use position::PositionKey;
pub use reorder_check::{OpenAlert, ReorderCheck};
pub use retention::Retention;
pub use settlement::{SettlementDate, SettlementKey, SettlementTotals};
pub use stock_levels::StockLevels;
pub use tenant_owner::{tenant_hash, tenant_owner};
pub use validate::{
    FieldPath, IdProblem, InvalidRecord, MAX_ABS_VALUE, MAX_ID_BYTES, OCCURRED_AT_END, OCCURRED_AT_MIN, Validate,
};

/// Identifiers (tenant, warehouse, sku, event, order …): short strings, stored inline when they fit.
pub type Id = compact_str::CompactString;

/// Milliseconds since the Unix epoch, UTC (Avro `timestamp-millis`).
pub type TimestampMillis = i64;

/// Pipeline time: milliseconds since the Unix epoch at which the runtime ingested a record.
pub type Time = u64;

/// Differential dataflow's multiplicity for plain collections.
pub type Diff = isize;
