//! The built-in source: a realistic, deterministic multi-tenant marketplace workload.
//!
//! Each partition carries a fixed set of tenants (as Kafka keys partitions by `tenant_id`) and
//! produces their records from a seeded random stream: stock receipts, supplier purchase orders
//! placed when stock runs low and received later, transfers, damage and stock counts; sales
//! orders going through their lifecycle with a new version on every change (some cancelled, some
//! returned); every payment kind; reorder policies created, updated and deleted. A small share of
//! records are faults on purpose — producer retries (exact duplicates), late older order
//! versions, and records that break a contract rule — so the pipeline's handling of them is
//! always on show.

#![warn(missing_docs)]

mod catalog;
mod config;
mod reader;
mod workload;

pub use config::GeneratorConfig;
pub use workload::PartitionWorkload;

use flowmart_runtime::{Source, SourceError, SourceReader};

/// The generator as a [`Source`]: each worker generates the partitions it owns.
#[derive(Clone, Debug)]
pub struct Generator {
    config: GeneratorConfig,
}

impl Generator {
    /// A generator with `config`.
    pub fn new(config: GeneratorConfig) -> Self {
        Generator { config }
    }

    /// Every record of a bounded configuration, partitions interleaved one record at a time —
    /// the order a single reader of all partitions would see them.
    pub fn records(&self) -> impl Iterator<Item = flowmart_runtime::SourceRecord> + use<> {
        let mut partitions = (0..self.config.partitions)
            .map(|partition| PartitionWorkload::new(&self.config, partition))
            .collect::<Vec<_>>();
        let mut next = 0;
        std::iter::from_fn(move || {
            for _ in 0..partitions.len() {
                let partition = next;
                next = (next + 1) % partitions.len();
                if let Some(record) = partitions[partition].next() {
                    return Some(record);
                }
            }
            None
        })
    }

    /// The ids of the tenants it generates, biggest first.
    pub fn tenant_ids(&self) -> Vec<flowmart_schemas::Id> {
        (0..self.config.tenants).map(catalog::tenant).collect()
    }
}

impl Source for Generator {
    fn reader(&self, worker: usize, workers: usize) -> Result<Box<dyn SourceReader>, SourceError> {
        let partitions = (0..self.config.partitions)
            .filter(|partition| *partition as usize % workers == worker)
            .map(|partition| PartitionWorkload::new(&self.config, partition))
            .collect();
        Ok(Box::new(reader::GeneratorReader::new(partitions, self.config.records_per_second)))
    }
}
