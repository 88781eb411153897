//! The Kafka source against a real Kafka-protocol broker (Tansu) and a Schema Registry stub:
//! answers equal the reference model, every undecodable or rule-breaking record is set aside with
//! its reason, a newer writer schema decodes, and a restart rebuilds the same answers from
//! `earliest`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use apache_avro::Schema;
use apache_avro::types::Value;
use flowmart_operators::reference::ReferenceModel;
use flowmart_pipelines::runtime::{Pipeline, RuntimeConfig};
use flowmart_pipelines::serving::{ServingIndex, Snapshot};
use flowmart_pipelines::sources::generator::GeneratorConfig;
use flowmart_pipelines::sources::kafka::{KafkaSource, KafkaSourceConfig, Registry, StartFrom, WriterSchemas, frame};
use flowmart_pipelines::{ChangeBatch, DeadLetter, InputTopic, Sink, SinkError, Topics};
use flowmart_schemas::{AvroRecord, InputRecord, InventoryEvent, InventoryKind, encode};
use flowmart_testkit::{
    RegistryStub, Tansu, assert_snapshot_equals_model, create_topics, model_of, produce, produce_workload,
};

fn partitions(topic: InputTopic) -> i32 {
    match topic {
        InputTopic::Inventory => 5,
        InputTopic::Orders => 2,
        InputTopic::Payments => 3,
        InputTopic::ReorderPolicies => 1,
    }
}

struct DeadLetters(Arc<Mutex<Vec<DeadLetter>>>);

impl Sink for DeadLetters {
    fn name(&self) -> &'static str {
        "dead-letters"
    }
    fn apply(&mut self, batch: &ChangeBatch) -> Result<(), SinkError> {
        self.0.lock().unwrap().extend(batch.dead_letters.iter().cloned());
        Ok(())
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Runs a pipeline over the topics until it has read `records` records and published them.
fn run(brokers: &str, registry: &RegistryStub, records: usize) -> (Arc<Snapshot>, Vec<DeadLetter>) {
    let source = KafkaSource::new(
        KafkaSourceConfig {
            brokers: brokers.to_string(),
            group_id: "flowmart-test".into(),
            topics: Topics::default(),
            start: StartFrom::Earliest,
            properties: Default::default(),
        },
        Arc::new(WriterSchemas::new(Box::new(Registry::new(registry.url())))),
    );
    let (index, writer) = ServingIndex::new(u64::MAX);
    let dead_letters = Arc::new(Mutex::new(Vec::new()));
    let pipeline = Pipeline::start(
        RuntimeConfig { workers: 3, ..RuntimeConfig::default() },
        Arc::new(source),
        vec![Box::new(writer), Box::new(DeadLetters(Arc::clone(&dead_letters)))],
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
    let dead_letters = dead_letters.lock().unwrap().clone();
    (snapshot, dead_letters)
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

    // A restart with no stored progress rebuilds everything from earliest: the same answers.
    let (again, dead_again) = run(&tansu.brokers(), &registry, total);
    assert_snapshot_equals_model(&again, &model);
    assert_eq!(dead_again.len(), dead_letters.len());
}
