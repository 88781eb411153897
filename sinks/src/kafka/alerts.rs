use flowmart_pipelines::sources::kafka::frame;
use flowmart_pipelines::{ChangeBatch, Sink, SinkError};
use flowmart_schemas::{AvroRecord, ReorderAlert, encode};
use rdkafka::producer::BaseRecord;
use schema_registry_converter::blocking::schema_registry::{SrSettings, post_schema};
use schema_registry_converter::schema_registry_common::{SchemaType, SuppliedSchema};

use super::producer::{KafkaSinkConfig, KafkaSinkError, SinkProducer};

/// Produces every reorder alert change to the alerts topic as a `ReorderAlert` in the Confluent
/// wire format, keyed by `tenant_id`, under the schema registered for `<topic>-value`.
pub struct AlertSink {
    producer: SinkProducer,
    topic: String,
    schema_id: u32,
}

impl AlertSink {
    /// Registers the `ReorderAlert` schema (TopicNameStrategy) with the registry at
    /// `registry_url` and makes a sink producing to `topic`.
    pub fn new(config: &KafkaSinkConfig, topic: &str, registry_url: &str) -> Result<Self, KafkaSinkError> {
        let subject = format!("{topic}-value");
        let schema = SuppliedSchema::new(
            Some(ReorderAlert::FULL_NAME.to_string()),
            SchemaType::Avro,
            ReorderAlert::SCHEMA_TEXT.to_string(),
        );
        let registered = post_schema(&SrSettings::new(registry_url.to_string()), subject.clone(), schema)
            .map_err(|error| KafkaSinkError::Registry { subject, message: error.to_string() })?;
        Ok(AlertSink {
            producer: SinkProducer::new(config, "flowmart-alerts")?,
            topic: topic.to_string(),
            schema_id: registered.id,
        })
    }
}

impl Sink for AlertSink {
    fn name(&self) -> &'static str {
        "kafka-alerts"
    }

    fn apply(&mut self, batch: &ChangeBatch) -> Result<(), SinkError> {
        if batch.alerts.is_empty() {
            return Ok(());
        }
        let failed = |message: String| SinkError { sink: "kafka-alerts", message };
        let values = batch
            .alerts
            .iter()
            .map(|alert| encode(alert).map(|body| frame(self.schema_id, &body)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| failed(error.to_string()))?;
        let records = batch.alerts.iter().zip(&values).map(|(alert, value)| {
            BaseRecord::<[u8], [u8]>::to(&self.topic).key(alert.tenant_id.as_bytes()).payload(value.as_slice())
        });
        let sent = self.producer.send_all(records).map_err(failed)?;
        metrics::counter!("flowmart_alert_changes_published_total").increment(sent as u64);
        Ok(())
    }
}
