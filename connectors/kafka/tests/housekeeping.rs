//! A reader's housekeeping never holds its worker on a broker round trip: the lag gauge
//! (`flowmart_consumer_lag_records`: per partition read, the records on the broker not read yet)
//! comes from librdkafka's cached watermarks, published every second without a request, and the
//! look-up for partitions added to the topics runs on a thread of its own. Against librdkafka's
//! mock cluster, whose high watermark counts records as Kafka's does (Tansu's counts batches) and
//! whose round trip can be slowed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flowmart_kafka::{KafkaSource, KafkaSourceConfig, OnOffsetOutOfRange, Registry, StartFrom, WriterSchemas};
use flowmart_runtime::{SourceProgress, SourceReader, SourceRecord, Topics};
use flowmart_testkit::RegistryStub;
use metrics_exporter_prometheus::PrometheusBuilder;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

mod support;
use support::cluster_with_receipts;

const RECORDS: usize = 5;

/// Polls `reader` for at most `max_records` at a time until `read` holds `records`.
fn read_until(reader: &mut dyn SourceReader, max_records: usize, records: usize, read: &mut Vec<SourceRecord>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while read.len() < records {
        assert!(Instant::now() < deadline, "read {} of {records} records", read.len());
        reader.poll(max_records, read);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A source reading `cluster` from the earliest offsets.
fn source(cluster: &MockCluster<'static, DefaultProducerContext>, registry: &RegistryStub, group: &str) -> KafkaSource {
    KafkaSource::new(
        KafkaSourceConfig {
            brokers: cluster.bootstrap_servers(),
            group_id: group.into(),
            topics: Topics::default(),
            start: StartFrom::Earliest,
            resume: SourceProgress::default(),
            on_offset_out_of_range: OnOffsetOutOfRange::Fail,
            properties: Default::default(),
        },
        Arc::new(WriterSchemas::new(Box::new(Registry::new(&registry.config()).expect("a registry client")))),
    )
}

#[test]
fn the_lag_is_the_records_produced_less_those_read_and_is_published_without_asking_the_broker() {
    let metrics = PrometheusBuilder::new().install_recorder().expect("the only recorder");
    let registry = RegistryStub::start();
    let topics = Topics::default();
    let cluster = cluster_with_receipts(&topics, &registry, RECORDS);
    let source = source(&cluster, &registry, "flowmart-lag");
    let mut reader = flowmart_runtime::Source::reader(&source, 0, 1).expect("a reader");
    let lag = || {
        let series = format!("flowmart_consumer_lag_records{{topic=\"{}\",partition=\"0\"}} ", topics.inventory);
        metrics.render().lines().find_map(|line| line.strip_prefix(&series).and_then(|value| value.parse::<u64>().ok()))
    };

    // Two of the five read, one at a time; a second later (the next report) three are behind.
    let mut read = Vec::new();
    read_until(reader.as_mut(), 1, 2, &mut read);
    std::thread::sleep(Duration::from_millis(1_100));
    reader.poll(0, &mut read);
    assert_eq!(lag(), Some(RECORDS as u64 - 2), "{}", metrics.render());
    read_until(reader.as_mut(), 100, RECORDS, &mut read);
    std::thread::sleep(Duration::from_millis(1_100));
    reader.poll(0, &mut read);
    assert_eq!(lag(), Some(0), "all read");
}

#[test]
fn a_slow_broker_does_not_hold_the_worker_while_the_reader_looks_for_new_partitions() {
    let registry = RegistryStub::start();
    let cluster = cluster_with_receipts(&Topics::default(), &registry, RECORDS);
    let source = source(&cluster, &registry, "flowmart-watch");
    let mut reader = flowmart_runtime::Source::reader(&source, 0, 1).expect("a reader");
    let mut read = Vec::new();
    read_until(reader.as_mut(), 100, RECORDS, &mut read);

    // Every request now takes 1.5 s: the look-up made 10 s after the first assignment asks about
    // each of the three input topics, 4.5 s that a worker asking itself would wait out.
    cluster.broker_round_trip_time(1, Duration::from_millis(1_500)).expect("a slower broker");
    let until = Instant::now() + Duration::from_secs(13);
    let (mut slowest, mut polls) = (Duration::ZERO, 0);
    while Instant::now() < until {
        let started = Instant::now();
        reader.poll(100, &mut read);
        slowest = slowest.max(started.elapsed());
        polls += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(polls > 100, "{polls} polls in 13 s");
    assert!(slowest < Duration::from_millis(250), "the slowest poll took {slowest:?}");
    assert_eq!(read.len(), RECORDS, "nothing read twice");
}
