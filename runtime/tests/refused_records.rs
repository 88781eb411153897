//! A record the dataflow refuses — its effect would take an aggregate out of the signed 64-bit
//! range — reaches every sink as a dead letter like any other: its original key and value bytes,
//! its source position, `aggregate_out_of_range` and a message naming the aggregate and key;
//! counted once, on any number of workers, and the results go on without it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use differential_dataflow::Hashable;
use flowmart_runtime::{ChangeBatch, DeadLetter, InputTopic, Pipeline, RuntimeConfig, SourceProgress, SourceRecord};
use flowmart_schemas::{
    Id, InputRecord, InventoryEvent, InventoryKind, MAX_ABS_VALUE, OrderEvent, OrderLine, OrderStatus, PositionKey,
    StockLevels,
};
use flowmart_testkit::{CapturedBatches, FixedRecords, OCCURRED_AT};

fn source_record(topic: InputTopic, partition: u32, offset: u64, record: InputRecord) -> SourceRecord {
    let key = record.tenant_id().as_bytes().to_vec();
    // Bytes the dataflow never sees, so a dead letter with them came from the worker that read it.
    let raw_value = format!("raw bytes of {topic:?} {partition}/{offset}").into_bytes();
    SourceRecord { topic, partition, offset, key: Some(key), raw_value: Some(raw_value), decoded: Ok(record) }
}

fn damaged(event_id: &str, quantity: i64) -> InputRecord {
    InputRecord::Inventory(InventoryEvent {
        event_id: event_id.into(),
        tenant_id: "acme".into(),
        warehouse_id: "berlin".into(),
        sku: "SKU-1".into(),
        kind: InventoryKind::Damaged,
        quantity,
        occurred_at: OCCURRED_AT,
        purchase_order_id: None,
    })
}

/// Ships `i64::MAX - 4` units of acme's `SKU-1`: on_hand is then `i64::MIN + 5`.
fn shipped() -> InputRecord {
    let full = (i64::MAX - 4) / MAX_ABS_VALUE;
    let mut quantities = vec![MAX_ABS_VALUE; full as usize];
    quantities.push(i64::MAX - 4 - full * MAX_ABS_VALUE);
    let line =
        |quantity| OrderLine { sku: "SKU-1".into(), warehouse_id: "berlin".into(), quantity, unit_price_minor: 1 };
    InputRecord::Order(OrderEvent {
        event_id: "o-1".into(),
        tenant_id: "acme".into(),
        order_id: "o-1".into(),
        buyer_id: "b".into(),
        version: 1,
        status: OrderStatus::Shipped,
        lines: quantities.into_iter().map(line).collect(),
        currency: "EUR".into(),
        occurred_at: OCCURRED_AT,
    })
}

fn run(workers: usize) -> (Vec<DeadLetter>, Vec<ChangeBatch>, u64) {
    // The partition that a worker other than the one keeping acme's stock reads (with more than
    // one worker), so the refusal must travel back to the reader.
    let stock_worker = Id::from("acme").hashed() % workers as u64;
    let partition = ((stock_worker + 1) % workers as u64) as u32;
    // Records read at one pipeline time are applied by partition, offset, then topic: the order
    // at offset 0 comes first.
    let records = vec![
        source_record(InputTopic::Orders, partition, 0, shipped()),
        source_record(InputTopic::Inventory, partition, 1, damaged("e-1", 10)),
        source_record(InputTopic::Inventory, partition, 2, damaged("e-2", 5)),
        source_record(InputTopic::Inventory, partition, 3, damaged("e-3", 1)),
    ];
    let mut expected = SourceProgress::default();
    for record in &records {
        expected.consumed(record.topic, record.partition, record.offset);
    }
    let batches = CapturedBatches::default();
    let pipeline = Pipeline::start(
        RuntimeConfig { workers, ..RuntimeConfig::default() },
        Arc::new(FixedRecords::new(records)),
        vec![Box::new(batches.clone())],
    )
    .expect("starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while batches.batches().last().is_none_or(|batch| batch.progress != expected) {
        assert!(Instant::now() < deadline, "the pipeline did not read every record");
        std::thread::sleep(Duration::from_millis(10));
    }
    let dead_letters_counted = pipeline.status().dead_letters();
    pipeline.stop().expect("stops");
    let batches = batches.batches();
    let dead_letters = batches.iter().flat_map(|batch| batch.dead_letters.clone()).collect();
    (dead_letters, batches, dead_letters_counted)
}

#[test]
fn a_refused_record_reaches_the_sinks_as_a_dead_letter_with_its_original_bytes_on_any_number_of_workers() {
    for workers in [1, 3] {
        let (dead_letters, batches, counted) = run(workers);
        let partition = dead_letters.first().map(|dead| dead.partition);
        let dead = |offset: u64| DeadLetter {
            topic: InputTopic::Inventory,
            partition: partition.expect("some"),
            offset,
            key: Some(b"acme".to_vec()),
            value: Some(format!("raw bytes of Inventory {}/{offset}", partition.expect("some")).into_bytes()),
            kind: "aggregate_out_of_range".into(),
            message: "on_hand of position acme/berlin/SKU-1 would leave the signed 64-bit range".into(),
        };
        assert_eq!(dead_letters, vec![dead(1), dead(3)], "{workers} workers");
        assert_eq!(counted, 2, "counted as dead letters, once each");
        assert!(batches.iter().all(|batch| batch.changes.refused.is_empty()), "they reach sinks as dead letters only");
        // The results go on without them: MIN + 5 - 5.
        let stock = batches.iter().flat_map(|batch| batch.changes.stock.clone()).collect::<Vec<_>>();
        let last = stock.iter().rev().find(|(position, _)| *position == PositionKey::new("acme", "berlin", "SKU-1"));
        let levels = last.and_then(|(_, levels)| *levels);
        assert_eq!(levels.map(|levels: StockLevels| levels.on_hand), Some(i64::MIN), "{workers} workers");
    }
}
