//! Runs the dataflow once over the benchmark's workload, for a profiler to watch:
//! `cargo build --release -p flowmart-benches --example profile_dataflow` then
//! `perf record -g target/release/examples/profile_dataflow`.
//!
//! Prints the events per second it reached, e.g. `398844 events in 1.02 s: 391000 events/s`.

use std::sync::Arc;
use std::time::Instant;

fn main() {
    let workload = Arc::new(flowmart_benches::workload(400_000));
    let started = Instant::now();
    let alert_changes = flowmart_benches::run_dataflow(Arc::clone(&workload));
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{} events in {elapsed:.2} s: {:.0} events/s ({alert_changes} alert changes)",
        workload.len(),
        workload.len() as f64 / elapsed
    );
}
