//! FlowMart's runtime: timely workers that read [`Source`]s, run the FlowMart dataflow, and hand
//! each completed frontier's consolidated changes to [`Sink`]s — among them the
//! [`ServingIndex`] the query API reads.
//!
//! ```text
//!  Source ──▶ worker: validate ─▶ dataflow ─▶ capture ─┐        (one per timely worker)
//!               └──── dead letters ───────────────────┤
//!                                                     ▼
//!                          collector: complete frontiers, consolidated ─▶ Sinks (serving index, …)
//! ```

#![warn(missing_docs)]

mod change_batch;
pub mod config;
mod dead_letter;
mod ingest;
mod progress;
pub mod runtime;
pub mod serving;
mod sink;
mod source;
pub mod sources;

pub use change_batch::ChangeBatch;
pub use dead_letter::DeadLetter;
pub use progress::SourceProgress;
pub use sink::{Sink, SinkError};
pub use source::{InputTopic, PollStatus, Rejection, Source, SourceError, SourceReader, SourceRecord, Topics, Waker};
