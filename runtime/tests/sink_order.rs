//! Every batch passes the sinks in order, and no sink sees a batch before every earlier sink took
//! it — also when a stop comes while a sink is failing: then the pipeline stops there, failed,
//! naming what was not delivered, instead of skipping the sink and running the later ones.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use flowmart_generator::{Generator, GeneratorConfig};
use flowmart_runtime::{ChangeBatch, ErrorClass, Pipeline, RuntimeConfig, Sink, SinkError};
use flowmart_schemas::Time;

/// A sink that records the upper of every batch it takes, and fails while `failing` holds.
struct Recording {
    name: &'static str,
    failing: Arc<AtomicBool>,
    taken: Arc<Mutex<Vec<Time>>>,
}

impl Sink for Recording {
    fn name(&self) -> &'static str {
        self.name
    }
    fn apply(&mut self, batch: &ChangeBatch) -> Result<(), SinkError> {
        if self.failing.load(Ordering::SeqCst) {
            let message = "the broker is down".to_string();
            return Err(SinkError::new(self.name, ErrorClass::Transient, message));
        }
        self.taken.lock().unwrap().push(batch.upper);
        Ok(())
    }
}

#[test]
fn a_sink_failing_at_shutdown_stops_the_pipeline_before_any_later_sink_sees_the_batch() {
    let (failing, never) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let (first, second) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
    let sinks: Vec<Box<dyn Sink>> = vec![
        Box::new(Recording { name: "first", failing: Arc::clone(&failing), taken: Arc::clone(&first) }),
        Box::new(Recording { name: "second", failing: never, taken: Arc::clone(&second) }),
    ];
    let generator =
        GeneratorConfig { records_per_second: Some(2_000), max_records: None, ..GeneratorConfig::default() };
    let runtime = RuntimeConfig { workers: 2, ..RuntimeConfig::default() };
    let pipeline = Pipeline::start(runtime, Arc::new(Generator::new(generator)), sinks).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while second.lock().unwrap().len() < 5 {
        assert!(Instant::now() < deadline, "batches pass");
        std::thread::sleep(Duration::from_millis(10));
    }

    // The first sink fails (its batch is retried meanwhile), then a stop is asked.
    failing.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    let status = Arc::clone(pipeline.status());
    let (stopped, stop) = mpsc::channel();
    std::thread::spawn(move || stopped.send(pipeline.stop().is_ok()));
    assert!(stop.recv_timeout(Duration::from_secs(20)).expect("stop returns"), "the threads end normally");

    let failure = status.failure().expect("the pipeline failed");
    assert!(failure.contains("sink first failed (transient error): the broker is down"), "{failure}");
    assert!(failure.contains("did not reach first, second"), "names every sink it did not reach: {failure}");
    let (first, second) = (first.lock().unwrap().clone(), second.lock().unwrap().clone());
    assert_eq!(first, second, "the second sink took exactly what the first took, nothing after");
    assert!(!first.is_empty());
}
