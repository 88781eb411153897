//! Where FlowMart's results go besides the serving index: each sink a [`Sink`] the runtime feeds
//! complete batches, in order.
//!
//! - [`kafka::DeadLetterSink`]: every record that could not be used, to `flowmart.dlq`, with its
//!   original key and bytes and the contract's headers.
//! - [`kafka::AlertSink`]: every reorder alert change, to `flowmart.reorder-alerts`, as Avro in the
//!   Confluent wire format.
//! - [`postgres::PostgresSink`]: the results and the source offsets they cover, in one
//!   transaction per batch.
//!
//! [`Sink`]: flowmart_pipelines::Sink

#![warn(missing_docs)]

pub mod kafka;
pub mod postgres;
