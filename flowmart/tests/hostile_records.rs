//! No single record stops `flowmart run` (`CONTRACT.md` §2): after a normal workload, one record
//! of every hostile kind — ids with NUL, DEL or 257 bytes, timestamps in microseconds, before year
//! 1, at 0 and at 2^62, values one past 10^15, a sum that would overflow by one, a row Postgres
//! refuses (a CHECK constraint the validator cannot know about) — then a sentinel. Against Tansu,
//! the registry stub and Postgres: the sentinel is served and stored within seconds, every hostile
//! record is on the DLQ once with its kind and source position, no total that can only grow is
//! negative, and the process still runs.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flowmart_generator::GeneratorConfig;
use flowmart_kafka::{WorkloadProducer, split_frame};
use flowmart_runtime::{InputTopic, SourceRecord, Topics};
use flowmart_schemas::{
    InputRecord, InventoryEvent, InventoryKind, MAX_ABS_VALUE, PaymentEvent, PaymentKind, WriterSchema, decode,
};
use flowmart_testkit::{OCCURRED_AT, RegistryStub, Tansu, TestDatabase, consume, free_port, produce_workload};
use support::{Http, create_flowmart_topics, run_flowmart, wait_until_covered};

mod support;

const ADMIN: &str = "hostile-admin-token";
const TENANT: &str = "hostile-co";

fn inventory(event_id: &str, change: impl FnOnce(&mut InventoryEvent)) -> InputRecord {
    let mut event = InventoryEvent {
        event_id: event_id.into(),
        tenant_id: TENANT.into(),
        warehouse_id: "berlin".into(),
        sku: "SKU-1".into(),
        kind: InventoryKind::Received,
        quantity: 5,
        occurred_at: OCCURRED_AT,
        purchase_order_id: None,
    };
    change(&mut event);
    InputRecord::Inventory(event)
}

fn captured(event_id: &str, amount_minor: i64, change: impl FnOnce(&mut PaymentEvent)) -> InputRecord {
    let mut event = PaymentEvent {
        event_id: event_id.into(),
        tenant_id: TENANT.into(),
        payment_id: event_id.into(),
        buyer_id: "buyer".into(),
        order_id: None,
        kind: PaymentKind::Captured,
        amount_minor,
        currency: "EUR".into(),
        occurred_at: OCCURRED_AT,
    };
    change(&mut event);
    InputRecord::Payment(event)
}

/// Each hostile record's event id, the record, and the DLQ kind it must get.
fn hostile() -> Vec<(InputRecord, &'static str)> {
    let long = "x".repeat(257);
    vec![
        (inventory("nul-sku", |event| event.sku = "SKU\0NUL".into()), "invalid_id"),
        (inventory("del-warehouse", |event| event.warehouse_id = "w\u{7f}".into()), "invalid_id"),
        (inventory("long-sku", |event| event.sku = long.as_str().into()), "invalid_id"),
        (inventory("at-zero", |event| event.occurred_at = 0), "timestamp_out_of_range"),
        (inventory("at-2-62", |event| event.occurred_at = 1 << 62), "timestamp_out_of_range"),
        (inventory("past-max", |event| event.quantity = MAX_ABS_VALUE + 1), "value_out_of_range"),
        (captured("in-microseconds", 100, |event| event.occurred_at = OCCURRED_AT * 1000), "timestamp_out_of_range"),
        (captured("before-year-1", 100, |event| event.occurred_at = -99_999_999_999_999), "timestamp_out_of_range"),
        (captured("huge-1", 9_000_000_000_000_000_000, |_| ()), "value_out_of_range"),
        (captured("huge-2", 9_000_000_000_000_000_000, |_| ()), "value_out_of_range"),
        (captured("past-max-amount", MAX_ABS_VALUE + 1, |_| ()), "value_out_of_range"),
        (inventory("refused-by-postgres", |event| event.sku = "FORBIDDEN".into()), "sink_rejected"),
    ]
}

/// Captured payments of one settlement that sum to exactly `i64::MAX`, then one of 1 more.
fn summing_to_the_limit() -> (Vec<InputRecord>, InputRecord) {
    let full = i64::MAX / MAX_ABS_VALUE;
    let mut payments = (0..full).map(|n| captured(&format!("sum-{n}"), MAX_ABS_VALUE, |_| ())).collect::<Vec<_>>();
    payments.push(captured("sum-rest", i64::MAX - full * MAX_ABS_VALUE, |_| ()));
    (payments, captured("sum-past-the-limit", 1, |_| ()))
}

fn event_id(record: &InputRecord) -> String {
    match record {
        InputRecord::Inventory(event) => event.event_id.to_string(),
        InputRecord::Payment(event) => event.event_id.to_string(),
        other => panic!("not produced here: {other:?}"),
    }
}

fn source_record(record: InputRecord) -> SourceRecord {
    let topic = match record {
        InputRecord::Inventory(_) => InputTopic::Inventory,
        _ => InputTopic::Payments,
    };
    let key = Some(TENANT.as_bytes().to_vec());
    SourceRecord { topic, partition: 0, offset: 0, key, raw_value: None, decoded: Ok(record) }
}

#[test]
fn no_hostile_record_stops_the_pipeline_and_each_is_dead_lettered_with_its_kind() {
    let tansu = Tansu::start();
    let registry = RegistryStub::start();
    create_flowmart_topics(&tansu.brokers());
    let config = GeneratorConfig {
        seed: 4,
        tenants: 2,
        partitions: 3,
        skus_per_tenant: 10,
        records_per_second: None,
        max_records: Some(1_500),
        fault_ratio: 0.0,
        ..GeneratorConfig::default()
    };
    let produced = produce_workload(&tansu.brokers(), &registry, &config);

    // A database with a rule the validator cannot know about.
    let database = TestDatabase::create();
    let migrated = Command::new(env!("CARGO_BIN_EXE_flowmart"))
        .args(["migrate"])
        .env("DATABASE_URL", database.url())
        .stdout(Stdio::null())
        .status()
        .expect("flowmart migrate runs");
    assert!(migrated.success());
    database.rows("ALTER TABLE stock_levels ADD CONSTRAINT no_forbidden_sku CHECK (sku <> 'FORBIDDEN')");

    let port = free_port();
    let mut running = run_flowmart(&tansu.brokers(), registry.url(), &database.url(), port, ADMIN);
    let http = Http::new();
    let api = format!("http://127.0.0.1:{port}");
    let wait_until_covered = |total, within| wait_until_covered(&http, &api, ADMIN, total, within);
    wait_until_covered(produced.count, Duration::from_secs(120));

    // The hostile records, the sum to the limit and one past it, then the sentinel.
    let hostile = hostile();
    let (to_the_limit, past_the_limit) = summing_to_the_limit();
    let sentinel = inventory("sentinel", |event| {
        event.sku = "SENTINEL".into();
        event.quantity = 7;
    });
    // Sent in a burst, so in batches of many records: the rewind past the refused record reads
    // again from a stored offset inside one (the reader finds the batch's start, `landing.rs`).
    let producer =
        WorkloadProducer::connect(&tansu.connection(), &registry.config(), Topics::default()).expect("connects");
    let mut expected_kinds = BTreeMap::new();
    for (record, kind) in &hostile {
        expected_kinds.insert(event_id(record), *kind);
        producer.send(&source_record(record.clone())).expect("queued");
    }
    for record in to_the_limit.iter().chain([&past_the_limit]) {
        producer.send(&source_record(record.clone())).expect("queued");
    }
    expected_kinds.insert(event_id(&past_the_limit), "aggregate_out_of_range");
    producer.send(&source_record(sentinel)).expect("queued");
    producer.flush().expect("acknowledged");
    let sent_at = Instant::now();
    let total = produced.count + hostile.len() + to_the_limit.len() + 2;

    // The sentinel, read after all of them, is served and stored within seconds.
    let key = http.post(&format!("{api}/v1/admin/tenants/{TENANT}/api-keys"), ADMIN)["api_key"]
        .as_str()
        .expect("an api key")
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while http.get(&format!("{api}/v1/stock/berlin/SENTINEL"), &key).is_none_or(|(status, _)| status != 200) {
        assert!(Instant::now() < deadline, "the sentinel was never served");
        std::thread::sleep(Duration::from_millis(20));
    }
    let served_after = sent_at.elapsed();
    assert!(served_after < Duration::from_secs(30), "the sentinel took {served_after:?}");
    let (_, sentinel_levels) = http.get(&format!("{api}/v1/stock/berlin/SENTINEL"), &key).expect("answers");
    assert_eq!(sentinel_levels["on_hand"], 7, "{sentinel_levels}");
    wait_until_covered(total, Duration::from_secs(30));
    assert_eq!(
        database.rows("SELECT on_hand::text FROM stock_levels WHERE tenant_id = 'hostile-co' AND sku = 'SENTINEL'"),
        [["7"]]
    );

    // Every hostile record on the DLQ once, with its kind and where it was read.
    let dead = consume(&tansu.brokers(), "flowmart.dlq", expected_kinds.len(), Duration::from_secs(60));
    let schemas = [
        ("flowmart.inventory", WriterSchema::own::<InventoryEvent>()),
        ("flowmart.payments", WriterSchema::own::<PaymentEvent>()),
    ];
    let mut dead_kinds = BTreeMap::new();
    for record in &dead {
        let header =
            |name: &str| record.headers.iter().find(|(header, _)| header == name).map(|(_, value)| value.clone());
        let topic = header("source.topic").expect("source.topic");
        assert_eq!(header("source.partition").as_deref(), Some("0"), "where it was read");
        assert!(header("source.offset").is_some_and(|offset| offset.parse::<u64>().is_ok()));
        let (_, schema) = schemas.iter().find(|(name, _)| *name == topic).expect("an input topic");
        let body = split_frame(record.value.as_deref().expect("the original bytes")).expect("framed").1;
        let event_id = match topic.as_str() {
            "flowmart.inventory" => decode::<InventoryEvent>(schema, body).expect("its bytes").event_id.to_string(),
            _ => decode::<PaymentEvent>(schema, body).expect("its bytes").event_id.to_string(),
        };
        let kind = header("error.kind").expect("error.kind");
        assert!(dead_kinds.insert(event_id.clone(), kind).is_none(), "{event_id} dead-lettered twice");
    }
    let dead_kinds = dead_kinds.iter().map(|(id, kind)| (id.clone(), kind.as_str())).collect::<BTreeMap<_, _>>();
    assert_eq!(dead_kinds, expected_kinds);

    // Nothing wrapped: the sum stopped at the limit; no total that can only grow is negative.
    assert_eq!(
        database.rows("SELECT captured::text FROM settlement_totals WHERE tenant_id = 'hostile-co'"),
        [[i64::MAX.to_string()]]
    );
    let negative = "SELECT count(*)::text FROM settlement_totals WHERE captured < 0 OR refunded < 0 OR chargebacks < 0 \
                    OR fees < 0 OR payouts < 0 OR authorized < 0";
    assert_eq!(database.rows(negative), [["0"]]);
    let settlements = http.json(&format!("{api}/v1/settlements"), &key);
    assert_eq!(settlements["items"][0]["captured"].as_i64(), Some(i64::MAX), "{settlements}");

    // Still running, and ready.
    assert!(running.0.try_wait().expect("waits").is_none(), "the process still runs");
    let ready = http.get(&format!("{api}/readyz"), "").map(|(status, _)| status);
    assert_eq!(ready, Some(200));
}
