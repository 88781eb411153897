//! The producer both Kafka sinks use: idempotent, and counting failed deliveries.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use serde::{Deserialize, Serialize};

/// How to reach Kafka for the sinks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Further librdkafka producer properties (e.g. `enable.idempotence`, security settings).
    pub properties: BTreeMap<String, String>,
}

/// Why a Kafka sink could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSinkError {
    /// The producer settings are wrong.
    #[error("kafka producer settings: {0}")]
    Config(String),
    /// The schema of the alert records could not be registered.
    #[error("cannot register the {subject} schema with the schema registry: {message}")]
    Registry {
        /// The subject.
        subject: String,
        /// What the registry client said.
        message: String,
    },
}

/// Counts deliveries that failed since the last flush.
#[derive(Default)]
pub(super) struct DeliveryFailures(AtomicUsize);

impl ClientContext for DeliveryFailures {}

impl ProducerContext for DeliveryFailures {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            tracing::warn!(%error, "kafka delivery failed");
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A producer whose [`send_all`](SinkProducer::send_all) returns only once every record is
/// acknowledged, or says how many were not.
pub(super) struct SinkProducer {
    producer: BaseProducer<DeliveryFailures>,
}

/// How long a batch may take to be acknowledged before it counts as failed.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

impl SinkProducer {
    pub(super) fn new(config: &KafkaSinkConfig, client_id: &str) -> Result<Self, KafkaSinkError> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.brokers)
            .set("client.id", client_id)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5");
        for (key, value) in &config.properties {
            client.set(key, value);
        }
        let producer = client
            .create_with_context(DeliveryFailures::default())
            .map_err(|error| KafkaSinkError::Config(error.to_string()))?;
        Ok(SinkProducer { producer })
    }

    /// Sends every record and waits for all acknowledgements.
    pub(super) fn send_all<'a>(
        &self,
        records: impl IntoIterator<Item = BaseRecord<'a, [u8], [u8]>>,
    ) -> Result<usize, String> {
        let mut sent = 0;
        for record in records {
            let mut pending = record;
            loop {
                match self.producer.send(pending) {
                    Ok(()) => break,
                    Err((error, returned))
                        if matches!(error.rdkafka_error_code(), Some(rdkafka::types::RDKafkaErrorCode::QueueFull)) =>
                    {
                        self.producer.poll(Duration::from_millis(5));
                        pending = returned;
                    }
                    Err((error, _)) => return Err(format!("cannot queue a record: {error}")),
                }
            }
            sent += 1;
        }
        self.producer.flush(FLUSH_TIMEOUT).map_err(|error| format!("records not acknowledged: {error}"))?;
        match self.producer.context().0.swap(0, Ordering::Relaxed) {
            0 => Ok(sent),
            failed => Err(format!("{failed} of {sent} records were not delivered")),
        }
    }
}
