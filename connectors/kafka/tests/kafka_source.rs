//! The Kafka source against a real Kafka-protocol broker (Tansu) and a Schema Registry stub:
//! answers equal the reference model, every undecodable or rule-breaking record is set aside with
//! its reason, a newer writer schema decodes, and a restart rebuilds the same answers from
//! `earliest`; resumed at an offset inside a record batch, it reads every record from there on
//! once, whether the broker answers with that batch (Kafka, here librdkafka's mock cluster) or
//! with the next (Tansu).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use apache_avro::Schema;
use apache_avro::types::Value;
use flowmart_generator::GeneratorConfig;
use flowmart_kafka::{KafkaSource, KafkaSourceConfig, OnOffsetOutOfRange, Registry, StartFrom, WriterSchemas, frame};
use flowmart_operators::reference::ReferenceModel;
use flowmart_runtime::{DeadLetter, InputTopic, SourceProgress, Topics};
use flowmart_runtime::{Pipeline, RuntimeConfig};
use flowmart_schemas::{AvroRecord, InputRecord, InventoryEvent, InventoryKind, encode};
use flowmart_serving::{ServingIndex, Snapshot};
use flowmart_testkit::{
    CapturedBatches, RegistryStub, Tansu, assert_snapshot_equals_model, create_topics, model_of, produce,
    produce_workload,
};

mod support;

fn partitions(topic: InputTopic) -> i32 {
    match topic {
        InputTopic::Inventory => 5,
        InputTopic::Orders => 2,
        InputTopic::Payments => 3,
        InputTopic::ReorderPolicies => 1,
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A Kafka source over the default topics, decoding through `registry`.
fn kafka_source(brokers: &str, registry: &RegistryStub, group_id: &str, start: StartFrom) -> KafkaSource {
    KafkaSource::new(
        KafkaSourceConfig {
            brokers: brokers.to_string(),
            group_id: group_id.into(),
            topics: Topics::default(),
            start,
            resume: SourceProgress::default(),
            on_offset_out_of_range: OnOffsetOutOfRange::Earliest,
            properties: Default::default(),
        },
        Arc::new(WriterSchemas::new(Box::new(Registry::new(&registry.config()).expect("a registry client")))),
    )
}

/// Runs a pipeline over the topics until it has read `records` records and published them.
fn run(brokers: &str, registry: &RegistryStub, records: usize) -> (Arc<Snapshot>, Vec<DeadLetter>) {
    let source = kafka_source(brokers, registry, "flowmart-test", StartFrom::Earliest);
    let (index, writer) = ServingIndex::new(u64::MAX);
    let dead_letters = CapturedBatches::default();
    let pipeline = Pipeline::start(
        RuntimeConfig { workers: 3, ..RuntimeConfig::default() },
        Arc::new(source),
        vec![Box::new(writer), Box::new(dead_letters.clone())],
    )
    .expect("pipeline starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    while (pipeline.status().records() as usize) < records {
        assert!(Instant::now() < deadline, "read {} of {records} records", pipeline.status().records());
        assert_eq!(pipeline.status().failure(), None);
        std::thread::sleep(Duration::from_millis(20));
    }
    let read_all = now_ms();
    while pipeline.status().as_of() <= read_all {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(pipeline.status().records() as usize, records, "nothing read twice");
    let snapshot = index.snapshot();
    pipeline.stop().expect("pipeline stops cleanly");
    (snapshot, dead_letters.dead_letters())
}

#[test]
fn kafka_answers_equal_the_model_bad_records_are_set_aside_and_a_restart_rebuilds_from_earliest() {
    let tansu = Tansu::start();
    let registry = RegistryStub::start();
    let topics = Topics::default();
    let topic_partitions = InputTopic::ALL.map(|topic| (topics.name(topic), partitions(topic)));
    create_topics(&tansu.brokers(), &topic_partitions);

    let config = GeneratorConfig {
        seed: 5,
        tenants: 4,
        partitions: 4,
        skus_per_tenant: 30,
        records_per_second: None,
        max_records: Some(6_000),
        fault_ratio: 0.01,
        ..GeneratorConfig::default()
    };
    let produced = produce_workload(&tansu.brokers(), &registry, &config);

    // A producer on a newer schema: one more field, with a default.
    let v2_text = InventoryEvent::SCHEMA_TEXT.replace(
        r#"{"name": "quantity", "type": "long"},"#,
        r#"{"name": "quantity", "type": "long"}, {"name": "lot", "type": "string", "default": ""},"#,
    );
    let v2_id = registry.register("flowmart.inventory-value", &v2_text);
    let v2 = Schema::parse_str(&v2_text).unwrap();
    let v2_event = InventoryEvent {
        event_id: "v2-event".into(),
        tenant_id: "acme-wholesale".into(),
        warehouse_id: "rotterdam".into(),
        sku: "SKU-00001".into(),
        kind: InventoryKind::Received,
        quantity: 7,
        occurred_at: 1_767_571_200_000,
        purchase_order_id: None,
    };
    let mut value = apache_avro::to_value(&v2_event).unwrap();
    if let Value::Record(fields) = &mut value {
        fields.insert(6, ("lot".to_string(), Value::String("L-9".into())));
    }
    let v2_body = apache_avro::writer::datum::GenericDatumWriter::builder(&v2)
        .build()
        .unwrap()
        .write_value_to_vec(value.resolve(&v2).unwrap())
        .unwrap();
    assert_ne!(v2_body, encode(&v2_event).unwrap(), "the v2 body carries the extra field");

    let good_body = encode(&v2_event).unwrap();
    let inventory_id = registry.latest_id("flowmart.inventory-value").unwrap();
    let bad = [
        ("bad_wire_format", Some(b"acme-wholesale".to_vec()), Some(b"not avro at all".to_vec())),
        ("unknown_schema_id", Some(b"acme-wholesale".to_vec()), Some(frame(9_999, &good_body))),
        ("avro_decode", Some(b"acme-wholesale".to_vec()), Some(frame(inventory_id, &good_body[..good_body.len() - 3]))),
        ("null_value", Some(b"acme-wholesale".to_vec()), None),
    ];
    let mut extra =
        bad.iter().map(|(_, key, value)| (topics.inventory.clone(), 0, key.clone(), value.clone())).collect::<Vec<_>>();
    extra.push((topics.reorder_policies.clone(), 0, None, None)); // a delete without a key
    extra.push((topics.inventory.clone(), 0, Some(b"acme-wholesale".to_vec()), Some(frame(v2_id, &v2_body))));
    produce(&tansu.brokers(), &extra);

    let mut records = produced.records.clone();
    records.push(InputRecord::Inventory(v2_event));
    let model = model_of(records.clone());
    let total = produced.count + extra.len();

    let (snapshot, dead_letters) = run(&tansu.brokers(), &registry, total);
    assert_snapshot_equals_model(&snapshot, &model);
    for (kind, key, value) in &bad {
        let found =
            dead_letters.iter().find(|dead| dead.kind == *kind).unwrap_or_else(|| panic!("a {kind} dead letter"));
        assert_eq!((found.topic, found.partition), (InputTopic::Inventory, 0));
        assert_eq!((&found.key, &found.value), (key, value), "{kind}: original key and value");
        assert!(!found.message.is_empty());
    }
    assert!(
        dead_letters.iter().any(|dead| dead.kind == "invalid_policy_key" && dead.topic == InputTopic::ReorderPolicies)
    );
    let refused = records.iter().filter(|record| ReferenceModel::new().apply((*record).clone()).is_err()).count();
    assert!(refused > 0, "the workload has rule breakers");
    assert_eq!(dead_letters.len(), refused + bad.len() + 1, "every bad record set aside exactly once");
    let mut positions = dead_letters.iter().map(|dead| (dead.topic, dead.partition, dead.offset)).collect::<Vec<_>>();
    positions.sort();
    positions.dedup();
    assert_eq!(positions.len(), dead_letters.len(), "no record set aside twice");

    // Consumed offsets reach the consumer group, for lag tools: what the results cover.
    let covered = (0..partitions(InputTopic::Orders))
        .map(|partition| {
            snapshot
                .progress
                .iter()
                .find(|(topic, p, _)| *topic == InputTopic::Orders && *p == partition as u32)
                .map_or(0, |(_, _, next)| next as i64)
        })
        .collect::<Vec<_>>();
    let committed = flowmart_testkit::committed_offsets(
        &tansu.brokers(),
        "flowmart-test",
        &topics.orders,
        partitions(InputTopic::Orders),
    );
    assert!(covered.iter().all(|next| *next > 0), "{covered:?}");
    assert_eq!(committed, covered, "committed offsets equal what the results cover");

    // A restart with no stored progress rebuilds everything from earliest — not from the group's
    // committed offsets, which would leave the new, empty state without the history: the same
    // answers.
    let (again, dead_again) = run(&tansu.brokers(), &registry, total);
    assert_snapshot_equals_model(&again, &model);
    assert_eq!(dead_again.len(), dead_letters.len());
}

/// An inventory receipt for `tenant` at one position, as a source record for `partition`.
fn receipt(tenant: &str, event_id: &str, quantity: i64, partition: u32) -> flowmart_runtime::SourceRecord {
    flowmart_runtime::SourceRecord {
        topic: InputTopic::Inventory,
        partition,
        offset: 0,
        key: Some(tenant.as_bytes().to_vec()),
        raw_value: None,
        decoded: Ok(InputRecord::Inventory(InventoryEvent {
            event_id: event_id.into(),
            tenant_id: tenant.into(),
            warehouse_id: "rotterdam".into(),
            sku: "SKU-00001".into(),
            kind: InventoryKind::Received,
            quantity,
            occurred_at: 1_767_571_200_000,
            purchase_order_id: None,
        })),
    }
}

fn wait_for_on_hand(index: &ServingIndex, tenant: &str, on_hand: i64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let snapshot = index.snapshot();
        let seen = snapshot
            .tenant(tenant)
            .and_then(|view| view.stock.get(&("rotterdam".into(), "SKU-00001".into())).map(|levels| levels.on_hand));
        if seen == Some(on_hand) {
            return;
        }
        assert!(Instant::now() < deadline, "{tenant}: on_hand {seen:?}, expected {on_hand}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn latest_skips_what_was_there_and_partitions_that_appear_while_running_are_read_from_their_beginning() {
    let tansu = Tansu::start();
    let registry = RegistryStub::start();
    let topics = Topics::default();
    // The payments topic does not exist yet when the pipeline starts.
    let mut present = InputTopic::ALL.map(|topic| (topics.name(topic), 1)).to_vec();
    present.retain(|(name, _)| *name != topics.payments);
    create_topics(&tansu.brokers(), &present);
    let producer = flowmart_kafka::WorkloadProducer::connect_to(
        &tansu.connection(),
        &registry.config(),
        topics.clone(),
        &[InputTopic::Inventory],
    )
    .unwrap();
    producer.send(&receipt("early-tenant", "early-1", 5, 0)).unwrap();
    producer.flush().unwrap();

    let source = kafka_source(&tansu.brokers(), &registry, "flowmart-latest", StartFrom::Latest);
    let (index, writer) = ServingIndex::new(u64::MAX);
    let pipeline = Pipeline::start(
        RuntimeConfig { workers: 2, ..RuntimeConfig::default() },
        Arc::new(source),
        vec![Box::new(writer)],
    )
    .unwrap();
    // Let both readers take their assignment at the end of the partitions.
    std::thread::sleep(Duration::from_secs(2));
    producer.send(&receipt("late-tenant", "late-1", 7, 0)).unwrap();
    producer.flush().unwrap();
    wait_for_on_hand(&index, "late-tenant", 7, Duration::from_secs(30));
    assert!(index.snapshot().tenant("early-tenant").is_none(), "latest skips what was there");

    // Partitions that appear while running (here: a topic created late, with two) are found at
    // the next metadata refresh (10 s) and read from their beginning, not from "latest".
    create_topics(&tansu.brokers(), &[(topics.payments.as_str(), 2)]);
    let payments = flowmart_kafka::WorkloadProducer::connect_to(
        &tansu.connection(),
        &registry.config(),
        topics,
        &[InputTopic::Payments],
    )
    .unwrap();
    for partition in 0..2 {
        payments.send(&payment("appearing-tenant", &format!("pay-{partition}"), partition)).unwrap();
    }
    payments.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let snapshot = index.snapshot();
        let captured: i64 = snapshot
            .tenant("appearing-tenant")
            .map_or(0, |view| view.settlements.values().map(|totals| totals.captured).sum());
        if captured == 2 * 1_000 {
            break;
        }
        assert!(Instant::now() < deadline, "captured {captured} of 2000 from the new partitions");
        std::thread::sleep(Duration::from_millis(50));
    }
    pipeline.stop().unwrap();
}

fn payment(tenant: &str, event_id: &str, partition: u32) -> flowmart_runtime::SourceRecord {
    flowmart_runtime::SourceRecord {
        topic: InputTopic::Payments,
        partition,
        offset: 0,
        key: Some(tenant.as_bytes().to_vec()),
        raw_value: None,
        decoded: Ok(InputRecord::Payment(flowmart_schemas::PaymentEvent {
            event_id: event_id.into(),
            tenant_id: tenant.into(),
            payment_id: event_id.into(),
            buyer_id: "buyer".into(),
            order_id: None,
            kind: flowmart_schemas::PaymentKind::Captured,
            amount_minor: 1_000,
            currency: "EUR".into(),
            occurred_at: 1_767_571_200_000,
        })),
    }
}

#[test]
fn a_start_time_skips_records_written_before_it() {
    let tansu = Tansu::start();
    let registry = RegistryStub::start();
    let topics = Topics::default();
    create_topics(&tansu.brokers(), &InputTopic::ALL.map(|topic| (topics.name(topic), 2)));
    let producer = flowmart_kafka::WorkloadProducer::connect_to(
        &tansu.connection(),
        &registry.config(),
        topics.clone(),
        &[InputTopic::Inventory],
    )
    .unwrap();
    producer.send(&receipt("before-tenant", "before-1", 3, 0)).unwrap();
    producer.flush().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let start = now_ms() as i64;
    std::thread::sleep(Duration::from_millis(500));
    producer.send(&receipt("after-tenant", "after-1", 9, 0)).unwrap();
    producer.send(&receipt("after-tenant-2", "after-2", 4, 1)).unwrap();
    producer.flush().unwrap();

    let source = kafka_source(&tansu.brokers(), &registry, "flowmart-timestamp", StartFrom::Timestamp(start));
    let (index, writer) = ServingIndex::new(u64::MAX);
    let pipeline = Pipeline::start(
        RuntimeConfig { workers: 2, ..RuntimeConfig::default() },
        Arc::new(source),
        vec![Box::new(writer)],
    )
    .unwrap();
    wait_for_on_hand(&index, "after-tenant", 9, Duration::from_secs(30));
    wait_for_on_hand(&index, "after-tenant-2", 4, Duration::from_secs(30));
    assert!(index.snapshot().tenant("before-tenant").is_none(), "records before the start time are skipped");
    pipeline.stop().unwrap();
}

/// The offset of `topic`'s partition 0 that a plain consumer assigned at `offset` reads first.
fn first_offset_served_from(brokers: &str, topic: &str, offset: i64) -> Option<i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Message, Offset, TopicPartitionList};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "flowmart-plain")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, Offset::Offset(offset)).unwrap();
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            return Some(message.offset());
        }
    }
    None
}

/// The offsets of inventory partition 0 (holding `end` records) that the source's reader reads
/// when resumed at `start`: once it has read up to the end, and a while longer.
fn read_resumed(brokers: &str, registry: &RegistryStub, topics: &Topics, start: u64, end: u64) -> Vec<u64> {
    let mut resume = SourceProgress::default();
    resume.consumed(InputTopic::Inventory, 0, start - 1);
    let source = KafkaSource::new(
        KafkaSourceConfig {
            brokers: brokers.to_string(),
            group_id: "flowmart-resume".into(),
            topics: topics.clone(),
            start: StartFrom::Earliest,
            resume,
            on_offset_out_of_range: OnOffsetOutOfRange::Fail,
            properties: [("fetch.wait.max.ms".to_string(), "10".to_string())].into(),
        },
        Arc::new(WriterSchemas::new(Box::new(Registry::new(&registry.config()).unwrap()))),
    );
    let mut reader = flowmart_runtime::Source::reader(&source, 0, 1).unwrap();
    let (mut polled, mut offsets) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(20);
    while offsets.len() < (end - start) as usize {
        assert!(Instant::now() < deadline, "from {start}: read {offsets:?}");
        reader.poll(1_000, &mut polled);
        offsets.extend(polled.drain(..).map(|record| record.offset));
        std::thread::sleep(Duration::from_millis(5));
    }
    // Anything more would come within a few fetches.
    let quiet = Instant::now() + Duration::from_millis(300);
    while Instant::now() < quiet {
        reader.poll(1_000, &mut polled);
        offsets.extend(polled.drain(..).map(|record| record.offset));
        std::thread::sleep(Duration::from_millis(5));
    }
    offsets
}

#[test]
fn resuming_inside_a_record_batch_reads_every_record_from_there_on() {
    let tansu = Tansu::start();
    let registry = RegistryStub::start();
    let topics = Topics::default();
    create_topics(&tansu.brokers(), &InputTopic::ALL.map(|topic| (topics.name(topic), 1)));
    let producer = flowmart_kafka::WorkloadProducer::connect_to(
        &tansu.connection(),
        &registry.config(),
        topics.clone(),
        &[InputTopic::Inventory],
    )
    .unwrap();
    // Three record batches of ten: each sent together, then flushed.
    for batch in 0..3 {
        for record in 0..10 {
            producer.send(&receipt("batched-tenant", &format!("receipt-{batch}-{record}"), 1, 0)).unwrap();
        }
        producer.flush().unwrap();
    }
    // What the broker does (Tansu 0.6): a fetch inside a batch is answered from the next batch.
    let served = first_offset_served_from(&tansu.brokers(), &topics.inventory, 5);
    assert_eq!(served, Some(10), "the broker this test is about skips to the next batch");

    // Resumed inside the first, second and last batch, and at a batch's start: every record
    // from there on is read once, in order.
    for start in [5, 13, 20, 27] {
        let offsets = read_resumed(&tansu.brokers(), &registry, &topics, start, 30);
        assert_eq!(offsets, (start..30).collect::<Vec<_>>(), "resumed at {start}");
    }
}

#[test]
fn resuming_inside_a_record_batch_on_a_broker_that_serves_it_reads_it_once() {
    let registry = RegistryStub::start();
    let topics = Topics::default();
    // librdkafka's mock cluster answers fetches as Kafka does; its 30 records went in one burst.
    let cluster = support::cluster_with_receipts(&topics, &registry, 30);
    assert_eq!(first_offset_served_from(&cluster.bootstrap_servers(), &topics.inventory, 5), Some(5));
    for start in [5, 29] {
        let offsets = read_resumed(&cluster.bootstrap_servers(), &registry, &topics, start, 30);
        assert_eq!(offsets, (start..30).collect::<Vec<_>>(), "resumed at {start}");
    }
}
