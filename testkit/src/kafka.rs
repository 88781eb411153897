use std::time::Duration;

use flowmart_generator::{GeneratorConfig, PartitionWorkload};
use flowmart_kafka::{KafkaConnection, WorkloadProducer};
use flowmart_runtime::Topics;
use flowmart_schemas::InputRecord;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::RegistryStub;

/// Creates `topics` as (name, partitions).
pub fn create_topics(kafka: impl Into<KafkaConnection>, topics: &[(&str, i32)]) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(flowmart_kafka::create_topics(&kafka.into(), topics)).expect("topics created");
}

/// A record to produce: topic, partition, key, value.
pub type OutgoingRecord = (String, i32, Option<Vec<u8>>, Option<Vec<u8>>);

/// Produces `(topic, partition, key, value)` records in order (one in flight per partition, so
/// the order holds) and waits until all are acknowledged.
pub fn produce(kafka: impl Into<KafkaConnection>, records: &[OutgoingRecord]) {
    let kafka: KafkaConnection = kafka.into();
    let producer: BaseProducer = kafka
        .client_config()
        .set("max.in.flight.requests.per.connection", "1")
        .set("linger.ms", "5")
        .create()
        .expect("a producer");
    for (topic, partition, key, value) in records {
        let mut record = BaseRecord::<Vec<u8>, Vec<u8>>::to(topic).partition(*partition);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(value) = value {
            record = record.payload(value);
        }
        let mut pending = record;
        loop {
            match producer.send(pending) {
                Ok(()) => break,
                Err((_, returned)) => {
                    producer.poll(Duration::from_millis(10));
                    pending = returned;
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60)).expect("every record acknowledged");
}

/// What [`produce_workload`] wrote.
pub struct Produced {
    /// Every record, in the order produced (per partition, the order it will be read).
    pub records: Vec<InputRecord>,
    /// How many records went to Kafka.
    pub count: usize,
}

/// Produces the generator's workload for `config` with the pipeline's own [`WorkloadProducer`]:
/// Confluent-framed Avro under schemas registered with `registry`, generator partition `g` of a
/// topic going to Kafka partition `g mod partitions(topic)`.
pub fn produce_workload(
    kafka: impl Into<KafkaConnection>,
    registry: &RegistryStub,
    config: &GeneratorConfig,
) -> Produced {
    let counts = (0..config.partitions).map(|partition| config.records_of_partition(partition)).collect::<Vec<_>>();
    produce_partitions(kafka.into(), registry, config, &counts)
}

/// Like [`produce_workload`], with tenants of uneven size, as on a real marketplace: generator
/// partition `g` (tenant `g` when `config.partitions == config.tenants`) carries
/// `shares[g] / sum(shares)` of `config.max_records`.
pub fn produce_uneven_workload(
    kafka: impl Into<KafkaConnection>,
    registry: &RegistryStub,
    config: &GeneratorConfig,
    shares: &[u64],
) -> Produced {
    assert_eq!(shares.len(), config.partitions as usize, "one share per generator partition");
    let total = config.max_records.expect("a bounded workload");
    let sum: u64 = shares.iter().sum();
    let counts = shares.iter().map(|share| Some(total * share / sum)).collect::<Vec<_>>();
    produce_partitions(kafka.into(), registry, &GeneratorConfig { max_records: None, ..config.clone() }, &counts)
}

/// Produces `counts[g]` records of generator partition `g` (all of them for `None`).
fn produce_partitions(
    kafka: KafkaConnection,
    registry: &RegistryStub,
    config: &GeneratorConfig,
    counts: &[Option<u64>],
) -> Produced {
    let producer =
        WorkloadProducer::connect(&kafka, &registry.config(), Topics::default()).expect("a workload producer");
    let mut records = Vec::new();
    for (generator_partition, count) in counts.iter().enumerate() {
        let mut workload = PartitionWorkload::new(config, generator_partition as u32);
        let mut left = count.unwrap_or(u64::MAX);
        while left > 0
            && let Some(record) = workload.next()
        {
            producer.send(&record).expect("queued");
            records.push(record.decoded.expect("generated"));
            left -= 1;
        }
    }
    producer.flush().expect("every record acknowledged");
    Produced { count: records.len(), records }
}

/// A record read back from a topic.
#[derive(Clone, Debug)]
pub struct Consumed {
    /// Its partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its value.
    pub value: Option<Vec<u8>>,
    /// Its headers, in order.
    pub headers: Vec<(String, String)>,
}

/// Reads `topic` from the beginning until `count` records arrived (or `timeout` passed), and a
/// little longer to catch any extra.
pub fn consume(kafka: impl Into<KafkaConnection>, topic: &str, count: usize, timeout: Duration) -> Vec<Consumed> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    let kafka: KafkaConnection = kafka.into();
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", format!("testkit-{topic}-{}", crate::free_port()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        // Tansu holds a fetch for the whole wait when some partitions have nothing new.
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("a consumer");
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("topic metadata");
    let mut assignment = rdkafka::TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|topic| topic.partitions()) {
        assignment.add_partition_offset(topic, partition.id(), rdkafka::Offset::Beginning).expect("a partition");
    }
    consumer.assign(&assignment).expect("assign");
    let mut consumed = Vec::new();
    let deadline = std::time::Instant::now() + timeout;
    let mut settle_until = None;
    loop {
        let now = std::time::Instant::now();
        if now >= deadline || settle_until.is_some_and(|until| now >= until) {
            break;
        }
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            let headers = message
                .headers()
                .map(|headers| {
                    headers
                        .iter()
                        .map(|header| {
                            (
                                header.key.to_string(),
                                String::from_utf8_lossy(header.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            consumed.push(Consumed {
                partition: message.partition(),
                offset: message.offset(),
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().map(<[u8]>::to_vec),
                headers,
            });
        }
        if consumed.len() >= count && settle_until.is_none() {
            settle_until = Some(std::time::Instant::now() + Duration::from_millis(500));
        }
    }
    consumed
}

/// The offsets `group` has committed for `topic`'s partitions `0..partitions` (-1 where none).
pub fn committed_offsets(kafka: impl Into<KafkaConnection>, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let kafka: KafkaConnection = kafka.into();
    let consumer: BaseConsumer = kafka.client_config().set("group.id", group).create().expect("a consumer");
    let mut wanted = TopicPartitionList::new();
    for partition in 0..partitions {
        wanted.add_partition(topic, partition);
    }
    let committed = consumer.committed_offsets(wanted, Duration::from_secs(10)).expect("committed offsets");
    committed
        .elements()
        .iter()
        .map(|element| if let Offset::Offset(offset) = element.offset() { offset } else { -1 })
        .collect()
}
