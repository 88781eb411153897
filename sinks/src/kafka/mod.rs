//! Kafka sinks: a producer per sink that flushes every batch before reporting it applied.
//!
//! A batch is applied when every record of it is acknowledged; a delivery failure fails the batch,
//! and the runtime hands the same batch again. Until results and offsets are committed together
//! (the Postgres sink), a restart may publish a batch again: at least once.

mod alerts;
mod dead_letters;
mod producer;

pub use alerts::AlertSink;
pub use dead_letters::DeadLetterSink;
pub use producer::{KafkaSinkConfig, KafkaSinkError};
