//! A partition resumed at a stored offset the broker does not hold (it fell off the topic's
//! retention, or the topic was re-created) is never moved silently: with
//! `on_offset_out_of_range = earliest` it is read again from its earliest offset, logged and
//! counted in `flowmart_offset_out_of_range_total`; with `fail` the pipeline stops, naming the
//! partition and the offsets.
//!
//! These run against librdkafka's mock cluster, not Tansu: Tansu 0.6 answers a fetch beyond a
//! partition's end with error code 0 (NONE), no records and the right high watermark, where Kafka
//! answers OFFSET_OUT_OF_RANGE — so against Tansu the reader just waits there. The mock cluster
//! answers as Kafka does.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use flowmart_kafka::{KafkaSource, KafkaSourceConfig, OnOffsetOutOfRange, Registry, StartFrom, WriterSchemas};
use flowmart_runtime::{InputTopic, Pipeline, RuntimeConfig, SourceProgress, Topics};
use flowmart_serving::ServingIndex;
use flowmart_testkit::RegistryStub;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

mod support;
use support::cluster_with_receipts;

/// The stored next offset of inventory partition 0: far beyond the few records the topic holds.
const STORED_NEXT_OFFSET: u64 = 1_000_000;
const RECORDS: usize = 3;

/// What the readers report, for every test of this binary.
fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().expect("the only recorder"))
}

/// The input topics under `prefix`, so that each test's metric series are its own.
fn topics(prefix: &str) -> Topics {
    Topics {
        inventory: format!("{prefix}.inventory"),
        orders: format!("{prefix}.orders"),
        payments: format!("{prefix}.payments"),
        reorder_policies: format!("{prefix}.reorder-policies"),
    }
}

/// A source resuming inventory partition 0 at [`STORED_NEXT_OFFSET`].
fn resumed_source(
    brokers: String,
    topics: Topics,
    registry: &RegistryStub,
    on_offset_out_of_range: OnOffsetOutOfRange,
) -> KafkaSource {
    let mut resume = SourceProgress::default();
    resume.consumed(InputTopic::Inventory, 0, STORED_NEXT_OFFSET - 1);
    KafkaSource::new(
        KafkaSourceConfig {
            brokers,
            group_id: "flowmart-out-of-range".into(),
            topics,
            start: StartFrom::Earliest,
            resume,
            on_offset_out_of_range,
            properties: Default::default(),
        },
        Arc::new(WriterSchemas::new(Box::new(Registry::new(&registry.config()).expect("a registry client")))),
    )
}

/// The value of `flowmart_offset_out_of_range_total` for `topic` partition 0, if exported.
fn out_of_range_count(topic: &str) -> Option<u64> {
    let series = format!("flowmart_offset_out_of_range_total{{topic=\"{topic}\",partition=\"0\"}} ");
    metrics().render().lines().find_map(|line| line.strip_prefix(&series).and_then(|value| value.parse().ok()))
}

#[test]
fn a_stored_offset_beyond_the_end_is_read_again_from_the_earliest_offset_and_counted() {
    metrics();
    let registry = RegistryStub::start();
    let topics = topics("earliest");
    let cluster = cluster_with_receipts(&topics, &registry, RECORDS);
    let source = resumed_source(cluster.bootstrap_servers(), topics.clone(), &registry, OnOffsetOutOfRange::Earliest);
    let mut reader = flowmart_runtime::Source::reader(&source, 0, 1).expect("a reader");

    let mut read = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while read.len() < RECORDS {
        assert!(Instant::now() < deadline, "read {} of {RECORDS} records", read.len());
        reader.poll(100, &mut read);
        std::thread::sleep(Duration::from_millis(20));
    }
    // A while longer: nothing more, and no second reset.
    let quiet = Instant::now() + Duration::from_secs(2);
    while Instant::now() < quiet {
        reader.poll(100, &mut read);
        std::thread::sleep(Duration::from_millis(20));
    }
    let offsets = read.iter().map(|record| (record.topic, record.partition, record.offset)).collect::<Vec<_>>();
    assert_eq!(offsets, (0..RECORDS as u64).map(|offset| (InputTopic::Inventory, 0, offset)).collect::<Vec<_>>());
    assert!(read.iter().all(|record| record.decoded.is_ok()), "every record decodes");
    assert_eq!(out_of_range_count(&topics.inventory), Some(1), "counted once:\n{}", metrics().render());
    assert_eq!(out_of_range_count(&topics.orders), Some(0), "exported at 0 from the start");
}

#[test]
fn a_stored_offset_beyond_the_end_fails_the_pipeline_naming_the_partition_when_the_policy_is_fail() {
    metrics();
    let registry = RegistryStub::start();
    let topics = topics("fail");
    let cluster = cluster_with_receipts(&topics, &registry, RECORDS);
    let source = resumed_source(cluster.bootstrap_servers(), topics.clone(), &registry, OnOffsetOutOfRange::Fail);
    let (_index, writer) = ServingIndex::new(u64::MAX);
    let pipeline = Pipeline::start(
        RuntimeConfig { workers: 1, ..RuntimeConfig::default() },
        Arc::new(source),
        vec![Box::new(writer)],
    )
    .expect("pipeline starts");

    let deadline = Instant::now() + Duration::from_secs(30);
    let failure = loop {
        if let Some(failure) = pipeline.status().failure() {
            break failure;
        }
        assert!(Instant::now() < deadline, "the pipeline did not fail");
        std::thread::sleep(Duration::from_millis(20));
    };
    for part in [
        format!("{} partition 0", topics.inventory),
        format!("next offset to read, {STORED_NEXT_OFFSET},"),
        format!("beyond its end {RECORDS}"),
        "kafka.on_offset_out_of_range = \"fail\"".to_string(),
    ] {
        assert!(failure.contains(&part), "{part:?} in {failure}");
    }
    assert_eq!(pipeline.status().records(), 0, "nothing read");
    assert_eq!(out_of_range_count(&topics.inventory), Some(1), "counted");
    assert!(pipeline.stop().is_err(), "the pipeline failed");
}
