//! A record whose results a sink refuses (its database will not store a value the validator
//! cannot know about) is dead-lettered (`sink_rejected`, with the sink's reason) once the pipeline
//! has rewound to what the sink stored, and the sink takes the rest: exactly once, on any number
//! of workers, the results equal to the reference model of every record but the refused ones.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flowmart_runtime::{
    ChangeBatch, DeadLetter, ErrorClass, InputTopic, Pipeline, RefusedChange, Resume, RuntimeConfig, Sink, SinkError,
    Source, SourceProgress, SourceRecord,
};
use flowmart_schemas::{
    InputRecord, InventoryEvent, InventoryKind, NetChanges, Outputs, PositionKey, SeenEventId, StockLevels, StoredState,
};
use flowmart_testkit::{FixedRecords, OCCURRED_AT, model_of};

/// What the table sink committed.
#[derive(Default)]
struct Committed {
    stock: BTreeMap<PositionKey, StockLevels>,
    inventory_ids: Vec<SeenEventId>,
    as_of: u64,
    dead_letters: Vec<DeadLetter>,
    progress: SourceProgress,
    /// Every batch's `(lower, upper)`, in the order taken.
    spans: Vec<(u64, u64)>,
    refusals: usize,
}

/// A stock table with a check constraint: no sku `FORBIDDEN`, no `on_hand` above 100. Like a
/// database, it takes a batch whole or refuses it, naming the changes it refuses.
#[derive(Clone, Default)]
struct CheckedTable(Arc<Mutex<Committed>>);

impl Sink for CheckedTable {
    fn name(&self) -> &'static str {
        "checked-table"
    }

    fn stores_recovery_state(&self) -> bool {
        true
    }

    fn stored(&mut self) -> Option<Result<Resume, SinkError>> {
        let committed = self.0.lock().unwrap();
        let state = Outputs::<StoredState> {
            stock: committed.stock.clone().into_iter().collect(),
            inventory_ids: committed.inventory_ids.clone(),
            ..Outputs::default()
        };
        let progress = committed.progress.clone();
        Some(Ok(Resume { as_of: committed.as_of, state, progress, alerts_before: 0 }))
    }

    fn apply(&mut self, batch: &ChangeBatch) -> Result<(), SinkError> {
        let mut committed = self.0.lock().unwrap();
        let refused = batch
            .changes
            .stock
            .iter()
            .filter(|(position, levels)| {
                levels.is_some_and(|levels| position.sku == "FORBIDDEN" || levels.on_hand > 100)
            })
            .map(|change| {
                let mut one = Outputs::<NetChanges>::default();
                one.stock.push(change.clone());
                RefusedChange { change: one, reason: "violates check constraint \"stock_check\"".into() }
            })
            .collect::<Vec<_>>();
        if !refused.is_empty() {
            committed.refusals += 1;
            return Err(SinkError { refused, ..SinkError::new("checked-table", ErrorClass::Data, "check constraint") });
        }
        for (position, levels) in &batch.changes.stock {
            match levels {
                Some(levels) => committed.stock.insert(position.clone(), *levels),
                None => committed.stock.remove(position),
            };
        }
        committed.inventory_ids.extend(batch.changes.inventory_ids.iter().cloned());
        committed.dead_letters.extend(batch.dead_letters.iter().cloned());
        committed.progress = batch.progress.clone();
        committed.as_of = batch.upper;
        committed.spans.push((batch.lower, batch.upper));
        Ok(())
    }
}

fn received(tenant: &str, sku: &str, offset: u64, quantity: i64) -> InputRecord {
    InputRecord::Inventory(InventoryEvent {
        event_id: format!("{tenant}-{offset}").into(),
        tenant_id: tenant.into(),
        warehouse_id: "berlin".into(),
        sku: sku.into(),
        kind: InventoryKind::Received,
        quantity,
        occurred_at: OCCURRED_AT,
        purchase_order_id: None,
    })
}

/// Records over four partitions and two tenants: `FORBIDDEN` twice (both refused: the row can
/// never be stored), and acme's `SKU-1` receiving 40 four times (the latest read that the table
/// refuses goes; 40 + 40 stays).
fn records() -> Vec<SourceRecord> {
    let mut records = Vec::new();
    let mut add = |partition: u32, tenant: &str, sku: &str, quantity: i64| {
        let offset = records.len() as u64;
        let record = received(tenant, sku, offset, quantity);
        let raw_value = Some(format!("bytes {offset}").into_bytes());
        records.push(SourceRecord {
            topic: InputTopic::Inventory,
            partition,
            offset,
            key: Some(tenant.as_bytes().to_vec()),
            raw_value,
            decoded: Ok(record),
        });
    };
    for round in 0..3 {
        add(round, "globex", "SKU-2", 7);
        add(3, "acme", "SKU-1", 40);
    }
    add(1, "acme", "FORBIDDEN", 1);
    add(2, "globex", "FORBIDDEN", 2);
    add(0, "globex", "SKU-3", 9);
    records
}

fn run(workers: usize) -> Committed {
    let records = records();
    let mut expected = SourceProgress::default();
    for record in &records {
        expected.consumed(record.topic, record.partition, record.offset);
    }
    let table = CheckedTable::default();
    let source = Arc::new(FixedRecords::new(records));
    let pipeline = Pipeline::start(
        RuntimeConfig { workers, ..RuntimeConfig::default() },
        Arc::clone(&source) as Arc<dyn Source>,
        vec![Box::new(table.clone())],
    )
    .expect("starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while table.0.lock().unwrap().progress != expected {
        assert!(
            Instant::now() < deadline,
            "the pipeline did not commit every record: {:?}",
            pipeline.status().unhealthy()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    pipeline.stop().expect("stops");
    assert!(source.rewinds() > 0, "the pipeline rewound");
    std::mem::take(&mut *table.0.lock().unwrap())
}

#[test]
fn records_behind_refused_changes_are_dead_lettered_and_the_rest_committed_exactly_once() {
    for workers in [1, 3] {
        let committed = run(workers);
        let mut dead = committed.dead_letters.iter().map(|dead| (dead.offset, &*dead.kind)).collect::<Vec<_>>();
        dead.sort();
        // Offsets: acme's SKU-1 at 1, 3, 5; FORBIDDEN at 6 and 7.
        assert_eq!(dead, [(5, "sink_rejected"), (6, "sink_rejected"), (7, "sink_rejected")], "{workers} workers");
        for dead in &committed.dead_letters {
            assert_eq!(dead.value, Some(format!("bytes {}", dead.offset).into_bytes()), "original bytes");
            assert!(
                dead.message.contains("checked-table refused") && dead.message.contains("stock_check"),
                "{}",
                dead.message
            );
        }
        assert!(committed.refusals > 0, "the table refused a batch");

        // The independent reference: every record but the dead-lettered ones, in read order.
        let refused_offsets = committed.dead_letters.iter().map(|dead| dead.offset).collect::<Vec<_>>();
        let kept = records()
            .into_iter()
            .filter(|record| !refused_offsets.contains(&record.offset))
            .map(|record| record.decoded.expect("decoded"));
        assert_eq!(committed.stock, model_of(kept).stock(), "{workers} workers");
        assert_eq!(committed.stock[&PositionKey::new("acme", "berlin", "SKU-1")].on_hand, 80);

        // Exactly once: the spans taken tile time without gap or overlap.
        for pair in committed.spans.windows(2) {
            assert_eq!(pair[0].1, pair[1].0, "{workers} workers: spans {:?}", committed.spans);
        }
    }
}
