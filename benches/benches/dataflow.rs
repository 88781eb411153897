//! The FlowMart dataflow on one worker against the reference model's plain HashMap fold of the
//! same rules, over the same generated records in the same batches.
//!
//! `cargo bench -p flowmart-benches --bench dataflow`

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use flowmart_benches::{run_dataflow, run_reference, workload};

fn dataflow_against_reference(c: &mut Criterion) {
    let records = 400_000;
    let workload = Arc::new(workload(records));
    let mut group = c.benchmark_group("events");
    group.throughput(Throughput::Elements(workload.len() as u64));
    group.sample_size(10);
    group.bench_with_input(BenchmarkId::new("dataflow_1_worker", workload.len()), &workload, |b, workload| {
        b.iter(|| run_dataflow(Arc::clone(workload)))
    });
    group.bench_with_input(BenchmarkId::new("reference_fold", workload.len()), &workload, |b, workload| {
        b.iter(|| run_reference(workload))
    });
    group.finish();
}

criterion_group!(benches, dataflow_against_reference);
criterion_main!(benches);
