//! A pipeline thread that panics fails the pipeline with one line saying which and where, and
//! stopping it then returns at once (the other threads would wait for the lost one forever); a
//! sink that keeps failing makes the pipeline unhealthy, naming the sink, until it recovers; a
//! sink that fails fatally stops the pipeline at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use flowmart_generator::{Generator, GeneratorConfig};
use flowmart_runtime::{
    ChangeBatch, ErrorClass, Pipeline, PollStatus, RuntimeConfig, RuntimeError, Sink, SinkError, Source, SourceError,
    SourceReader, SourceRecord,
};

/// The generator, endless and unthrottled.
fn endless() -> Arc<Generator> {
    Arc::new(Generator::new(GeneratorConfig {
        records_per_second: None,
        max_records: None,
        ..GeneratorConfig::default()
    }))
}

/// Waits until `condition` holds, for up to 20 s.
fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Stops the pipeline on another thread and returns what `stop` said, failing the test if it
/// takes more than 10 s.
fn stop_promptly(pipeline: Pipeline) -> Result<(), RuntimeError> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || sender.send(pipeline.stop()));
    receiver.recv_timeout(Duration::from_secs(10)).expect("stop returns instead of waiting forever")
}

/// A sink that panics on its third batch.
struct ExplodingSink(usize);

impl Sink for ExplodingSink {
    fn name(&self) -> &'static str {
        "exploding"
    }
    fn apply(&mut self, _: &ChangeBatch) -> Result<(), SinkError> {
        self.0 += 1;
        assert!(self.0 < 3, "the sink exploded on batch {}", self.0);
        Ok(())
    }
}

#[test]
fn a_sink_that_panics_fails_the_pipeline_naming_it_and_stop_returns_at_once() {
    let runtime = RuntimeConfig { workers: 2, ..RuntimeConfig::default() };
    let pipeline = Pipeline::start(runtime, endless(), vec![Box::new(ExplodingSink(0))]).unwrap();
    eventually("the failure", || pipeline.status().failure().is_some());
    let failure = pipeline.status().failure().unwrap();
    assert!(
        failure.starts_with("the collector (or a sink it called) panicked: the sink exploded on batch 3 (at "),
        "{failure}"
    );
    assert!(failure.contains("supervision.rs:"), "where it happened: {failure}");
    assert!(!failure.contains('\n'), "one line: {failure:?}");
    assert_eq!(pipeline.status().unhealthy(), Some(failure.clone()), "and it is unhealthy for it");
    match stop_promptly(pipeline) {
        Err(RuntimeError::Panicked(reason)) => assert_eq!(reason, failure),
        other => panic!("stop said {other:?}"),
    }
}

/// A source whose readers panic after a few polls.
struct ExplodingSource;

struct ExplodingReader(usize);

impl Source for ExplodingSource {
    fn reader(&self, _worker: usize, _workers: usize) -> Result<Box<dyn SourceReader>, SourceError> {
        Ok(Box::new(ExplodingReader(0)))
    }
}

impl SourceReader for ExplodingReader {
    fn poll(&mut self, _max_records: usize, _into: &mut Vec<SourceRecord>) -> PollStatus {
        self.0 += 1;
        assert!(self.0 < 5, "the source exploded");
        PollStatus::IdleUntil(Instant::now() + Duration::from_millis(5))
    }
}

#[test]
fn a_worker_that_panics_fails_the_pipeline_naming_it_and_stop_returns_at_once() {
    let runtime = RuntimeConfig { workers: 2, ..RuntimeConfig::default() };
    let pipeline = Pipeline::start(runtime, Arc::new(ExplodingSource), Vec::new()).unwrap();
    eventually("the failure", || pipeline.status().failure().is_some());
    let failure = pipeline.status().failure().unwrap();
    assert!(failure.starts_with("timely worker "), "{failure}");
    assert!(failure.contains(" panicked: the source exploded (at "), "{failure}");
    assert!(matches!(stop_promptly(pipeline), Err(RuntimeError::Panicked(_))));
}

/// A sink that refuses every batch (as data) while `refusing` holds.
struct RefusingSink {
    refusing: Arc<AtomicBool>,
    applied: Arc<AtomicUsize>,
}

impl Sink for RefusingSink {
    fn name(&self) -> &'static str {
        "refusing"
    }
    fn apply(&mut self, _: &ChangeBatch) -> Result<(), SinkError> {
        if self.refusing.load(Ordering::SeqCst) {
            return Err(SinkError::new("refusing", ErrorClass::Data, "value too long"));
        }
        self.applied.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn a_sink_that_keeps_failing_makes_the_pipeline_unhealthy_until_it_recovers() {
    let (refusing, applied) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let sink = RefusingSink { refusing: Arc::clone(&refusing), applied: Arc::clone(&applied) };
    let runtime = RuntimeConfig { workers: 1, stall_after_ms: 1000, ..RuntimeConfig::default() };
    // A light load: batches pass every few milliseconds while the sink takes them.
    let generator =
        GeneratorConfig { records_per_second: Some(2_000), max_records: None, ..GeneratorConfig::default() };
    let pipeline = Pipeline::start(runtime, Arc::new(Generator::new(generator)), vec![Box::new(sink)]).unwrap();
    eventually("a batch applied", || applied.load(Ordering::SeqCst) > 0);
    assert_eq!(pipeline.status().unhealthy(), None, "healthy while batches pass");

    refusing.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(pipeline.status().unhealthy(), None, "a failure shorter than the stall time is not a stall");
    eventually("unhealthy", || pipeline.status().unhealthy().is_some());
    let reason = pipeline.status().unhealthy().unwrap();
    assert!(
        reason.starts_with("sink refusing has failed for ") && reason.ends_with("(data error): value too long"),
        "{reason}"
    );

    refusing.store(false, Ordering::SeqCst);
    eventually("healthy again", || pipeline.status().unhealthy().is_none());
    pipeline.stop().unwrap();
}

/// A sink that takes one batch, then finds its destination taken over by another pipeline.
struct TakenOverSink {
    calls: Arc<AtomicUsize>,
}

impl Sink for TakenOverSink {
    fn name(&self) -> &'static str {
        "taken-over"
    }
    fn apply(&mut self, _: &ChangeBatch) -> Result<(), SinkError> {
        match self.calls.fetch_add(1, Ordering::SeqCst) {
            0 => Ok(()),
            _ => Err(SinkError::new("taken-over", ErrorClass::Fatal, "another pipeline wrote meanwhile")),
        }
    }
}

#[test]
fn a_sink_failing_fatally_stops_the_pipeline_without_retrying() {
    let calls = Arc::new(AtomicUsize::new(0));
    let sink = TakenOverSink { calls: Arc::clone(&calls) };
    let runtime = RuntimeConfig { workers: 1, ..RuntimeConfig::default() };
    let pipeline = Pipeline::start(runtime, endless(), vec![Box::new(sink)]).unwrap();
    eventually("the failure", || pipeline.status().failure().is_some());
    let failure = pipeline.status().failure().unwrap();
    assert!(
        failure.starts_with(
            "stopping with results undelivered: sink taken-over failed (fatal error): another pipeline wrote meanwhile"
        ),
        "{failure}"
    );
    // Time enough for retries, were there any (the first comes after 100 ms).
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one batch taken, the next tried once");
    assert!(stop_promptly(pipeline).is_ok());
}
