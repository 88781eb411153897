use flowmart_runtime::{ChangeBatch, ErrorClass, Sink, SinkError, Topics};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::BaseRecord;

use crate::producer::{KafkaSinkConfig, KafkaSinkError, SinkProducer};

/// Produces every dead letter to the DLQ topic (`CONTRACT.md` §1): the original key and value
/// bytes unchanged, with headers `error.kind`, `error.message`, `source.topic`,
/// `source.partition`, `source.offset`.
pub struct DeadLetterSink {
    producer: SinkProducer,
    topic: String,
    sources: Topics,
}

impl DeadLetterSink {
    /// A sink producing to `topic`, naming source topics as `sources` does.
    pub fn new(config: &KafkaSinkConfig, topic: &str, sources: Topics) -> Result<Self, KafkaSinkError> {
        Ok(DeadLetterSink {
            producer: SinkProducer::new(config, "flowmart-dlq", topic)?,
            topic: topic.to_string(),
            sources,
        })
    }
}

impl Sink for DeadLetterSink {
    fn name(&self) -> &'static str {
        "kafka-dlq"
    }

    fn apply(&mut self, batch: &ChangeBatch) -> Result<(), SinkError> {
        if batch.dead_letters.is_empty() {
            return Ok(());
        }
        let records = batch.dead_letters.iter().map(|dead| {
            let (partition, offset) = (dead.partition.to_string(), dead.offset.to_string());
            let headers = OwnedHeaders::new()
                .insert(Header { key: "error.kind", value: Some(&*dead.kind) })
                .insert(Header { key: "error.message", value: Some(&dead.message) })
                .insert(Header { key: "source.topic", value: Some(self.sources.name(dead.topic)) })
                .insert(Header { key: "source.partition", value: Some(&partition) })
                .insert(Header { key: "source.offset", value: Some(&offset) });
            let mut record = BaseRecord::<[u8], [u8]>::to(&self.topic).headers(headers);
            if let Some(key) = &dead.key {
                record = record.key(key.as_slice());
            }
            if let Some(value) = &dead.value {
                record = record.payload(value.as_slice());
            }
            record
        });
        self.producer
            .send_all(records)
            .map(|_| ())
            .map_err(|message| SinkError::new("kafka-dlq", ErrorClass::Transient, message))
    }
}
