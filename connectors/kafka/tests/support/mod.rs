//! What the source tests against librdkafka's mock cluster share: the cluster, holding receipts.

use flowmart_runtime::{InputTopic, SourceRecord, Topics};
use flowmart_schemas::{InputRecord, InventoryEvent, InventoryKind};
use flowmart_testkit::RegistryStub;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

/// A mock Kafka cluster with the input `topics` (one partition each), holding `records`
/// receipts (`receipt-0`, `receipt-1`, …) in inventory partition 0.
pub fn cluster_with_receipts(
    topics: &Topics,
    registry: &RegistryStub,
    records: usize,
) -> MockCluster<'static, DefaultProducerContext> {
    let cluster = MockCluster::new(1).expect("a mock cluster");
    for topic in InputTopic::ALL {
        cluster.create_topic(topics.name(topic), 1, 1).expect("topic created");
    }
    let producer = flowmart_kafka::WorkloadProducer::connect_to(
        &cluster.bootstrap_servers().as_str().into(),
        &registry.config(),
        topics.clone(),
        &[InputTopic::Inventory],
    )
    .expect("a producer");
    for number in 0..records {
        producer.send(&receipt(&format!("receipt-{number}"))).expect("queued");
    }
    producer.flush().expect("acknowledged");
    cluster
}

/// A receipt of 5 units at acme-wholesale's rotterdam warehouse, as the workload producer sends it.
fn receipt(event_id: &str) -> SourceRecord {
    SourceRecord {
        topic: InputTopic::Inventory,
        partition: 0,
        offset: 0,
        key: Some(b"acme-wholesale".to_vec()),
        raw_value: None,
        decoded: Ok(InputRecord::Inventory(InventoryEvent {
            event_id: event_id.into(),
            tenant_id: "acme-wholesale".into(),
            warehouse_id: "rotterdam".into(),
            sku: "SKU-00001".into(),
            kind: InventoryKind::Received,
            quantity: 5,
            occurred_at: 1_767_571_200_000,
            purchase_order_id: None,
        })),
    }
}
