//! The Postgres sink's commit of a large batch (COPY into a staging table, then upserts into
//! `stock_levels` and the recovery counts, one transaction, with offsets) — without lineage and
//! with it (one `stock_history` row per row change, appended with COPY in the same transaction) —
//! against a raw `COPY` of the same rows into a table of the same shape, alternating, in one run;
//! then the history query of one position holding 10,000 lineage rows (the history route's
//! query, a page of 1,000 from a random point), its p50 and p99.
//!
//! `cargo bench -p flowmart-benches --bench postgres_sink` (`ROWS`, default 200,000). Prints per
//! round and the medians, e.g. `median: sink 250000 row changes/s, with lineage 220000 (0.88×),
//! raw COPY 600000 rows/s, ratio 0.42`.

use std::time::{Duration, Instant};

use flowmart_api::Store;
use flowmart_api::history::HistoryPage;
use flowmart_postgres::PostgresSink;
use flowmart_runtime::{ChangeBatch, InputTopic, Sink, Topics};
use flowmart_schemas::{
    InventoryKind, PositionKey, RecordSource, Retention, StockChangeKind, StockHistoryRow, StockLevels, Time,
};
use flowmart_testkit::{TestDatabase, stock_batch};
use sqlx::{Connection, PgConnection};

/// A pipeline time on 2026-11-30, so the rows land in that day's partition.
const PIPELINE_TIME: Time = 1_764_460_800_000 + 365 * 86_400_000;

fn batch(rows: usize, round: i64) -> ChangeBatch {
    let stock = (0..rows)
        .map(|row| {
            let position = PositionKey::new(
                format!("tenant-{:03}", row % 100),
                format!("warehouse-{}", row % 7),
                format!("SKU-{row:07}"),
            );
            // Every level and the record count change each round: the sink's worst case.
            let levels = StockLevels {
                on_hand: round + row as i64 % 500,
                reserved: row as i64 % 40,
                on_order: 10,
                records: 1 + round,
            };
            (position, Some(levels))
        })
        .collect();
    stock_batch(PIPELINE_TIME + round as u64, PIPELINE_TIME + 1 + round as u64, stock)
}

/// One lineage row per row change of `batch`: an inventory event each.
fn with_lineage(mut batch: ChangeBatch) -> ChangeBatch {
    let applied_at = batch.lower;
    batch.changes.stock_history = batch
        .changes
        .stock
        .iter()
        .enumerate()
        .map(|(at, (position, _))| history_row(position.clone(), applied_at, at as u64))
        .collect();
    batch
}

fn history_row(position: PositionKey, applied_at: Time, offset: u64) -> StockHistoryRow {
    StockHistoryRow {
        applied_at,
        source: RecordSource { topic: InputTopic::Inventory, partition: (offset % 12) as u32, offset },
        position,
        event_id: format!("evt-{applied_at}-{offset}").into(),
        kind: StockChangeKind::Inventory(InventoryKind::Received),
        on_hand_delta: 1,
        reserved_delta: 0,
        on_order_delta: 0,
        occurred_at: 1_764_000_000_000,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn rate(rows: usize, sink: &mut PostgresSink, batch: &ChangeBatch) -> f64 {
    let started = Instant::now();
    sink.apply(batch).expect("committed");
    rows as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let rows: usize = std::env::var("ROWS").ok().and_then(|text| text.parse().ok()).unwrap_or(200_000);
    let database = TestDatabase::create();
    let (mut sink, _) =
        PostgresSink::open(&database.url(), Topics::default(), Retention::default(), u64::MAX).expect("postgres");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut copy_connection = runtime.block_on(PgConnection::connect(&database.url())).unwrap();
    runtime
        .block_on(
            sqlx::query("CREATE TABLE stock_copy (LIKE stock_levels INCLUDING ALL)").execute(&mut copy_connection),
        )
        .unwrap();
    let (mut sink_rates, mut lineage_rates, mut copy_rates) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..3 {
        // The sink: upserts into a table that already holds the rows (round 0 inserts), with
        // offsets; then the same with one lineage row per change.
        let plain = batch(rows, 2 * round);
        let sink_rate = rate(rows, &mut sink, &plain);
        let lineage_rate = rate(rows, &mut sink, &with_lineage(batch(rows, 2 * round + 1)));

        // Raw COPY of the same rows into an empty table of the same shape.
        let mut csv = String::with_capacity(rows * 64);
        for (position, levels) in &plain.changes.stock {
            let levels = levels.expect("upserts");
            csv.push_str(&format!(
                "{},{},{},{},{},{},{},{}\n",
                position.tenant_id,
                position.warehouse_id,
                position.sku,
                levels.on_hand,
                levels.reserved,
                levels.on_order,
                levels.available(),
                levels.projected()
            ));
        }
        runtime.block_on(sqlx::query("TRUNCATE stock_copy").execute(&mut copy_connection)).unwrap();
        let started = Instant::now();
        runtime.block_on(async {
            let mut copy = copy_connection.copy_in_raw("COPY stock_copy FROM STDIN (FORMAT csv)").await.unwrap();
            copy.send(csv.as_bytes()).await.unwrap();
            copy.finish().await.unwrap();
        });
        let copy_rate = rows as f64 / started.elapsed().as_secs_f64();
        println!(
            "round {round}: sink {sink_rate:.0} row changes/s, with lineage {lineage_rate:.0} ({:.2}×), \
             raw COPY {copy_rate:.0} rows/s, ratio {:.2}",
            lineage_rate / sink_rate,
            sink_rate / copy_rate
        );
        sink_rates.push(sink_rate);
        lineage_rates.push(lineage_rate);
        copy_rates.push(copy_rate);
    }
    let (sink_rate, lineage_rate, copy_rate) = (median(sink_rates), median(lineage_rates), median(copy_rates));
    println!(
        "median: sink {sink_rate:.0} row changes/s, with lineage {lineage_rate:.0} ({:.2}×), raw COPY {copy_rate:.0} \
         rows/s, ratio {:.2}",
        lineage_rate / sink_rate,
        sink_rate / copy_rate
    );
    history_query(&mut sink, &database.url(), &runtime);
}

/// Gives one position 10,000 lineage rows (100 batches of 100, among the other positions' rows),
/// then times the history route's query of a page of it from random cursors.
fn history_query(sink: &mut PostgresSink, url: &str, runtime: &tokio::runtime::Runtime) {
    let position = PositionKey::new("tenant-hot", "warehouse-0", "SKU-HOT");
    let first = PIPELINE_TIME + 1_000;
    for step in 0..100u64 {
        let time = first + step;
        let mut batch = stock_batch(time, time + 1, Vec::new());
        batch.changes.stock_history = (0..2_000u64)
            .map(|row| {
                let at = if row % 20 == 0 {
                    position.clone()
                } else {
                    PositionKey::new("tenant-hot", "warehouse-1", format!("SKU-{:05}", row % 500))
                };
                history_row(at, time, step * 2_000 + row)
            })
            .collect();
        sink.apply(&batch).expect("committed");
    }
    let store = runtime.block_on(Store::open(url)).expect("the api's store");
    let mut connection = runtime.block_on(PgConnection::connect(url)).expect("a connection");
    runtime.block_on(sqlx::query("ANALYZE").execute(&mut connection)).expect("analyzed");
    let mut latencies = Vec::new();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..2_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let from_step = seed % 100;
        let page = HistoryPage { from: Some((first + from_step) as i64), to: None, after: None, limit: 1_001 };
        let started = Instant::now();
        let (_, rows) =
            runtime.block_on(store.stock_history("tenant-hot", "warehouse-0", "SKU-HOT", &page)).expect("the history");
        latencies.push(started.elapsed());
        assert_eq!(rows.len(), ((100 - from_step) as usize * 100).min(1_001), "the page from step {from_step}");
    }
    latencies.sort();
    let at = |quantile: f64| latencies[((latencies.len() as f64 * quantile) as usize).min(latencies.len() - 1)];
    let ms = |latency: Duration| latency.as_secs_f64() * 1_000.0;
    println!(
        "history of a position with 10000 rows, pages of 1000: p50 {:.2} ms, p99 {:.2} ms",
        ms(at(0.5)),
        ms(at(0.99))
    );
}
