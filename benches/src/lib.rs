//! What the benchmarks share: a generated workload, and the two ways of computing its results
//! that they compare — the FlowMart dataflow on one timely worker, and the reference model's
//! plain fold — fed identically, in batches of one pipeline time each; and an open-loop HTTP load
//! generator for the API benchmarks ([`open_loop`]); RSS and skewed tenants for the memory
//! benchmarks ([`memory`]); a Server-Sent Events reader for the sessions benchmark ([`sse`]).

/// Every benchmark runs on the allocator the `flowmart` binary runs on (`flowmart/src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod memory;
pub mod open_loop;
pub mod sse;

use std::sync::Arc;

use flowmart_generator::{Generator, GeneratorConfig};
use flowmart_operators::dataflow::{self, InputSessions};
use flowmart_operators::recovery::stored_collections;
use flowmart_operators::reference::ReferenceModel;
use flowmart_operators::{SourceOffset, Time};
use flowmart_schemas::{InputRecord, Outputs, Retention, Validate};
use timely::dataflow::ProbeHandle;

/// Records a worker takes from its source per pipeline time (the runtime's default poll batch).
pub const RECORDS_PER_TIME: usize = 4096;

/// `records` valid generated records (rule breakers are dropped, as the runtime sets them aside
/// before the dataflow), in the order one worker would read them.
pub fn workload(records: u64) -> Vec<(SourceOffset, InputRecord)> {
    let config = GeneratorConfig {
        tenants: 8,
        partitions: 8,
        skus_per_tenant: 500,
        records_per_second: None,
        max_records: Some(records),
        ..GeneratorConfig::default()
    };
    Generator::new(config)
        .records()
        .filter_map(|record| {
            let input = record.decoded.expect("generated");
            input
                .validate()
                .is_ok()
                .then_some((SourceOffset { partition: record.partition, offset: record.offset }, input))
        })
        .collect()
}

/// Runs the FlowMart dataflow on one worker over `workload`, one pipeline time per
/// [`RECORDS_PER_TIME`] records, until every output is complete. Returns how many alert
/// changes it made (so the work cannot be optimised away).
pub fn run_dataflow(workload: Arc<Vec<(SourceOffset, InputRecord)>>) -> usize {
    timely::execute_directly(move |worker| {
        let probe = ProbeHandle::new();
        let alert_changes = std::rc::Rc::new(std::cell::Cell::new(0));
        let counter = std::rc::Rc::clone(&alert_changes);
        let mut inputs = worker.dataflow::<Time, _, _>(|scope| {
            let (sessions, collections) = InputSessions::new(scope);
            let nothing_recovered = stored_collections(scope, &Outputs::default(), 0, 0, 1);
            let outputs = dataflow::build(collections, nothing_recovered, Retention::default());
            outputs.stock.probe_with(&probe);
            outputs.settlements.probe_with(&probe);
            outputs.alerts.inspect(move |_| counter.set(counter.get() + 1)).probe_with(&probe);
            sessions
        });
        for (time, batch) in workload.chunks(RECORDS_PER_TIME).enumerate() {
            inputs.advance_to(time as Time + 1);
            for (offset, record) in batch {
                inputs.insert(*offset, record.clone());
            }
            inputs.flush();
            // Like the runtime, keep the dataflow stepping while the next batch is read.
            worker.step();
        }
        let end = (workload.len() / RECORDS_PER_TIME) as Time + 2;
        inputs.advance_to(end);
        inputs.flush();
        while probe.less_than(&end) {
            worker.step();
        }
        alert_changes.get()
    })
}

/// The reference model's fold over the same workload, ending each pipeline time as the dataflow
/// does. Returns how many alert changes it made.
pub fn run_reference(workload: &[(SourceOffset, InputRecord)]) -> usize {
    let mut model = ReferenceModel::new();
    let mut alert_changes = 0;
    for (time, batch) in workload.chunks(RECORDS_PER_TIME).enumerate() {
        for (_, record) in batch {
            let _ = model.apply(record.clone());
        }
        alert_changes += model.end_time(time as Time + 1).len();
    }
    alert_changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dataflow_and_the_reference_make_the_same_alert_changes() {
        let workload = workload(30_000);
        assert!(workload.len() > 29_000);
        let workload = Arc::new(workload);
        let dataflow = run_dataflow(Arc::clone(&workload));
        assert!(dataflow > 0);
        assert_eq!(dataflow, run_reference(&workload));
    }
}
