//! FlowMart's incremental operators, written against differential dataflow.
//!
//! Each operator lives in its own file, as an extension method or function from input
//! collections to output collections; its doc states what goes in, what comes out, the state it
//! keeps and what bounds that state. Rules an operator applies live beside it: the stock ledger
//! (`stock_ledger.rs`) and the reorder alert lifecycle ([`reorder_alerts`]). [`dataflow::build`]
//! wires them into the FlowMart dataflow's [`Outputs`](flowmart_schemas::Outputs) (declared once,
//! in `schemas`), and [`reference`] is the plain-Rust model of the contract that tests and
//! benchmarks compare the dataflow with.
//!
//! Times are pipeline times: milliseconds since the epoch at which the runtime ingested a record.
//! Operators do no I/O.

#![warn(missing_docs)]

pub mod dataflow;
pub mod dedupe;
mod digest_run;
mod order_upsert;
pub mod recovery;
pub mod reference;
mod remembered_digests;
pub mod reorder_alerts;
pub mod settlement_totals;
mod sourced;
mod stash;
mod stock_ledger;
pub mod stock_positions;

pub use sourced::{SourceOffset, Sourced};

pub use flowmart_schemas::{Diff, Time};

/// A collection of `D` at pipeline times with plain multiplicities.
pub type Collection<'scope, D, R = Diff> = differential_dataflow::VecCollection<'scope, Time, D, R>;

/// Hash maps for operator state: fast, seeded per process (state never leaves the worker).
type StateMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
