//! When a sink falls behind, the workers stop reading instead of buffering without limit, and
//! resume when it catches up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flowmart_generator::{Generator, GeneratorConfig};
use flowmart_runtime::{ChangeBatch, Sink, SinkError};
use flowmart_runtime::{Pipeline, RuntimeConfig};

/// A sink that takes nothing while `stalled` holds.
struct StalledSink(Arc<AtomicBool>);

impl Sink for StalledSink {
    fn name(&self) -> &'static str {
        "stalled"
    }
    fn apply(&mut self, _: &ChangeBatch) -> Result<(), SinkError> {
        while self.0.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }
}

/// Releases the sink when dropped: a failing test unwinds instead of waiting on the sink forever.
struct Release(Arc<AtomicBool>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

#[test]
fn a_stalled_sink_stops_reading_and_its_recovery_resumes_it() {
    let stalled = Arc::new(AtomicBool::new(true));
    let config = GeneratorConfig { records_per_second: None, max_records: None, ..GeneratorConfig::default() };
    let runtime = RuntimeConfig { workers: 2, poll_batch: 1024, ..RuntimeConfig::default() };
    let pipeline =
        Pipeline::start(runtime, Arc::new(Generator::new(config)), vec![Box::new(StalledSink(Arc::clone(&stalled)))])
            .unwrap();
    // Declared after the pipeline, so dropped (on a failure) before it stops the pipeline.
    let _release_on_failure = Release(Arc::clone(&stalled));

    // Reading stops once the collector's queue is full and the output lags the input.
    std::thread::sleep(Duration::from_secs(3));
    let plateau = pipeline.status().records();
    std::thread::sleep(Duration::from_secs(2));
    let later = pipeline.status().records();
    assert!(plateau > 0);
    assert_eq!(later, plateau, "no record is read while the sink is stalled");
    assert_eq!(pipeline.status().as_of(), 0, "nothing was published");

    // Released, the pipeline publishes and reads on.
    stalled.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(30);
    while pipeline.status().records() < plateau + 10_000 || pipeline.status().as_of() == 0 {
        assert!(Instant::now() < deadline, "the pipeline did not resume");
        std::thread::sleep(Duration::from_millis(20));
    }
    pipeline.stop().unwrap();
}
