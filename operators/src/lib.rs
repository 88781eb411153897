//! FlowMart's incremental operators, written against differential dataflow.
//!
//! Each operator lives in its own file, as an extension method or function from input
//! collections to output collections; its doc states what goes in, what comes out, the state it
//! keeps and what bounds that state. [`dataflow::build`] wires them into the FlowMart dataflow,
//! and [`reference`] is the plain-Rust model of the contract that tests and benchmarks compare
//! the dataflow with.
//!
//! Times are pipeline times: milliseconds since the epoch at which the runtime ingested a record.
//! Operators do no I/O.

#![warn(missing_docs)]

pub mod dataflow;
pub mod dedupe;
pub mod order_upsert;
pub mod policy_upsert;
pub mod recovery;
pub mod reference;
pub mod reorder_alerts;
pub mod settlement_totals;
mod sourced;
mod stash;
pub mod stock_positions;
mod upsert;

pub use sourced::{SourceOffset, Sourced};

/// Pipeline time: milliseconds since the Unix epoch at which the runtime ingested a record.
pub type Time = u64;

/// Differential dataflow's multiplicity for plain collections.
pub type Diff = isize;

/// A collection of `D` at pipeline times with plain multiplicities.
pub type Collection<'scope, D, R = Diff> = differential_dataflow::VecCollection<'scope, Time, D, R>;

/// Hash maps for operator state: fast, seeded per process (state never leaves the worker).
type StateMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
