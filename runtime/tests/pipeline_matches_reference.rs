//! The whole runtime — generator source, timely workers, collector, serving index — against the
//! reference model folded over the same seeded records.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flowmart_generator::{Generator, GeneratorConfig, PartitionWorkload};
use flowmart_operators::reference::ReferenceModel;
use flowmart_runtime::{ChangeBatch, InputTopic, Sink, SinkError, SourceProgress};
use flowmart_runtime::{ClusterConfig, Pipeline, Resume, RuntimeConfig};
use flowmart_schemas::{ReorderAlert, tenant_owner};
use flowmart_serving::{ServingIndex, Snapshot};
use flowmart_testkit::{assert_snapshot_equals_model, free_port};

fn generator_config() -> GeneratorConfig {
    GeneratorConfig {
        seed: 7,
        tenants: 5,
        partitions: 6,
        skus_per_tenant: 60,
        records_per_second: None,
        max_records: Some(30_000),
        fault_ratio: 0.01,
        ..GeneratorConfig::default()
    }
}

/// The model after every generated record, and the progress the pipeline must reach.
fn expected(config: &GeneratorConfig) -> (ReferenceModel, SourceProgress, usize) {
    let mut model = ReferenceModel::new();
    let mut progress = SourceProgress::default();
    let mut invalid = 0;
    for partition in 0..config.partitions {
        let mut workload = PartitionWorkload::new(config, partition);
        while let Some(record) = workload.next() {
            progress.consumed(record.topic, record.partition, record.offset);
            invalid += usize::from(model.apply(record.decoded.expect("generated")).is_err());
        }
    }
    model.end_time(0);
    (model, progress, invalid)
}

/// Counts the dead letters the runtime hands to sinks.
struct DeadLetterCount(Arc<std::sync::atomic::AtomicUsize>);

impl Sink for DeadLetterCount {
    fn name(&self) -> &'static str {
        "dead-letter-count"
    }
    fn apply(&mut self, batch: &ChangeBatch) -> Result<(), SinkError> {
        self.0.fetch_add(batch.dead_letters.len(), std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

fn run_until_caught_up(workers: usize) -> (Arc<Snapshot>, usize) {
    let config = generator_config();
    let (_, expected_progress, _) = expected(&config);
    let (index, writer) = ServingIndex::new(u64::MAX);
    let dead_letters = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let pipeline = Pipeline::start(
        RuntimeConfig { workers, ..RuntimeConfig::default() },
        Arc::new(Generator::new(config)),
        vec![Box::new(writer), Box::new(DeadLetterCount(Arc::clone(&dead_letters)))],
    )
    .expect("pipeline starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    while index.snapshot().progress != expected_progress {
        assert!(Instant::now() < deadline, "the pipeline did not catch up: {:?}", index.snapshot().progress);
        std::thread::sleep(Duration::from_millis(20));
    }
    let snapshot = index.snapshot();
    pipeline.stop().expect("pipeline stops cleanly");
    (snapshot, dead_letters.load(std::sync::atomic::Ordering::SeqCst))
}

fn assert_snapshot_equals_model_and_dead_letters(snapshot: &Snapshot, dead_letters: usize) {
    let (model, _, invalid) = expected(&generator_config());
    assert!(invalid > 0, "the workload has rule breakers");
    assert_eq!(dead_letters, invalid, "every rule breaker is set aside, once");
    assert_snapshot_equals_model(snapshot, &model);
    assert!(snapshot.progress.iter().any(|(topic, _, _)| topic == InputTopic::ReorderPolicies));
}

#[test]
fn one_worker_serves_what_the_reference_model_computes() {
    let (snapshot, dead_letters) = run_until_caught_up(1);
    assert_snapshot_equals_model_and_dead_letters(&snapshot, dead_letters);
}

#[test]
fn four_workers_serve_what_the_reference_model_computes() {
    let (snapshot, dead_letters) = run_until_caught_up(4);
    assert_snapshot_equals_model_and_dead_letters(&snapshot, dead_letters);
}

/// What the runtime handed one process's sinks: dead letters, lineage rows, stock changes of
/// tenants the process does not serve, and every alert change with its number.
#[derive(Default)]
struct Handed {
    dead_letters: usize,
    lineage: usize,
    others_stock: usize,
    alerts: Vec<(u64, ReorderAlert)>,
}

/// Tallies what process `process` of a 2 × 2 cluster is handed.
struct Tally {
    process: usize,
    handed: Arc<Mutex<Handed>>,
}

impl Sink for Tally {
    fn name(&self) -> &'static str {
        "tally"
    }
    fn apply(&mut self, batch: &ChangeBatch) -> Result<(), SinkError> {
        let mut handed = self.handed.lock().unwrap();
        handed.dead_letters += batch.dead_letters.len();
        handed.lineage += batch.changes.stock_history.len();
        handed.others_stock += batch
            .changes
            .stock
            .iter()
            .filter(|(position, _)| tenant_owner(&position.tenant_id, 2, 2) != self.process)
            .count();
        handed.alerts.extend(batch.numbered_alerts().map(|(number, alert)| (number, alert.clone())));
        Ok(())
    }
}

/// Runs a 2 × 2 cluster over the generator (process 0 with a database, or without) until both
/// processes caught up; checks that together they serve the reference model, each only its own
/// tenants, that every dead letter reaches both and that both number every alert change alike;
/// returns what each process's sinks were handed.
fn two_process_cluster(database: bool) -> (ReferenceModel, Vec<Handed>) {
    let config = generator_config();
    let (model, expected_progress, _) = expected(&config);
    let addresses = vec![format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port())];
    // Each process of the cluster starts (and waits for the other) on its own thread.
    let processes = (0..2)
        .map(|process| {
            let (addresses, config) = (addresses.clone(), config.clone());
            std::thread::spawn(move || {
                // As `flowmart run` does: each process's index serves the tenants it owns.
                let (index, writer) = ServingIndex::new(u64::MAX);
                let writer = writer.serving_only(Box::new(move |tenant| tenant_owner(tenant, 2, 2) == process));
                let handed = Arc::new(Mutex::new(Handed::default()));
                let cluster = ClusterConfig { process, addresses, recovery_state: database };
                let runtime = RuntimeConfig { workers: 2, cluster: Some(cluster), ..RuntimeConfig::default() };
                let sinks: Vec<Box<dyn Sink>> =
                    vec![Box::new(writer), Box::new(Tally { process, handed: Arc::clone(&handed) })];
                let pipeline = Pipeline::start(runtime, Arc::new(Generator::new(config)), sinks).expect("starts");
                (pipeline, index, handed)
            })
        })
        .collect::<Vec<_>>();
    let processes = processes.into_iter().map(|process| process.join().expect("started")).collect::<Vec<_>>();
    let deadline = Instant::now() + Duration::from_secs(120);
    for (process, (_, index, _)) in processes.iter().enumerate() {
        while index.snapshot().progress != expected_progress {
            let progress = index.snapshot().progress.clone();
            assert!(Instant::now() < deadline, "process {process} did not catch up: {progress:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // Each process serves the tenants it owns (and was sent their results); together, the whole.
    let snapshots = processes.iter().map(|(_, index, _)| index.snapshot()).collect::<Vec<_>>();
    for (process, snapshot) in snapshots.iter().enumerate() {
        assert!(!snapshot.tenants.is_empty(), "process {process} serves a tenant");
        assert!(snapshot.tenants.keys().all(|tenant| tenant_owner(tenant, 2, 2) == process), "process {process}");
    }
    let mut whole = Snapshot::clone(&snapshots[0]);
    whole.tenants = whole.tenants.union(snapshots[1].tenants.clone());
    // Stopping one process stops the cluster; both finish cleanly.
    let mut handed = Vec::new();
    for (process, (pipeline, _, tally)) in processes.into_iter().enumerate() {
        pipeline.stop().unwrap_or_else(|error| panic!("process {process} stops cleanly: {error:?}"));
        handed.push(std::mem::take(&mut *tally.lock().unwrap()));
    }
    // Together the whole model; every dead letter reaches every process.
    for process in &handed {
        assert_snapshot_equals_model_and_dead_letters(&whole, process.dead_letters);
    }
    // Every alert change reaches every process with the same number, whoever serves its tenant:
    // a stream resumes with `Last-Event-ID` on any process, and across restarts.
    assert!(!handed[0].alerts.is_empty(), "the workload opens alerts");
    assert_eq!(handed[0].alerts, handed[1].alerts, "both processes number every alert change alike");
    (model, handed)
}

#[test]
fn every_process_of_a_two_process_cluster_serves_what_the_reference_model_computes() {
    let (model, handed) = two_process_cluster(true);
    // What only a database stores goes to the process that writes it, whole, and to no other;
    // the other tenants' results too.
    assert_eq!(handed[0].lineage, model.stock_history().len(), "process 0: every lineage row");
    assert_eq!(handed[1].lineage, 0, "process 1: none");
    assert!(handed[0].others_stock > 0, "process 0 stores every tenant's stock");
    assert_eq!(handed[1].others_stock, 0, "process 1: only its own tenants' stock");
}

#[test]
fn without_a_database_each_process_of_a_cluster_is_sent_only_its_own_tenants_results() {
    let (_, handed) = two_process_cluster(false);
    for (process, handed) in handed.iter().enumerate() {
        assert_eq!(handed.others_stock, 0, "process {process}: no stock of other tenants");
    }
}

/// Starts a 2-process cluster whose process 1 differs as `differ` says, and returns what each
/// process failed with (both must refuse, reading nothing).
fn refusals(differ: impl Fn(&mut RuntimeConfig, &mut Resume) + Clone + Send + 'static) -> Vec<String> {
    let addresses = vec![format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port())];
    let processes = (0..2)
        .map(|process| {
            let (addresses, differ) = (addresses.clone(), differ.clone());
            std::thread::spawn(move || {
                let mut runtime = RuntimeConfig {
                    workers: 1,
                    cluster: Some(ClusterConfig { process, addresses, recovery_state: false }),
                    ..RuntimeConfig::default()
                };
                let mut resume = Resume::default();
                if process == 1 {
                    differ(&mut runtime, &mut resume);
                }
                let (_, writer) = ServingIndex::new(u64::MAX);
                let generator = Arc::new(Generator::new(generator_config()));
                Pipeline::resume(runtime, generator, vec![Box::new(writer)], resume).expect("starts")
            })
        })
        .collect::<Vec<_>>();
    let mut failures = Vec::new();
    for (process, pipeline) in processes.into_iter().map(|process| process.join().unwrap()).enumerate() {
        let deadline = Instant::now() + Duration::from_secs(30);
        let failure = loop {
            if let Some(failure) = pipeline.status().failure() {
                break failure;
            }
            assert!(Instant::now() < deadline, "process {process} did not refuse");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(pipeline.status().records(), 0, "process {process} read nothing");
        pipeline.stop().expect("stops cleanly");
        failures.push(failure);
    }
    failures
}

#[test]
fn processes_with_different_settings_refuse_to_run_together_and_say_why() {
    for failure in refusals(|runtime, _| runtime.retention.orders_ms = Some(1)) {
        assert!(failure.contains("other settings") && failure.contains("retention"), "{failure}");
    }
}

#[test]
fn processes_that_recovered_different_states_refuse_to_run_together_and_say_why() {
    // A write between the processes' reads of the database: they would resume from different points.
    for failure in refusals(|_, resume| {
        resume.as_of = 5;
        resume.alerts_before = 3;
    }) {
        assert!(failure.contains("recovered results as of 5 with 3 alert changes"), "{failure}");
    }
}
