//! Kafka → queryable, from process start: `flowmart run` (2 workers, no database) until its API's
//! progress covers every record, beside a bare rdkafka consumer reading the same pre-filled topics
//! (its ceiling), alternating in one run, on a Tansu broker and a registry stub on loopback.
//!
//! `cargo bench -p flowmart --bench kafka_ingest` runs both topologies:
//! - **skewed**, as a real marketplace: 4 partitions per topic keyed by tenant, 6 tenants of
//!   uneven size (shares 40 / 22 / 15 / 11 / 7 / 5 %), so one worker reads 62 % of the records;
//! - **even**: 8 partitions, 16 tenants of equal size.
//!
//! `RECORDS` (default 300,000) sizes each workload, `ROUNDS` (default 3) the rounds, `TOPOLOGY`
//! (`skewed` or `even`) runs one, `FETCH_WAIT_MS` sets `fetch.wait.max.ms` on both consumers
//! (librdkafka's default otherwise). Prints one line per round and the medians, e.g.
//! `skewed median: bare consumer 170000 records/s, flowmart from process start 160000 records/s, ratio 0.94;
//! first record queryable after 420 ms`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flowmart_generator::GeneratorConfig;
use flowmart_runtime::{InputTopic, Topics};
use flowmart_testkit::{
    RegistryStub, Tansu, create_topics, free_port, in_own_session, produce_uneven_workload, produce_workload,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use support::{Http, Running, covered};

/// One workload's shape.
struct Topology {
    name: &'static str,
    partitions: i32,
    tenants: u32,
    /// Each tenant's share of the records; `None`: equal.
    shares: Option<&'static [u64]>,
}

const SKEWED: Topology = Topology { name: "skewed", partitions: 4, tenants: 6, shares: Some(&[40, 22, 15, 11, 7, 5]) };
const EVEN: Topology = Topology { name: "even", partitions: 8, tenants: 16, shares: None };

fn fetch_wait() -> Option<String> {
    std::env::var("FETCH_WAIT_MS").ok()
}

/// Reads every record of the input topics once with one plain consumer, touching each payload;
/// timed from the consumer's creation.
fn bare_consumer(brokers: &str, partitions: i32, records: usize) -> Duration {
    let started = Instant::now();
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers).set("group.id", "bench-bare").set("enable.auto.commit", "false");
    if let Some(wait) = fetch_wait() {
        config.set("fetch.wait.max.ms", wait);
    }
    let consumer: BaseConsumer = config.create().expect("a consumer");
    let topics = Topics::default();
    // Each partition from its low watermark, resolved here as the pipeline resolves `earliest`
    // (librdkafka resolves `Offset::Beginning` itself only after a 0.5 s wait).
    let mut assignment = TopicPartitionList::new();
    for topic in InputTopic::ALL {
        for partition in 0..partitions {
            let (low, _) = consumer.fetch_watermarks(topics.name(topic), partition, Duration::from_secs(5)).unwrap();
            assignment.add_partition_offset(topics.name(topic), partition, Offset::Offset(low)).expect("a partition");
        }
    }
    consumer.assign(&assignment).expect("assigned");
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

/// Starts `flowmart run` from `earliest` and times it from the spawn until its API's progress
/// covers a first record, and until it covers every record.
fn flowmart(brokers: &str, registry: &str, records: usize, http: &Http) -> (Duration, Duration) {
    let port = free_port();
    let admin = "bench-admin";
    let started = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_flowmart"));
    // As a service of its own: its threads' `nice` ranks them against its own only.
    in_own_session(&mut command)
        .args(["run", "--brokers", brokers, "--schema-registry", registry, "--workers", "2", "--start", "earliest"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("FLOWMART_ADMIN_TOKEN", admin)
        .env("FLOWMART__KAFKA__GROUP_ID", format!("bench-{port}"))
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(wait) = fetch_wait() {
        command.env("FLOWMART__KAFKA__CONSUMER__FETCH_WAIT_MAX_MS", wait);
    }
    let _running = Running(command.spawn().expect("the flowmart binary starts"));
    let progress = format!("http://127.0.0.1:{port}/v1/admin/progress");
    let mut first = None;
    loop {
        let covered = covered(&http.json(&progress, admin)) as usize;
        if covered > 0 {
            first.get_or_insert(started.elapsed());
        }
        if covered >= records {
            return (first.expect("covered some"), started.elapsed());
        }
        assert!(started.elapsed() < Duration::from_secs(600), "flowmart did not cover {records} records in 10 minutes");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn measure(topology: &Topology, records: u64, rounds: usize, http: &Http) {
    let tansu = Tansu::start();
    let registry = RegistryStub::start();
    let topics = Topics::default();
    create_topics(&tansu.brokers(), &InputTopic::ALL.map(|topic| (topics.name(topic), topology.partitions)));
    // The pipeline's own topics: the workload's rule breakers go to the DLQ.
    create_topics(&tansu.brokers(), &[("flowmart.dlq", 1), ("flowmart.reorder-alerts", 2)]);
    let config = GeneratorConfig {
        tenants: topology.tenants,
        partitions: topology.tenants,
        records_per_second: None,
        max_records: Some(records),
        ..GeneratorConfig::default()
    };
    let started = Instant::now();
    let produced = match topology.shares {
        Some(shares) => produce_uneven_workload(&tansu.brokers(), &registry, &config, shares),
        None => produce_workload(&tansu.brokers(), &registry, &config),
    };
    println!(
        "{}: pre-filled {} records on 4 topics x {} partitions, {} tenants, in {:.1} s",
        topology.name,
        produced.count,
        topology.partitions,
        topology.tenants,
        started.elapsed().as_secs_f64()
    );
    let (mut bare, mut pipeline, mut firsts) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let bare_rate =
            produced.count as f64 / bare_consumer(&tansu.brokers(), topology.partitions, produced.count).as_secs_f64();
        let (first, all) = flowmart(&tansu.brokers(), registry.url(), produced.count, http);
        let pipeline_rate = produced.count as f64 / all.as_secs_f64();
        let first_ms = first.as_secs_f64() * 1e3;
        println!(
            "{} round {round}: bare consumer {bare_rate:.0} records/s, flowmart from process start {pipeline_rate:.0} records/s, ratio {:.2}; first record queryable after {first_ms:.0} ms",
            topology.name,
            pipeline_rate / bare_rate
        );
        bare.push(bare_rate);
        pipeline.push(pipeline_rate);
        firsts.push(first_ms);
    }
    let (bare, pipeline, first_ms) = (median(bare), median(pipeline), median(firsts));
    println!(
        "{} median: bare consumer {bare:.0} records/s, flowmart from process start {pipeline:.0} records/s, ratio {:.2}; first record queryable after {first_ms:.0} ms",
        topology.name,
        pipeline / bare
    );
}

fn main() {
    let records = std::env::var("RECORDS").ok().and_then(|text| text.parse().ok()).unwrap_or(300_000);
    let rounds = std::env::var("ROUNDS").ok().and_then(|text| text.parse().ok()).unwrap_or(3);
    let chosen = std::env::var("TOPOLOGY").ok();
    let http = Http::new();
    for topology in [SKEWED, EVEN] {
        if chosen.as_deref().is_none_or(|name| name == topology.name) {
            measure(&topology, records, rounds, &http);
        }
    }
}
