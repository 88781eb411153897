//! The [`Source`](crate::Source) implementations, one folder each.

pub mod generator;
pub mod kafka;
