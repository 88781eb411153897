//! Postgres refusing a value the validator cannot know about (a CHECK constraint added to the
//! database): the sink finds the one refused change by splitting the batch, the pipeline rewinds
//! and dead-letters the one record behind it (`sink_rejected`, with the database's message), and
//! commits the rest exactly once; no dead letter goes out twice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flowmart_generator::{Generator, GeneratorConfig};
use flowmart_postgres::PostgresSink;
use flowmart_runtime::{
    ErrorClass, InputTopic, Pipeline, RuntimeConfig, Sink, Source, SourceProgress, SourceRecord, Topics,
};
use flowmart_schemas::{InputRecord, InventoryEvent, InventoryKind, PositionKey, Retention, StockLevels};
use flowmart_testkit::{
    CapturedBatches, FixedRecords, OCCURRED_AT, STOCK_ROWS_QUERY, TestDatabase, model_of, stock_batch, stock_rows,
};

/// A database whose `stock_levels` refuses the sku `FORBIDDEN`, and a sink open on it.
fn refusing_database() -> (TestDatabase, PostgresSink) {
    let database = TestDatabase::create();
    let (sink, _) = PostgresSink::open(&database.url(), Topics::default(), Retention::default(), u64::MAX)
        .expect("connects and migrates");
    database.rows("ALTER TABLE stock_levels ADD CONSTRAINT no_forbidden_sku CHECK (sku <> 'FORBIDDEN')");
    (database, sink)
}

fn levels(on_hand: i64) -> Option<StockLevels> {
    Some(StockLevels { on_hand, records: 1, ..StockLevels::default() })
}

#[test]
fn the_sink_splits_a_refused_batch_down_to_the_one_change_and_commits_nothing() {
    let (database, mut sink) = refusing_database();
    let mut stock =
        (0..64).map(|n| (PositionKey::new("acme", "berlin", format!("SKU-{n:02}")), levels(n))).collect::<Vec<_>>();
    stock.insert(41, (PositionKey::new("acme", "berlin", "FORBIDDEN"), levels(7)));
    let error = sink.apply(&stock_batch(0, 10, stock.clone())).expect_err("refused");
    assert_eq!(error.class, ErrorClass::Data);
    assert!(error.message.contains("no_forbidden_sku"), "{}", error.message);
    let refused = error.refused.iter().map(|refused| refused.change.stock.clone()).collect::<Vec<_>>();
    assert_eq!(refused, [vec![stock[41].clone()]], "exactly the refused change");
    assert!(error.refused[0].reason.contains("stock change") && error.refused[0].reason.contains("no_forbidden_sku"));
    assert_eq!(database.rows("SELECT count(*)::text FROM stock_levels"), [["0"]], "nothing committed");

    stock.remove(41);
    sink.apply(&stock_batch(0, 10, stock)).expect("the rest is taken");
    assert_eq!(database.rows("SELECT count(*)::text FROM stock_levels"), [["64"]]);
}

/// The generator's workload on three partitions, with one inventory record for sku `FORBIDDEN`
/// read in the middle of partition 1.
fn workload() -> (Vec<SourceRecord>, (InputTopic, u32, u64)) {
    let config = GeneratorConfig {
        seed: 5,
        tenants: 3,
        partitions: 3,
        skus_per_tenant: 20,
        records_per_second: None,
        max_records: Some(3_000),
        fault_ratio: 0.02,
        ..GeneratorConfig::default()
    };
    let mut records = Generator::new(config).records().collect::<Vec<_>>();
    let inventory_of_1 = |record: &SourceRecord| record.topic == InputTopic::Inventory && record.partition == 1;
    let middle = records.iter().filter(|record| inventory_of_1(record)).nth(200).expect("a busy partition").offset;
    let forbidden = InputRecord::Inventory(InventoryEvent {
        event_id: "forbidden".into(),
        tenant_id: "tenant-1".into(),
        warehouse_id: "berlin".into(),
        sku: "FORBIDDEN".into(),
        kind: InventoryKind::Received,
        quantity: 5,
        occurred_at: OCCURRED_AT,
        purchase_order_id: None,
    });
    // Shift the later records of that partition up by one offset, to make room.
    for record in records.iter_mut().filter(|record| inventory_of_1(record) && record.offset > middle) {
        record.offset += 1;
    }
    let position = records.iter().position(|record| inventory_of_1(record) && record.offset == middle + 2);
    let at = position.unwrap_or(records.len());
    let record = SourceRecord {
        topic: InputTopic::Inventory,
        partition: 1,
        offset: middle + 1,
        key: Some(b"tenant-1".to_vec()),
        raw_value: Some(b"the forbidden record's bytes".to_vec()),
        decoded: Ok(forbidden),
    };
    records.insert(at, record);
    (records, (InputTopic::Inventory, 1, middle + 1))
}

#[test]
fn the_record_behind_a_refused_row_is_dead_lettered_and_the_rest_committed_exactly_once() {
    let (database, sink) = refusing_database();
    let (records, forbidden) = workload();
    let mut expected_progress = SourceProgress::default();
    for record in &records {
        expected_progress.consumed(record.topic, record.partition, record.offset);
    }
    let source = Arc::new(FixedRecords::new(records.clone()));
    let dead_letters = CapturedBatches::default();
    let pipeline = Pipeline::start(
        RuntimeConfig { workers: 2, ..RuntimeConfig::default() },
        Arc::clone(&source) as Arc<dyn Source>,
        vec![Box::new(dead_letters.clone()), Box::new(sink)],
    )
    .expect("starts");
    let topics = Topics::default();
    let mut expected_rows = expected_progress
        .iter()
        .map(|(topic, partition, next)| vec![topics.name(topic).to_string(), partition.to_string(), next.to_string()])
        .collect::<Vec<_>>();
    expected_rows.sort();
    let deadline = Instant::now() + Duration::from_secs(120);
    while database.rows("SELECT topic, partition::text, next_offset::text FROM pipeline_progress ORDER BY 1, 2")
        != expected_rows
    {
        assert!(Instant::now() < deadline, "postgres did not catch up: {:?}", pipeline.status().unhealthy());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(pipeline.status().unhealthy(), None, "healthy once past the refused record");
    pipeline.stop().expect("stops");
    assert!(source.rewinds() > 0, "the pipeline rewound");

    let dead_letters = dead_letters.dead_letters();
    let mut positions = dead_letters.iter().map(|dead| (dead.topic, dead.partition, dead.offset)).collect::<Vec<_>>();
    positions.sort();
    positions.dedup();
    assert_eq!(positions.len(), dead_letters.len(), "no dead letter twice, though the pipeline read again");
    assert!(dead_letters.len() > 10, "the workload's faulty records too: {}", dead_letters.len());
    let rejected = dead_letters.iter().filter(|dead| dead.kind == "sink_rejected").cloned().collect::<Vec<_>>();
    assert_eq!(rejected.len(), 1, "the refused record is dead-lettered, once: {rejected:?}");
    for dead in &rejected {
        assert_eq!((dead.topic, dead.partition, dead.offset), forbidden, "only the refused record");
        assert_eq!(dead.value.as_deref(), Some(&b"the forbidden record's bytes"[..]));
        assert!(
            dead.message.contains("postgres refused") && dead.message.contains("no_forbidden_sku"),
            "{}",
            dead.message
        );
    }
    // Exactly once: the tables hold the model of every record but the refused one.
    let kept = records.into_iter().filter(|record| (record.topic, record.partition, record.offset) != forbidden);
    let model = model_of(kept.map(|record| record.decoded.expect("generated")));
    assert_eq!(database.rows(STOCK_ROWS_QUERY), stock_rows(&model));
}
