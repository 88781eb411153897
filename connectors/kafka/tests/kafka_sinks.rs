//! The Kafka sinks against a real broker (Tansu) and a Schema Registry stub.

use std::time::Duration;

use flowmart_kafka::split_frame;
use flowmart_kafka::{AlertSink, DeadLetterSink, KafkaSinkConfig, SEQUENCE_HEADER};
use flowmart_runtime::{ChangeBatch, DeadLetter, InputTopic, Sink, Topics};
use flowmart_schemas::{ReorderAlert, ReorderAlertStatus, WriterSchema, decode};
use flowmart_testkit::{RegistryStub, Tansu, alert_batch, consume, create_topics, reorder_alert};

fn alert(sku: &str, status: ReorderAlertStatus, projected: i64) -> ReorderAlert {
    let alert = reorder_alert("acme-wholesale", sku);
    ReorderAlert {
        warehouse_id: "rotterdam".into(),
        status,
        projected,
        reorder_point: 10,
        suggested_quantity: 40,
        ..alert
    }
}

#[test]
fn dead_letters_keep_their_bytes_and_carry_the_contract_headers() {
    let tansu = Tansu::start();
    create_topics(&tansu.brokers(), &[("flowmart.dlq", 1)]);
    let config = KafkaSinkConfig { brokers: tansu.brokers(), properties: Default::default() };
    let mut sink = DeadLetterSink::new(&config, "flowmart.dlq", Topics::default()).unwrap();
    let dead = |offset: u64, value: Option<Vec<u8>>, kind: &'static str| DeadLetter {
        topic: InputTopic::Payments,
        partition: 2,
        offset,
        key: Some(b"acme-wholesale".to_vec()),
        value,
        kind: kind.into(),
        message: format!("{kind} at {offset}"),
    };
    let batch = ChangeBatch {
        dead_letters: vec![dead(41, Some(vec![0, 0, 0, 0, 7, 1, 2]), "invalid_currency"), dead(42, None, "null_value")],
        ..ChangeBatch::default()
    };
    sink.apply(&batch).expect("delivered");
    let consumed = consume(&tansu.brokers(), "flowmart.dlq", 2, Duration::from_secs(30));
    assert_eq!(consumed.len(), 2);
    assert_eq!(consumed[0].key.as_deref(), Some(&b"acme-wholesale"[..]));
    assert_eq!(consumed[0].value, Some(vec![0, 0, 0, 0, 7, 1, 2]), "original bytes, unchanged");
    assert_eq!(consumed[1].value, None, "a null stays null");
    let headers = |index: usize| consumed[index].headers.clone();
    assert_eq!(
        headers(0),
        vec![
            ("error.kind".to_string(), "invalid_currency".to_string()),
            ("error.message".to_string(), "invalid_currency at 41".to_string()),
            ("source.topic".to_string(), "flowmart.payments".to_string()),
            ("source.partition".to_string(), "2".to_string()),
            ("source.offset".to_string(), "41".to_string()),
        ]
    );
    assert_eq!(headers(1)[0], ("error.kind".to_string(), "null_value".to_string()));
}

#[test]
fn alert_changes_are_published_as_registered_avro_keyed_by_tenant() {
    let tansu = Tansu::start();
    let registry = RegistryStub::start();
    create_topics(&tansu.brokers(), &[("flowmart.reorder-alerts", 2)]);
    let config = KafkaSinkConfig { brokers: tansu.brokers(), properties: Default::default() };
    let mut sink = AlertSink::new(&config, "flowmart.reorder-alerts", &registry.config(), Vec::new()).unwrap();
    let changes = vec![
        alert("SKU-1", ReorderAlertStatus::Opened, 4),
        alert("SKU-1", ReorderAlertStatus::Updated, 2),
        alert("SKU-2", ReorderAlertStatus::Resolved, 30),
    ];
    sink.apply(&alert_batch(7, changes.clone())).expect("delivered");
    sink.apply(&ChangeBatch { alerts_before: 10, ..ChangeBatch::default() }).expect("an empty batch is a no-op");
    let consumed = consume(&tansu.brokers(), "flowmart.reorder-alerts", 3, Duration::from_secs(30));
    assert_eq!(consumed.len(), 3, "each change once");
    assert_eq!(sequences(&consumed), vec![8, 9, 10], "numbered on from alerts_before");
    let registered = registry.latest_id("flowmart.reorder-alerts-value").unwrap();
    let mut decoded = consumed
        .iter()
        .map(|record| {
            assert_eq!(record.key.as_deref(), Some(&b"acme-wholesale"[..]));
            let (schema_id, body) = split_frame(record.value.as_deref().unwrap()).unwrap();
            assert_eq!(schema_id, registered, "framed with the registered schema id");
            decode::<ReorderAlert>(&WriterSchema::own::<ReorderAlert>(), body).unwrap()
        })
        .collect::<Vec<_>>();
    decoded.sort();
    let mut expected = changes;
    expected.sort();
    assert_eq!(decoded, expected);
}

/// The alert numbers in the records' headers, sorted.
fn sequences(consumed: &[flowmart_testkit::Consumed]) -> Vec<u64> {
    let mut sequences = consumed
        .iter()
        .map(|record| {
            let (_, value) = record.headers.iter().find(|(key, _)| key == SEQUENCE_HEADER).expect("a sequence header");
            value.parse::<u64>().expect("a number")
        })
        .collect::<Vec<_>>();
    sequences.sort_unstable();
    sequences
}

#[test]
fn a_restarted_alert_sink_publishes_only_the_unconfirmed_changes_missing_from_the_topic() {
    let tansu = Tansu::start();
    let registry = RegistryStub::start();
    create_topics(&tansu.brokers(), &[("flowmart.reorder-alerts", 3)]);
    let config = KafkaSinkConfig { brokers: tansu.brokers(), properties: Default::default() };
    let committed = (0..6).map(|n| alert(&format!("SKU-{n}"), ReorderAlertStatus::Opened, n)).collect::<Vec<_>>();
    // The first run publishes changes 1..=4 of the six its last batch committed, then dies.
    let mut first = AlertSink::new(&config, "flowmart.reorder-alerts", &registry.config(), Vec::new()).unwrap();
    first.apply(&alert_batch(0, committed[..4].to_vec())).expect("delivered");
    drop(first);
    // The restart holds all six in the outbox: it sends 5 and 6, then its own batch.
    let outbox = (1..).zip(committed.iter().cloned()).collect::<Vec<_>>();
    let mut restarted = AlertSink::new(&config, "flowmart.reorder-alerts", &registry.config(), outbox).unwrap();
    let next = alert("SKU-9", ReorderAlertStatus::Opened, 1);
    restarted.apply(&alert_batch(6, vec![next])).expect("delivered");
    let consumed = consume(&tansu.brokers(), "flowmart.reorder-alerts", 7, Duration::from_secs(30));
    assert_eq!(sequences(&consumed), (1..=7).collect::<Vec<_>>(), "every change once, none missing");
}
