//! The memory one remembered event id costs: the inventory dedupe (`dedupe_by_event_id`, one
//! timely worker, the default 7-day retention) filled with `IDS` distinct event ids (default
//! 5,000,000), shaped like the generator's (`evt-{partition}-{sequence}`): six tenants of uneven
//! size (40/25/15/10/6/4%) keyed onto 4 partitions. They arrive 4,096 per pipeline time (the
//! runtime's poll batch), the times spread over the retention less one batch, so every id is still
//! remembered at the end and the state has the shape of a warm window. Records are made as they
//! are fed and dropped once past the dedupe, so what the process keeps is the dedupe's state.
//!
//! `cargo bench -p flowmart-benches --bench dedupe_memory` prints e.g.
//! `5000000 ids: RSS 12.1 MiB -> 140.3 MiB, 26.9 bytes per id; 1.10 M ids/s`.

use std::time::Instant;

use differential_dataflow::input::Input;
use flowmart_benches::memory::{rss, skewed_tenant};
use flowmart_operators::dedupe::DedupeByEventId;
use flowmart_operators::recovery::stored_collections;
use flowmart_operators::{SourceOffset, Sourced, Time};
use flowmart_schemas::{Id, InventoryEvent, InventoryKind, Outputs, Retention};
use timely::dataflow::ProbeHandle;

/// Ids fed per pipeline time.
const BATCH: u64 = 4096;
const PARTITIONS: u64 = 4;
/// The first pipeline time fed.
const START: Time = 1_764_000_000_000;

fn main() {
    let ids: u64 = std::env::var("IDS").ok().and_then(|text| text.parse().ok()).unwrap_or(5_000_000);
    let retention = Retention::default().event_ids_ms.expect("the default retention is finite");
    let batches = ids.div_ceil(BATCH);
    let step = (retention - 1) / batches.max(1);
    let (before, after, elapsed) = timely::execute_directly(move |worker| {
        let probe = ProbeHandle::new();
        let mut input = worker.dataflow::<Time, _, _>(|scope| {
            let (input, events) = scope.new_collection::<Sourced<InventoryEvent>, isize>();
            let nothing_recovered = stored_collections(scope, &Outputs::default(), 0, 0, 1);
            events.dedupe_by_event_id(nothing_recovered.inventory_ids, Some(retention)).records.probe_with(&probe);
            input
        });
        let before = rss();
        let started = Instant::now();
        let mut sequences = [0u64; PARTITIONS as usize];
        for batch in 0..batches {
            let time = START + batch * step;
            input.advance_to(time);
            for index in batch * BATCH..((batch + 1) * BATCH).min(ids) {
                let tenant = skewed_tenant(index);
                let partition = tenant as u64 % PARTITIONS;
                let sequence = &mut sequences[partition as usize];
                *sequence += 1;
                let event = InventoryEvent {
                    event_id: Id::from(format!("evt-{partition}-{sequence}")),
                    tenant_id: Id::from(format!("tenant-{tenant}")),
                    warehouse_id: Id::from("rotterdam"),
                    sku: Id::from("SKU-00001"),
                    kind: InventoryKind::Received,
                    quantity: 1,
                    occurred_at: time as i64,
                    purchase_order_id: None,
                };
                let offset = SourceOffset { partition: partition as u32, offset: *sequence };
                input.insert(Sourced { offset, event });
            }
            input.advance_to(time + 1);
            input.flush();
            while probe.less_than(&(time + 1)) {
                worker.step();
            }
        }
        (before, rss(), started.elapsed())
    });
    println!(
        "{ids} ids: RSS {:.1} MiB -> {:.1} MiB, {:.1} bytes per id; {:.2} M ids/s",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        after.saturating_sub(before) as f64 / ids as f64,
        ids as f64 / elapsed.as_secs_f64() / 1e6,
    );
}
