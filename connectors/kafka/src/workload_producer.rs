//! Writing records to the input topics as a FlowMart producer service would: Avro in the
//! Confluent wire format under schemas registered (TopicNameStrategy) with the registry.

use std::collections::BTreeMap;
use std::time::Duration;

use flowmart_schemas::{AvroRecord, InputRecord, InventoryEvent, OrderEvent, PaymentEvent, ReorderPolicy, encode};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use schema_registry_converter::blocking::schema_registry::post_schema;
use schema_registry_converter::schema_registry_common::{SchemaType, SuppliedSchema};

use flowmart_runtime::{InputTopic, SourceRecord, Topics};

use crate::{KafkaConnection, RegistryClientError, SchemaRegistryConfig, frame};

/// Why records could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// The schema registry refused or could not be reached.
    #[error("schema registry: cannot register {subject}: {message}")]
    Registry {
        /// The subject.
        subject: String,
        /// What the registry client said.
        message: String,
    },
    /// The registry's client could not be set up.
    #[error(transparent)]
    RegistryClient(#[from] RegistryClientError),
    /// Kafka refused or could not be reached.
    #[error("kafka: {0}")]
    Kafka(String),
}

/// Creates the `(name, partitions)` topics that do not exist yet.
pub async fn create_topics(connection: &KafkaConnection, topics: &[(&str, i32)]) -> Result<(), ProduceError> {
    let kafka = |error: rdkafka::error::KafkaError| ProduceError::Kafka(error.to_string());
    let admin: AdminClient<DefaultClientContext> = connection.client_config().create().map_err(kafka)?;
    let topics = topics
        .iter()
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
        .collect::<Vec<_>>();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&topics, &options).await.map_err(kafka)? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(ProduceError::Kafka(format!("cannot create {topic}: {code}"))),
        }
    }
    Ok(())
}

/// Produces input records to their topics, partition `p` of a record going to partition
/// `p mod partitions` of its topic (a tenant's records stay together and in order).
pub struct WorkloadProducer {
    producer: BaseProducer,
    topics: Topics,
    schema_ids: BTreeMap<InputTopic, u32>,
    partitions: BTreeMap<InputTopic, i32>,
}

impl WorkloadProducer {
    /// Registers the four input schemas with the `registry` and connects to `kafka`, reading
    /// how many partitions each topic has.
    pub fn connect(
        kafka: &KafkaConnection,
        registry: &SchemaRegistryConfig,
        topics: Topics,
    ) -> Result<Self, ProduceError> {
        Self::connect_to(kafka, registry, topics, &InputTopic::ALL)
    }

    /// As [`connect`](Self::connect), for records of `only` these topics.
    pub fn connect_to(
        connection: &KafkaConnection,
        registry: &SchemaRegistryConfig,
        topics: Topics,
        only: &[InputTopic],
    ) -> Result<Self, ProduceError> {
        let registry = registry.settings()?;
        let mut schema_ids = BTreeMap::new();
        for &topic in only {
            let (name, text) = match topic {
                InputTopic::Inventory => (InventoryEvent::FULL_NAME, InventoryEvent::SCHEMA_TEXT),
                InputTopic::Orders => (OrderEvent::FULL_NAME, OrderEvent::SCHEMA_TEXT),
                InputTopic::Payments => (PaymentEvent::FULL_NAME, PaymentEvent::SCHEMA_TEXT),
                InputTopic::ReorderPolicies => (ReorderPolicy::FULL_NAME, ReorderPolicy::SCHEMA_TEXT),
            };
            let subject = format!("{}-value", topics.name(topic));
            let schema = SuppliedSchema::new(Some(name.to_string()), SchemaType::Avro, text.to_string());
            let registered = post_schema(&registry, subject.clone(), schema)
                .map_err(|error| ProduceError::Registry { subject, message: error.to_string() })?;
            schema_ids.insert(topic, registered.id);
        }
        let kafka = |error: rdkafka::error::KafkaError| ProduceError::Kafka(error.to_string());
        let metadata_client: BaseConsumer = connection.client_config().create().map_err(kafka)?;
        let mut partitions = BTreeMap::new();
        for &topic in only {
            let name = topics.name(topic);
            let metadata = metadata_client.fetch_metadata(Some(name), Duration::from_secs(10)).map_err(kafka)?;
            let count = metadata.topics().first().map_or(0, |topic| topic.partitions().len()) as i32;
            if count == 0 {
                return Err(ProduceError::Kafka(format!("topic {name} does not exist")));
            }
            partitions.insert(topic, count);
        }
        let mut client = connection.client_config();
        client.set("enable.idempotence", "true");
        // Batches for throughput, unless the connection says otherwise (a latency probe sets 0).
        if !connection.properties.contains_key("linger.ms") {
            client.set("linger.ms", "5");
        }
        let producer = client.create().map_err(kafka)?;
        Ok(WorkloadProducer { producer, topics, schema_ids, partitions })
    }

    /// Queues one record (waiting while the producer's queue is full).
    pub fn send(&self, record: &SourceRecord) -> Result<(), ProduceError> {
        let not_connected = || ProduceError::Kafka(format!("not connected to {}", self.topics.name(record.topic)));
        let (schema_id, partitions) = match (self.schema_ids.get(&record.topic), self.partitions.get(&record.topic)) {
            (Some(schema_id), Some(partitions)) => (*schema_id, *partitions),
            _ => return Err(not_connected()),
        };
        let value = match &record.decoded {
            Ok(InputRecord::Inventory(event)) => Some(encoded(event)?),
            Ok(InputRecord::Order(event)) => Some(encoded(event)?),
            Ok(InputRecord::Payment(event)) => Some(encoded(event)?),
            Ok(InputRecord::Policy(update)) => update.policy.as_ref().map(encoded).transpose()?,
            Err(rejection) => {
                return Err(ProduceError::Kafka(format!("cannot produce a rejected record: {}", rejection.message)));
            }
        }
        .map(|body| frame(schema_id, &body));
        let partition = (record.partition as i32) % partitions;
        let mut outgoing = BaseRecord::<[u8], [u8]>::to(self.topics.name(record.topic)).partition(partition);
        if let Some(key) = &record.key {
            outgoing = outgoing.key(key.as_slice());
        }
        if let Some(value) = &value {
            outgoing = outgoing.payload(value.as_slice());
        }
        loop {
            match self.producer.send(outgoing) {
                Ok(()) => {
                    self.producer.poll(Duration::ZERO);
                    return Ok(());
                }
                Err((error, returned)) if error.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    self.producer.poll(Duration::from_millis(5));
                    outgoing = returned;
                }
                Err((error, _)) => return Err(ProduceError::Kafka(error.to_string())),
            }
        }
    }

    /// Waits until every queued record is acknowledged.
    pub fn flush(&self) -> Result<(), ProduceError> {
        self.producer.flush(Duration::from_secs(60)).map_err(|error| ProduceError::Kafka(error.to_string()))
    }
}

fn encoded<T: AvroRecord>(record: &T) -> Result<Vec<u8>, ProduceError> {
    encode(record).map_err(|error| ProduceError::Kafka(error.to_string()))
}
