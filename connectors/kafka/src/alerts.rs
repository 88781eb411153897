//! The alerts topic, exactly once: every change carries its number in a header, and a sink that
//! does not know what reached the topic (after a failed send, or at start with unconfirmed
//! changes from the database's outbox) reads the topic's tail first and sends only the missing.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use flowmart_runtime::{ChangeBatch, ErrorClass, Sink, SinkError};
use flowmart_schemas::{AvroRecord, ReorderAlert, encode};
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::BaseRecord;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use schema_registry_converter::blocking::schema_registry::post_schema;
use schema_registry_converter::schema_registry_common::{SchemaType, SuppliedSchema};

use crate::producer::{KafkaSinkConfig, KafkaSinkError, SinkProducer};
use crate::{SchemaRegistryConfig, frame};

/// The header carrying an alert change's number ([`ChangeBatch::numbered_alerts`]), in decimal.
pub const SEQUENCE_HEADER: &str = "flowmart.alert.sequence";

/// How long reading back the topic's tail may take before the attempt counts as failed.
const READ_BACK_TIMEOUT: Duration = Duration::from_secs(30);

/// Produces every reorder alert change to the alerts topic as a `ReorderAlert` in the Confluent
/// wire format, keyed by `tenant_id`, under the schema registered for `<topic>-value`, with its
/// number in the [`SEQUENCE_HEADER`].
pub struct AlertSink {
    producer: SinkProducer,
    config: KafkaSinkConfig,
    topic: String,
    schema_id: u32,
    /// Whether some changes may already be on the topic: the next send reads it back first.
    unsure: bool,
    /// Changes committed before this sink started and perhaps not on the topic yet.
    unconfirmed: Vec<(u64, ReorderAlert)>,
}

impl AlertSink {
    /// Registers the `ReorderAlert` schema (TopicNameStrategy) with the `registry` and makes a sink producing to `topic`. `unconfirmed` are changes an earlier
    /// run committed and may not have published (the Postgres outbox): the first batch publishes
    /// those missing from the topic first.
    pub fn new(
        config: &KafkaSinkConfig,
        topic: &str,
        registry: &SchemaRegistryConfig,
        unconfirmed: Vec<(u64, ReorderAlert)>,
    ) -> Result<Self, KafkaSinkError> {
        let subject = format!("{topic}-value");
        let schema = SuppliedSchema::new(
            Some(ReorderAlert::FULL_NAME.to_string()),
            SchemaType::Avro,
            ReorderAlert::SCHEMA_TEXT.to_string(),
        );
        let settings = registry
            .settings()
            .map_err(|error| KafkaSinkError::Registry { subject: subject.clone(), message: error.to_string() })?;
        let registered = post_schema(&settings, subject.clone(), schema)
            .map_err(|error| KafkaSinkError::Registry { subject, message: error.to_string() })?;
        // Exported from the start, at zero: a run that has nothing to publish still shows it.
        metrics::counter!("flowmart_alert_changes_published_total").increment(0);
        Ok(AlertSink {
            producer: SinkProducer::new(config, "flowmart-alerts", topic)?,
            config: config.clone(),
            topic: topic.to_string(),
            schema_id: registered.id,
            unsure: !unconfirmed.is_empty(),
            unconfirmed,
        })
    }

    /// Sends `changes` (numbered, in order), skipping those already on the topic when unsure.
    fn publish(&mut self, changes: Vec<(u64, &ReorderAlert)>) -> Result<usize, String> {
        let changes = if self.unsure {
            let on_topic = self.sequences_on_topic(changes.len())?;
            let missing = changes.into_iter().filter(|(sequence, _)| !on_topic.contains(sequence)).collect::<Vec<_>>();
            tracing::info!(topic = %self.topic, missing = missing.len(), "read back the alerts topic before sending");
            missing
        } else {
            changes
        };
        let encoded = changes
            .iter()
            .map(|(sequence, alert)| {
                let value =
                    encode(*alert).map(|body| frame(self.schema_id, &body)).map_err(|error| error.to_string())?;
                Ok((sequence.to_string(), value))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let records = changes.iter().zip(&encoded).map(|((_, alert), (sequence, value))| {
            let headers = OwnedHeaders::new().insert(Header { key: SEQUENCE_HEADER, value: Some(sequence.as_str()) });
            BaseRecord::<[u8], [u8]>::to(&self.topic)
                .key(alert.tenant_id.as_bytes())
                .payload(value.as_slice())
                .headers(headers)
        });
        // Until the flush says every record landed, some may have: be unsure.
        self.unsure = true;
        let sent = self.producer.send_all(records)?;
        self.unsure = false;
        Ok(sent)
    }

    /// The numbers found in the last `window` records of every partition of the topic (at most
    /// `window` of the changes being sent can be on one partition).
    ///
    /// Called only once every delivery of this producer has settled (`SinkProducer` purges and
    /// waits for every report first), so every copy that landed is below the true end. The high
    /// watermark is only where reading starts, never a record of what was written: what counts
    /// is the sequence headers read, up to the end of each partition (the fetch's end, which
    /// raises `PartitionEOF`). A watermark below the true end only starts the window earlier —
    /// Tansu answers the latest offset with its last record batch's base offset + 1 — so the
    /// window reads more, never less.
    fn sequences_on_topic(&self, window: usize) -> Result<BTreeSet<u64>, String> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &self.config.brokers)
            .set("group.id", "flowmart-alerts-read-back")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .set("fetch.wait.max.ms", "10");
        for (key, value) in &self.config.properties {
            if ["security.", "sasl.", "ssl."].iter().any(|prefix| key.starts_with(prefix)) {
                client.set(key, value);
            }
        }
        let consumer: BaseConsumer<QuietEnds> =
            client.create_with_context(QuietEnds).map_err(|error| error.to_string())?;
        let metadata = consumer
            .fetch_metadata(Some(&self.topic), READ_BACK_TIMEOUT)
            .map_err(|error| format!("metadata of {}: {error}", self.topic))?;
        let mut assignment = TopicPartitionList::new();
        let mut reading = BTreeSet::new();
        for partition in metadata.topics().iter().flat_map(|topic| topic.partitions()) {
            let (low, high) = consumer
                .fetch_watermarks(&self.topic, partition.id(), READ_BACK_TIMEOUT)
                .map_err(|error| format!("watermarks of {}: {error}", self.topic))?;
            if high > low {
                let from = high.saturating_sub(window as i64).max(low);
                assignment
                    .add_partition_offset(&self.topic, partition.id(), Offset::Offset(from))
                    .map_err(|error| error.to_string())?;
                reading.insert(partition.id());
            }
        }
        let mut found = BTreeSet::new();
        if reading.is_empty() {
            return Ok(found);
        }
        consumer.assign(&assignment).map_err(|error| error.to_string())?;
        let deadline = Instant::now() + READ_BACK_TIMEOUT;
        while !reading.is_empty() {
            if Instant::now() >= deadline {
                return Err(format!("reading back {} timed out", self.topic));
            }
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    let sequence = message.headers().and_then(|headers| {
                        headers
                            .iter()
                            .find(|header| header.key == SEQUENCE_HEADER)
                            .and_then(|header| std::str::from_utf8(header.value?).ok()?.parse::<u64>().ok())
                    });
                    found.extend(sequence);
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    reading.remove(&partition);
                }
                Some(Err(error)) => return Err(format!("reading back {}: {error}", self.topic)),
                None => {}
            }
        }
        Ok(found)
    }
}

/// The read-back consumer's context: reaching a partition's end is what it waits for, not an
/// error worth logging.
struct QuietEnds;

impl ClientContext for QuietEnds {
    fn error(&self, error: KafkaError, reason: &str) {
        let end = matches!(error, KafkaError::PartitionEOF(_))
            || error.rdkafka_error_code() == Some(RDKafkaErrorCode::PartitionEOF);
        if !end {
            tracing::warn!(%error, reason, "alerts read-back consumer");
        }
    }
}

impl ConsumerContext for QuietEnds {}

impl Sink for AlertSink {
    fn name(&self) -> &'static str {
        "kafka-alerts"
    }

    fn apply(&mut self, batch: &ChangeBatch) -> Result<(), SinkError> {
        let unconfirmed = std::mem::take(&mut self.unconfirmed);
        let changes = unconfirmed
            .iter()
            .map(|(sequence, alert)| (*sequence, alert))
            .chain(batch.numbered_alerts())
            .collect::<Vec<_>>();
        if changes.is_empty() {
            return Ok(());
        }
        match self.publish(changes) {
            Ok(sent) => {
                metrics::counter!("flowmart_alert_changes_published_total").increment(sent as u64);
                Ok(())
            }
            Err(message) => {
                self.unconfirmed = unconfirmed;
                Err(SinkError::new("kafka-alerts", ErrorClass::Transient, message))
            }
        }
    }
}
