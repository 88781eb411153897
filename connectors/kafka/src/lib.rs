//! The Kafka connector: the source of the input topics, the sinks of the dead-letter and alert
//! topics, the Confluent wire framing they share, and the producer of the generator's workload.
//!
//! Reading: see [`KafkaSource`]. Writing: a producer per sink that flushes every batch before
//! reporting it applied.
//!
//! A batch is applied when every record of it is acknowledged; a delivery failure fails the batch,
//! and the runtime hands the same batch again.
//!
//! Alert changes go out exactly once (with the Postgres sink ahead of them, across restarts too):
//! each carries its number, the Postgres sink keeps the changes in an outbox (the last 65,536: the
//! last batch's may be unpublished, all seed a restarted index), and the
//! alert sink reads the topic's tail whenever it cannot know what landed — after a failed send,
//! and at start — to send only what is missing. No Kafka transactions are involved (Tansu has
//! none); against Kafka proper, a transactional producer would be the alternative.
//!
//! Dead letters go out at least once: the dead-letter sink runs before the Postgres commit, so a
//! crash between the two sends a batch's dead letters again after the restart, never loses them.

#![warn(missing_docs)]

mod alerts;
mod connection;
mod dead_letters;
mod metrics_catalogue;
mod producer;
mod schema_registry;
mod source;
mod wire;
mod workload_producer;

pub use alerts::{AlertSink, SEQUENCE_HEADER};
pub use connection::{KafkaConnection, check_property};
pub use dead_letters::DeadLetterSink;
pub use metrics_catalogue::describe_metrics;
pub use producer::{KafkaSinkConfig, KafkaSinkError};
pub use schema_registry::{RegistryClientError, SchemaRegistryConfig};
pub use source::{
    KafkaSource, KafkaSourceConfig, LookupError, OnOffsetOutOfRange, Registry, SchemaLookup, StartFrom, WriterSchemas,
    decode_record,
};
pub use wire::{FrameError, frame, split_frame};
pub use workload_producer::{ProduceError, WorkloadProducer, create_topics};
