//! `flowmart produce`: the generator's workload, to Kafka.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use flowmart_generator::{Generator, GeneratorConfig};
use flowmart_kafka::{KafkaConnection, SchemaRegistryConfig, WorkloadProducer, create_topics};
use flowmart_runtime::InputTopic;
use flowmart_runtime::Topics;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::ProduceArgs;

pub(crate) fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let topics = Topics::default();
    let kafka = KafkaConnection::from(args.brokers.as_str());
    if let Some(partitions) = args.create_topics {
        let names = InputTopic::ALL.map(|topic| (topics.name(topic), partitions as i32));
        let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        tokio.block_on(create_topics(&kafka, &names)).context("cannot create the input topics")?;
    }
    let producer = WorkloadProducer::connect(&kafka, &SchemaRegistryConfig::new(&args.schema_registry), topics)?;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as i64);
    let config = GeneratorConfig {
        seed: args.seed,
        tenants: args.tenants,
        partitions: args.partitions,
        records_per_second: args.rate,
        max_records: Some(args.records),
        start_ms: now_ms,
        ..GeneratorConfig::default()
    };
    let bar = ProgressBar::new(args.records);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} records  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut sent: u64 = 0;
    for record in Generator::new(config).records() {
        producer.send(&record)?;
        sent += 1;
        if sent.is_multiple_of(256) {
            bar.set_position(sent);
            if let Some(rate) = args.rate {
                let due = Duration::from_secs_f64(sent as f64 / rate as f64);
                if let Some(ahead) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(ahead);
                }
            }
        }
    }
    producer.flush()?;
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    println!("produced {sent} records in {elapsed:.1} s ({:.0} records/s)", sent as f64 / elapsed.max(1e-9));
    Ok(())
}
