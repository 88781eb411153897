//! The lineage tables against the real Postgres server: appended once per batch even when a batch
//! is applied again, append-only, one partition per day of pipeline time, and expired partitions
//! dropped whole.

use flowmart_postgres::PostgresSink;
use flowmart_runtime::{ChangeBatch, InputTopic, Sink, Topics};
use flowmart_schemas::{
    Currency, InventoryKind, PaymentKind, PositionKey, RecordSource, Retention, SettlementDate, SettlementHistoryRow,
    SettlementKey, StockChangeKind, StockHistoryRow, Time,
};
use flowmart_testkit::TestDatabase;

const DAY_MS: Time = 86_400_000;
/// 2026-11-30T00:00:00Z.
const DAY_ONE: Time = 1_796_000_000_000 - 1_796_000_000_000 % DAY_MS;

fn stock_row(applied_at: Time, offset: u64, on_hand_delta: i128) -> StockHistoryRow {
    StockHistoryRow {
        applied_at,
        source: RecordSource { topic: InputTopic::Inventory, partition: 1, offset },
        position: PositionKey::new("acme", "berlin", "SKU-1"),
        event_id: format!("inv-{offset}").into(),
        kind: StockChangeKind::Inventory(InventoryKind::Adjusted),
        on_hand_delta,
        reserved_delta: 0,
        on_order_delta: 0,
        occurred_at: 1_764_000_000_000,
    }
}

fn payment_row(applied_at: Time, offset: u64) -> SettlementHistoryRow {
    SettlementHistoryRow {
        applied_at,
        source: RecordSource { topic: InputTopic::Payments, partition: 0, offset },
        settlement: SettlementKey {
            tenant_id: "acme".into(),
            currency: Currency::parse("EUR").unwrap(),
            settlement_date: SettlementDate::of(1_764_000_000_000),
        },
        event_id: format!("pay-{offset}").into(),
        kind: PaymentKind::Captured,
        amount_minor: 250,
        occurred_at: 1_764_000_000_000,
    }
}

/// A batch `[lower, lower + 1)` holding one stock and one settlement lineage row.
fn batch(lower: Time, offset: u64) -> ChangeBatch {
    let mut batch = ChangeBatch { lower, upper: lower + 1, ..ChangeBatch::default() };
    batch.changes.stock_history.push(stock_row(lower, offset, 5));
    batch.changes.settlement_history.push(payment_row(lower, offset));
    batch
}

fn open(database: &TestDatabase, retention: Retention) -> PostgresSink {
    PostgresSink::open(&database.url(), Topics::default(), retention, u64::MAX).expect("connects and migrates").0
}

fn count(database: &TestDatabase, table: &str) -> String {
    database.rows(&format!("SELECT count(*)::text FROM {table}"))[0][0].clone()
}

#[test]
fn a_batch_applied_again_after_its_commit_appends_its_lineage_once() {
    let database = TestDatabase::create();
    let mut sink = open(&database, Retention::default());
    let first = batch(DAY_ONE, 7);
    sink.apply(&first).expect("committed");
    // The commit's outcome unknown to the runtime: it hands the same batch over again.
    sink.apply(&first).expect("committed again");
    sink.apply(&batch(DAY_ONE + 1, 8)).expect("the next batch");
    let rows = database.rows(
        "SELECT tenant_id, warehouse_id, sku, event_id, topic, partition::text, \"offset\"::text, kind,
                on_hand_delta::text, reserved_delta::text, on_order_delta::text, occurred_at::text,
                applied_at::text, applied_day::text
         FROM stock_history ORDER BY \"offset\"",
    );
    let expected = |offset: u64, applied_at: Time| {
        [
            "acme",
            "berlin",
            "SKU-1",
            &format!("inv-{offset}"),
            "flowmart.inventory",
            "1",
            &offset.to_string(),
            "ADJUSTED",
            "5",
            "0",
            "0",
            "1764000000000",
            &applied_at.to_string(),
            "2026-11-30",
        ]
        .map(String::from)
        .to_vec()
    };
    assert_eq!(rows, vec![expected(7, DAY_ONE), expected(8, DAY_ONE + 1)]);
    let payments = database
        .rows("SELECT currency, settlement_date::text, topic, kind, amount_minor::text FROM settlement_history");
    let payment = ["EUR", "2025-11-24", "flowmart.payments", "CAPTURED", "250"].map(String::from).to_vec();
    assert_eq!(payments, vec![payment.clone(), payment]);
}

#[test]
fn history_refuses_update_and_delete_and_gives_up_only_whole_partitions() {
    let database = TestDatabase::create();
    let mut sink = open(&database, Retention::default());
    sink.apply(&batch(DAY_ONE, 1)).expect("committed");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut connection =
        runtime.block_on(<sqlx::PgConnection as sqlx::Connection>::connect(&database.url())).expect("connects");
    for statement in [
        "UPDATE stock_history SET on_hand_delta = 6",
        "DELETE FROM stock_history",
        "UPDATE settlement_history SET amount_minor = 1",
        "DELETE FROM settlement_history WHERE true",
        "DELETE FROM stock_history_20261130",
    ] {
        let refused = runtime.block_on(sqlx::raw_sql(statement).execute(&mut connection)).expect_err(statement);
        assert!(refused.to_string().contains("append-only"), "{statement}: {refused}");
    }
    assert_eq!((count(&database, "stock_history"), count(&database, "settlement_history")), ("1".into(), "1".into()));
    runtime.block_on(sqlx::raw_sql("DROP TABLE stock_history_20261130").execute(&mut connection)).expect("dropped");
    assert_eq!(count(&database, "stock_history"), "0");
}

#[test]
fn expired_days_of_history_are_dropped_whole_when_a_new_day_starts_and_at_open() {
    let database = TestDatabase::create();
    let three_days = Retention { history_ms: Some(3 * DAY_MS), ..Retention::default() };
    let mut sink = open(&database, three_days);
    for (day, offset) in [(0, 1), (1, 2), (2, 3), (4, 4)] {
        sink.apply(&batch(DAY_ONE + day * DAY_MS + 10, offset)).expect("committed");
    }
    let partitions = |table: &str| {
        database.rows(&format!(
            "SELECT child.relname::text FROM pg_inherits JOIN pg_class child ON child.oid = inhrelid
             WHERE inhparent = '{table}'::regclass ORDER BY 1"
        ))
    };
    let names = |table: &str, days: &[&str]| days.iter().map(|day| vec![format!("{table}_{day}")]).collect::<Vec<_>>();
    // At day 4 + 10 ms, day 0 ended 3 days and 10 ms ago (past the retention), day 1 2 days and
    // 10 ms ago (not yet).
    let kept = ["20261201", "20261202", "20261204"];
    assert_eq!(partitions("stock_history"), names("stock_history", &kept));
    assert_eq!(partitions("settlement_history"), names("settlement_history", &kept));
    assert_eq!(count(&database, "stock_history"), "3");
    drop(sink);
    // A shorter retention takes effect at the next start, before any batch.
    let one_day = Retention { history_ms: Some(DAY_MS), ..Retention::default() };
    drop(open(&database, one_day));
    assert_eq!(partitions("stock_history"), names("stock_history", &["20261204"]));
    assert_eq!(count(&database, "settlement_history"), "1");
}

#[test]
fn a_delta_beyond_64_bits_is_refused_as_data_naming_the_lineage_change() {
    let database = TestDatabase::create();
    let mut sink = open(&database, Retention::default());
    let mut refused = batch(DAY_ONE, 1);
    refused.changes.stock_history.push(stock_row(DAY_ONE, 2, i128::from(i64::MAX) + 1));
    let error = sink.apply(&refused).expect_err("refused");
    assert_eq!(error.class, flowmart_runtime::ErrorClass::Data, "{error:?}");
    assert_eq!(error.refused.len(), 1, "{:?}", error.refused);
    assert_eq!(error.refused[0].change.stock_history, vec![stock_row(DAY_ONE, 2, i128::from(i64::MAX) + 1)]);
    assert_eq!(count(&database, "stock_history"), "0", "nothing of the refused batch is stored");
}

#[test]
fn a_batch_larger_than_one_copy_chunk_is_stored_whole_whatever_its_order() {
    let database = TestDatabase::create();
    let mut sink = open(&database, Retention::default());
    // 20,000 rows (several 256 KiB chunks of COPY text) over 7 positions, given in an order
    // that is neither the positions' nor the offsets'.
    let mut batch = ChangeBatch { lower: DAY_ONE, upper: DAY_ONE + 1, ..ChangeBatch::default() };
    batch.changes.stock_history = (0..20_000u64)
        .map(|n| {
            let offset = (n * 7_919) % 20_000;
            let mut row = stock_row(DAY_ONE, offset, offset as i128);
            row.position = PositionKey::new("acme", "berlin", format!("SKU-{}", offset % 7));
            row
        })
        .collect();
    sink.apply(&batch).expect("committed");
    let stored = database.rows(
        "SELECT sku, count(*)::text, count(DISTINCT \"offset\")::text, sum(on_hand_delta)::text
         FROM stock_history GROUP BY sku ORDER BY sku",
    );
    let expected = (0..7u64)
        .map(|sku| {
            let offsets = (0..20_000u64).filter(|offset| offset % 7 == sku).collect::<Vec<_>>();
            let count = offsets.len().to_string();
            vec![format!("SKU-{sku}"), count.clone(), count, offsets.iter().sum::<u64>().to_string()]
        })
        .collect::<Vec<_>>();
    assert_eq!(stored, expected);
}
