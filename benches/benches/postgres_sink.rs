//! The Postgres sink's commit of a large batch (COPY into a staging table, then upserts into
//! `stock_levels` and the recovery counts, one transaction, with offsets) against a raw `COPY` of
//! the same rows into a table of the same shape, alternating, in one run.
//!
//! `cargo bench -p flowmart-benches --bench postgres_sink` (`ROWS`, default 200,000). Prints
//! per round and the medians, e.g. `median: sink 250000 rows/s, raw COPY 600000 rows/s, ratio 0.42`.

use std::time::Instant;

use flowmart_postgres::PostgresSink;
use flowmart_runtime::{ChangeBatch, Sink, Topics};
use flowmart_schemas::PositionKey;
use flowmart_schemas::Retention;
use flowmart_schemas::StockLevels;
use flowmart_testkit::{TestDatabase, stock_batch};
use sqlx::{Connection, PgConnection};

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
    stock_batch(0, 1 + round as u64, stock)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
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
    let (mut sink_rates, mut copy_rates) = (Vec::new(), Vec::new());
    for round in 0..3 {
        // The sink: upserts into a table that already holds the rows (round 0 inserts), with offsets.
        let changes = batch(rows, round);
        let started = Instant::now();
        sink.apply(&changes).expect("committed");
        let sink_rate = rows as f64 / started.elapsed().as_secs_f64();

        // Raw COPY of the same rows into an empty table of the same shape.
        let mut csv = String::with_capacity(rows * 64);
        for (position, levels) in &changes.changes.stock {
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
            "round {round}: sink {sink_rate:.0} row changes/s, raw COPY {copy_rate:.0} rows/s, ratio {:.2}",
            sink_rate / copy_rate
        );
        sink_rates.push(sink_rate);
        copy_rates.push(copy_rate);
    }
    let (sink_rate, copy_rate) = (median(sink_rates), median(copy_rates));
    println!(
        "median: sink {sink_rate:.0} row changes/s, raw COPY {copy_rate:.0} rows/s, ratio {:.2}",
        sink_rate / copy_rate
    );
}
