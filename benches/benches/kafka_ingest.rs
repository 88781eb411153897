//! Kafka → queryable throughput of the pipeline against a bare rdkafka consumer reading the same
//! pre-filled topics, alternating, in one run (a Tansu broker on loopback, a registry stub).
//!
//! `cargo bench -p flowmart-benches --bench kafka_ingest`; `RECORDS` (default 200,000) and
//! `TENANTS` (default 16: every generator partition carries a tenant) size the workload,
//! `FETCH_WAIT_MS` sets `fetch.wait.max.ms` on both consumers (librdkafka's default otherwise).
//! Prints one line per round and the median rates and their ratio, e.g.
//! `median: bare consumer 150000 records/s, pipeline 130000 records/s, ratio 0.87`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flowmart_generator::GeneratorConfig;
use flowmart_kafka::{KafkaSource, KafkaSourceConfig, OnOffsetOutOfRange, Registry, StartFrom, WriterSchemas};
use flowmart_runtime::{InputTopic, SourceProgress, Topics};
use flowmart_runtime::{Pipeline, RuntimeConfig};
use flowmart_serving::ServingIndex;
use flowmart_testkit::{RegistryStub, Tansu, create_topics, produce_workload};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const PARTITIONS: i32 = 8;

/// Reads every record of the input topics once with a plain consumer, touching each payload.
fn bare_consumer(brokers: &str, topics: &Topics, records: usize) -> Duration {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "bench-bare")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", std::env::var("FETCH_WAIT_MS").unwrap_or("500".into()))
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for topic in InputTopic::ALL {
        for partition in 0..PARTITIONS {
            assignment.add_partition_offset(topics.name(topic), partition, Offset::Beginning).unwrap();
        }
    }
    consumer.assign(&assignment).unwrap();
    let started = Instant::now();
    let (mut read, mut bytes) = (0, 0usize);
    while read < records {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            bytes += message.payload().map_or(0, <[u8]>::len);
            read += 1;
        }
    }
    assert!(bytes > 0);
    started.elapsed()
}

/// Runs the pipeline from earliest until its serving index covers every record.
fn pipeline(brokers: &str, registry: &RegistryStub, topics: &Topics, records: usize) -> Duration {
    let source = KafkaSource::new(
        KafkaSourceConfig {
            brokers: brokers.to_string(),
            group_id: "bench-pipeline".into(),
            topics: topics.clone(),
            start: StartFrom::Earliest,
            resume: SourceProgress::default(),
            on_offset_out_of_range: OnOffsetOutOfRange::Earliest,
            properties: std::env::var("FETCH_WAIT_MS")
                .ok()
                .map(|ms| [("fetch.wait.max.ms".to_string(), ms)].into_iter().collect())
                .unwrap_or_default(),
        },
        Arc::new(WriterSchemas::new(Box::new(Registry::new(&registry.config()).expect("a registry client")))),
    );
    let (index, writer) = ServingIndex::new(u64::MAX);
    let started = Instant::now();
    let pipeline = Pipeline::start(
        RuntimeConfig { workers: 2, ..RuntimeConfig::default() },
        Arc::new(source),
        vec![Box::new(writer)],
    )
    .unwrap();
    loop {
        let covered: u64 = index.snapshot().progress.iter().map(|(_, _, next)| next).sum();
        if covered as usize >= records {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let elapsed = started.elapsed();
    pipeline.stop().unwrap();
    elapsed
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let records: u64 = std::env::var("RECORDS").ok().and_then(|text| text.parse().ok()).unwrap_or(200_000);
    let tansu = Tansu::start();
    let registry = RegistryStub::start();
    let topics = Topics::default();
    create_topics(&tansu.brokers(), &InputTopic::ALL.map(|topic| (topics.name(topic), PARTITIONS)));
    let tenants = std::env::var("TENANTS").ok().and_then(|text| text.parse().ok()).unwrap_or(16);
    let config = GeneratorConfig {
        tenants,
        partitions: 16,
        records_per_second: None,
        max_records: Some(records),
        ..GeneratorConfig::default()
    };
    let started = Instant::now();
    let produced = produce_workload(&tansu.brokers(), &registry, &config);
    println!(
        "pre-filled {} records on 4 topics x {PARTITIONS} partitions in {:.1} s",
        produced.count,
        started.elapsed().as_secs_f64()
    );
    let (mut bare, mut flowmart) = (Vec::new(), Vec::new());
    for round in 1..=3 {
        let bare_time = bare_consumer(&tansu.brokers(), &topics, produced.count);
        let pipeline_time = pipeline(&tansu.brokers(), &registry, &topics, produced.count);
        let (bare_rate, pipeline_rate) =
            (produced.count as f64 / bare_time.as_secs_f64(), produced.count as f64 / pipeline_time.as_secs_f64());
        println!(
            "round {round}: bare consumer {bare_rate:.0} records/s, pipeline (2 workers) to queryable {pipeline_rate:.0} records/s, ratio {:.2}",
            pipeline_rate / bare_rate
        );
        bare.push(bare_rate);
        flowmart.push(pipeline_rate);
    }
    let (bare, flowmart) = (median(bare), median(flowmart));
    println!(
        "median: bare consumer {bare:.0} records/s, pipeline {flowmart:.0} records/s, ratio {:.2}",
        flowmart / bare
    );
}
