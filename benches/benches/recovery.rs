//! Recovery from the database: the time from start to caught up for a pipeline whose Postgres
//! holds `POSITIONS` stock positions (default 1,000,000) — reading the stored state, then the
//! workers loading it into the operators, until the first frontier after it is published.
//!
//! `cargo bench -p flowmart-benches --bench recovery` prints e.g.
//! `1000000 positions: read 2.1 s, loaded and caught up 3.0 s, total 5.1 s`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flowmart_generator::{Generator, GeneratorConfig};
use flowmart_postgres::PostgresSink;
use flowmart_runtime::{Pipeline, RuntimeConfig};
use flowmart_runtime::{Sink, Topics};
use flowmart_schemas::PositionKey;
use flowmart_schemas::Retention;
use flowmart_schemas::StockLevels;
use flowmart_testkit::{TestDatabase, stock_batch};

/// Pipeline time of the stored results.
const AS_OF: u64 = 1_764_000_000_000;
const BATCH: usize = 200_000;

fn main() {
    let positions: usize = std::env::var("POSITIONS").ok().and_then(|text| text.parse().ok()).unwrap_or(1_000_000);
    let database = TestDatabase::create();
    let (mut sink, _) =
        PostgresSink::open(&database.url(), Topics::default(), Retention::default(), u64::MAX).expect("postgres");
    let stored = Instant::now();
    for (round, start) in (0..positions).step_by(BATCH).enumerate() {
        let stock = (start..(start + BATCH).min(positions))
            .map(|row| {
                let position = PositionKey::new(
                    format!("tenant-{:03}", row % 100),
                    format!("warehouse-{}", row % 7),
                    format!("SKU-{row:08}"),
                );
                let levels =
                    StockLevels { on_hand: row as i64 % 500, reserved: row as i64 % 40, on_order: 10, records: 3 };
                (position, Some(levels))
            })
            .collect();
        let upper = AS_OF - 10 + round as u64;
        sink.apply(&stock_batch(upper - 1, upper, stock)).expect("stored");
        eprintln!("stored {} positions", (start + BATCH).min(positions));
    }
    drop(sink);
    eprintln!("stored {positions} positions in {:.1} s", stored.elapsed().as_secs_f64());

    let started = Instant::now();
    let (sink, recovered) =
        PostgresSink::open(&database.url(), Topics::default(), Retention::default(), u64::MAX).expect("reopens");
    let read = started.elapsed();
    assert_eq!(recovered.resume.state.stock.len(), positions, "every position read back");
    let as_of = recovered.resume.as_of;
    let nothing_new = Generator::new(GeneratorConfig { max_records: Some(0), ..GeneratorConfig::default() });
    let pipeline = Pipeline::resume(
        RuntimeConfig { workers: 2, ..RuntimeConfig::default() },
        Arc::new(nothing_new),
        vec![Box::new(sink)],
        recovered.resume,
    )
    .expect("the pipeline starts");
    while pipeline.status().as_of() <= as_of {
        assert!(started.elapsed() < Duration::from_secs(600), "not caught up after 10 minutes");
        std::thread::sleep(Duration::from_millis(5));
    }
    let total = started.elapsed();
    pipeline.stop().expect("stops");
    println!(
        "{positions} positions: read {:.2} s, loaded and caught up {:.2} s, total {:.2} s",
        read.as_secs_f64(),
        (total - read).as_secs_f64(),
        total.as_secs_f64()
    );
}
