//! FlowMart's runtime: timely workers that read a [`Source`], run the FlowMart dataflow, and hand
//! each completed frontier's consolidated changes to [`Sink`]s, in order.
//!
//! ```text
//!  Source ──▶ worker: validate ─▶ dataflow ─▶ capture ────────────────────────┐  (one per timely worker)
//!               │                    └─ refused records ──┐                   │
//!               ├─ valid records, until committed ────────┤                   │
//!               └─ records breaking a rule ───────────────┴▶ dead letters ────┤  handoff
//!                                                                             ▼
//!                          collector: complete frontiers, consolidated ─▶ Sinks, in order
//! ```
//!
//! A sink that refuses a change sends the pipeline back to what the sinks stored (`rewind.rs`):
//! it reads again with the records behind the change dead-lettered.
//!
//! Sources and sinks live in the connectors (`connectors/`): the built-in generator, Kafka,
//! Postgres, and the serving index the query API reads.

#![warn(missing_docs)]

mod capture;
mod change_batch;
mod clock;
mod cluster;
mod collector;
pub mod cpu_share;
mod dead_letter;
mod fed;
mod handoff;
mod ingest;
mod metrics_catalogue;
mod pipeline;
mod progress;
mod refusals;
mod rewind;
mod sink;
mod source;
mod status;
mod supervision;
mod worker;

pub use change_batch::ChangeBatch;
pub use cluster::ClusterConfig;
pub use dead_letter::DeadLetter;
pub use flowmart_schemas::InputTopic;
pub use metrics_catalogue::describe_metrics;
pub use pipeline::{Pipeline, Resume, RuntimeConfig, RuntimeError};
pub use progress::SourceProgress;
pub use sink::{ErrorClass, RefusedChange, Sink, SinkError};
pub use source::{PollStatus, Rejection, Source, SourceError, SourceReader, SourceRecord, Topics, Waker};
pub use status::PipelineStatus;
