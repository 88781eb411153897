//! The sinks of `run`, and the one rule of their order.

use anyhow::Context;
use flowmart_kafka::{AlertSink, DeadLetterSink, KafkaSinkConfig};
use flowmart_postgres::PostgresSink;
use flowmart_runtime::Sink;
use flowmart_schemas::ReorderAlert;
use flowmart_serving::IndexWriter;

use super::with_backoff;
use crate::config::PipelineConfig;

/// The Kafka producers of the process that writes the results.
pub(super) struct Producers {
    dead_letters: DeadLetterSink,
    alerts: AlertSink,
}

/// Opens the dead-letter and alert producers; the alert sink first publishes `unconfirmed`
/// changes missing from its topic. `None` when Ctrl-C or SIGTERM came before the registry could
/// be reached.
pub(super) fn producers(
    tokio: &tokio::runtime::Runtime,
    config: &PipelineConfig,
    unconfirmed: Vec<(u64, ReorderAlert)>,
) -> anyhow::Result<Option<Producers>> {
    let sink_config =
        KafkaSinkConfig { brokers: config.kafka.brokers.clone(), properties: config.kafka.producer.clone() };
    let dead_letters = DeadLetterSink::new(&sink_config, &config.topics.dlq, config.topics.inputs())
        .context("the dead-letter producer")?;
    let (registry_url, alerts_topic) = (config.kafka.schema_registry_url.clone(), config.topics.reorder_alerts.clone());
    let alerts = tokio.block_on(with_backoff("the schema registry", &config.kafka.schema_registry_url, move || {
        AlertSink::new(&sink_config, &alerts_topic, &registry_url, unconfirmed.clone())
    }));
    Ok(alerts.map(|alerts| Producers { dead_letters, alerts }))
}

/// The sinks in the order every batch passes them. Dead letters go out before the commit (at
/// least once: a crash in between sends them again); results are stored before they are
/// announced: Postgres, then the index, then the alert topic. A process that does not write the
/// results (not process 0 of a cluster) only serves: its index is its one sink.
pub(super) fn in_order(
    producers: Option<Producers>,
    postgres: Option<PostgresSink>,
    index: IndexWriter,
) -> Vec<Box<dyn Sink>> {
    let Some(Producers { dead_letters, alerts }) = producers else { return vec![Box::new(index)] };
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(dead_letters)];
    sinks.extend(postgres.map(|postgres| Box::new(postgres) as Box<dyn Sink>));
    sinks.extend([Box::new(index) as Box<dyn Sink>, Box::new(alerts)]);
    sinks
}
