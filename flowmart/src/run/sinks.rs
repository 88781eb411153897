//! The sinks of `run`, and the one rule of their order.

use anyhow::Context;
use flowmart_kafka::{AlertSink, DeadLetterSink, KafkaSinkConfig};
use flowmart_postgres::{PostgresSink, StoredGate};
use flowmart_runtime::Sink;
use flowmart_schemas::ReorderAlert;
use flowmart_serving::IndexWriter;

use super::with_backoff;
use crate::config::PipelineConfig;

/// The Kafka producers of the process that writes the results.
pub(super) struct Producers {
    dead_letters: DeadLetterSink,
    /// `None`: alert changes are not published (no database, and not asked to anyway).
    alerts: Option<AlertSink>,
}

/// Opens the dead-letter and alert producers; the alert sink first publishes `unconfirmed`
/// changes missing from its topic. `None` when Ctrl-C or SIGTERM came before the registry could
/// be reached.
///
/// Alerts go out exactly once only with a database (it keeps what was published): without one
/// they are not published, unless `kafka.alerts_without_database` asks for it.
pub(super) fn producers(
    tokio: &tokio::runtime::Runtime,
    config: &PipelineConfig,
    unconfirmed: Vec<(u64, ReorderAlert)>,
) -> anyhow::Result<Option<Producers>> {
    let sink_config = KafkaSinkConfig {
        brokers: config.kafka.brokers.clone(),
        properties: config.kafka.client_properties(&config.kafka.producer),
    };
    let dead_letters = DeadLetterSink::new(&sink_config, &config.topics.dlq, config.topics.inputs())
        .context("the dead-letter producer")?;
    let topic = &config.topics.reorder_alerts;
    match (&config.postgres.database_url, config.kafka.alerts_without_database) {
        (Some(_), _) => {}
        (None, false) => {
            eprintln!(
                "flowmart: alert changes are not published to {topic}: without a database a restart cannot know \
                 what was published (set postgres.database_url; or kafka.alerts_without_database = true to publish \
                 them anyway, again from change 1 after every restart)"
            );
            return Ok(Some(Producers { dead_letters, alerts: None }));
        }
        (None, true) => eprintln!(
            "flowmart: warning: publishing alert changes to {topic} without a database: every restart publishes \
             them again from change 1, with new alert ids (kafka.alerts_without_database = true)"
        ),
    }
    let (registry, alerts_topic) = (config.kafka.registry(), topic.clone());
    let alerts = tokio.block_on(with_backoff("the schema registry", &config.kafka.schema_registry_url, move || {
        AlertSink::new(&sink_config, &alerts_topic, &registry, unconfirmed.clone())
    }));
    Ok(alerts.map(|alerts| Producers { dead_letters, alerts: Some(alerts) }))
}

/// The sinks in the order every batch passes them. Dead letters go out before the commit (at
/// least once: a crash in between sends them again); results are stored before they are
/// announced: Postgres, then the index, then the alert topic. A process that does not write the
/// results (not process 0 of a cluster) only serves: its index takes a batch once the writer has
/// stored it (`gate`, with a database).
pub(super) fn in_order(
    producers: Option<Producers>,
    postgres: Option<PostgresSink>,
    gate: Option<StoredGate>,
    index: IndexWriter,
) -> Vec<Box<dyn Sink>> {
    let Some(Producers { dead_letters, alerts }) = producers else {
        let mut sinks = gate.map_or_else(Vec::new, |gate| vec![Box::new(gate) as Box<dyn Sink>]);
        sinks.push(Box::new(index));
        return sinks;
    };
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(dead_letters)];
    sinks.extend(postgres.map(|postgres| Box::new(postgres) as Box<dyn Sink>));
    sinks.push(Box::new(index));
    sinks.extend(alerts.map(|alerts| Box::new(alerts) as Box<dyn Sink>));
    sinks
}
