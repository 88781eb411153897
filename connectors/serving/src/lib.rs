//! The serving index: the pipeline's results as immutable snapshots that the query API reads
//! without ever waiting on a dataflow worker.
//!
//! One writer (the runtime's collector thread, through [`IndexWriter`], a
//! [`Sink`](flowmart_runtime::Sink))
//! builds each new [`Snapshot`] from the previous one — persistent maps share everything that did
//! not change — and swaps it in atomically. Readers load the current snapshot (a lock-free atomic
//! load) and see every tenant exactly as of one frontier, `as_of`.

#![warn(missing_docs)]

mod annotations;
mod change_feed;
mod index;
mod metrics_catalogue;
mod tenant_view;

pub use annotations::AlertAnnotation;
pub use change_feed::{ChangeFeed, FeedEvent, FeedMissed};
pub use index::{
    AlertEvent, IndexWriter, Missed, NotAnnotated, ServingIndex, SettlementChange, Snapshot, StockChange, TenantFilter,
};
pub use metrics_catalogue::describe_metrics;
pub use tenant_view::{PolicyTerms, TenantView};
