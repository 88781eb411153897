//! The Postgres sink against the real Postgres server: migrations, and tables that equal the
//! reference model together with the offsets they cover.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowmart_generator::{Generator, GeneratorConfig};
use flowmart_postgres::{MIGRATIONS, PostgresSink, migrate};
use flowmart_runtime::{ChangeBatch, Pipeline, RuntimeConfig, Sink, SourceProgress, Topics};
use flowmart_schemas::{AlertState, EventDigest, InputRecord, ReorderAlert, Retention, Validate};
use flowmart_testkit::{
    STOCK_ROWS_QUERY, TestDatabase, alert_batch, model_of, reorder_alert, settlement_rows, stock_rows,
};
use sqlx::{Connection, PgConnection};

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

#[test]
fn migrations_apply_to_an_empty_database_and_again_without_change() {
    let database = TestDatabase::create();
    block_on(migrate(&database.url())).expect("first run");
    block_on(migrate(&database.url())).expect("second run changes nothing");
    let tables = database
        .rows("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1");
    let tables = tables.into_iter().map(|row| row[0].clone()).collect::<Vec<_>>();
    for table in ["pipeline_frontier", "pipeline_progress", "reorder_alerts", "settlement_totals", "stock_levels"] {
        assert!(tables.contains(&table.to_string()), "{table} in {tables:?}");
    }
}

#[test]
fn the_tables_equal_the_model_with_the_offsets_they_cover() {
    let database = TestDatabase::create();
    let config = GeneratorConfig {
        seed: 9,
        tenants: 3,
        partitions: 3,
        skus_per_tenant: 30,
        records_per_second: None,
        max_records: Some(8_000),
        fault_ratio: 0.01,
        ..GeneratorConfig::default()
    };
    let generator = Generator::new(config);
    let mut expected_progress = SourceProgress::default();
    let records = generator
        .records()
        .map(|record| {
            expected_progress.consumed(record.topic, record.partition, record.offset);
            record.decoded.expect("generated")
        })
        .collect::<Vec<_>>();
    let model = model_of(records.clone());
    let topics = Topics::default();
    let (sink, recovered) = PostgresSink::open(&database.url(), topics.clone(), Retention::default(), u64::MAX)
        .expect("connects and migrates");
    assert_eq!(recovered.resume.as_of, 0, "a new database holds nothing to recover");
    let pipeline = Pipeline::start(
        RuntimeConfig { workers: 2, ..RuntimeConfig::default() },
        Arc::new(generator),
        vec![Box::new(sink)],
    )
    .unwrap();

    let expected_rows = expected_progress
        .iter()
        .map(|(topic, partition, next)| vec![topics.name(topic).to_string(), partition.to_string(), next.to_string()])
        .collect::<Vec<_>>();
    let deadline = Instant::now() + Duration::from_secs(120);
    while database
        .rows("SELECT topic, partition::text, next_offset::text FROM pipeline_progress ORDER BY topic, partition")
        != sorted(expected_rows.clone())
    {
        assert!(Instant::now() < deadline, "postgres did not catch up");
        std::thread::sleep(Duration::from_millis(50));
    }
    pipeline.stop().unwrap();

    assert_eq!(database.rows(STOCK_ROWS_QUERY), stock_rows(&model));

    let settlements = database.rows(
        "SELECT tenant_id, currency, date::text, captured::text, refunded::text, chargebacks::text, fees::text, payouts::text, net::text, authorized::text FROM settlement_totals ORDER BY 1, 2, 3",
    );
    assert_eq!(settlements, settlement_rows(&model));

    let open = database.rows(
        "SELECT tenant_id, warehouse_id, sku, projected::text, reorder_point::text, suggested_quantity::text FROM reorder_alerts WHERE status = 'OPEN' ORDER BY 1, 2, 3",
    );
    let expected_open = model
        .open_alerts()
        .iter()
        .map(|(position, (_, check))| {
            vec![
                position.tenant_id.to_string(),
                position.warehouse_id.to_string(),
                position.sku.to_string(),
                check.projected.to_string(),
                check.reorder_point.to_string(),
                check.suggested_quantity.to_string(),
            ]
        })
        .collect::<Vec<_>>();
    assert!(!expected_open.is_empty());
    assert_eq!(open, sorted(expected_open));
    let resolved = database.rows("SELECT count(*)::text FROM reorder_alerts WHERE status = 'RESOLVED' AND resolved_at IS NOT NULL AND resolved_at >= opened_at");
    let all_resolved = database.rows("SELECT count(*)::text FROM reorder_alerts WHERE status = 'RESOLVED'");
    assert_eq!(resolved, all_resolved, "every resolved alert has a resolution time after its opening");
    let frontier = database.rows("SELECT as_of::text FROM pipeline_frontier");
    let as_of = frontier[0][0].parse::<u64>().unwrap();
    assert!(as_of > 0);

    // Opened again, the sink reads back the state to resume from: the model's, with the counts
    // the tables leave out, the offsets covered, and every id the dedupe counted.
    let (_, recovered) =
        PostgresSink::open(&database.url(), topics, Retention::default(), u64::MAX).expect("opens again");
    let state = &recovered.resume.state;
    assert_eq!(recovered.resume.as_of, as_of);
    assert_eq!(recovered.resume.progress, expected_progress, "the offsets the results cover");
    assert_eq!(state.stock.iter().cloned().collect::<BTreeMap<_, _>>(), model.stock(), "stock, records included");
    assert_eq!(state.settlements.iter().cloned().collect::<BTreeMap<_, _>>(), model.settlements(), "payments included");
    let recovered_open =
        state.alerts.iter().map(|(position, open)| (position.clone(), open.last)).collect::<BTreeMap<_, _>>();
    let model_open =
        model.open_alerts().iter().map(|(position, (_, check))| (position.clone(), *check)).collect::<BTreeMap<_, _>>();
    assert_eq!(recovered_open, model_open, "open alerts with their last check");
    let (mut inventory_ids, mut payment_ids) = (BTreeSet::new(), BTreeSet::new());
    for record in records.iter().filter(|record| record.validate().is_ok()) {
        match record {
            InputRecord::Inventory(event) => inventory_ids.insert(EventDigest::of(&event.event_id)),
            InputRecord::Payment(event) => payment_ids.insert(EventDigest::of(&event.event_id)),
            InputRecord::Order(_) | InputRecord::Policy(_) => false,
        };
    }
    let ids = |seen: &[(EventDigest, u64)]| seen.iter().map(|(digest, _)| *digest).collect::<BTreeSet<_>>();
    assert_eq!(ids(&state.inventory_ids), inventory_ids, "every inventory event id counted");
    assert_eq!(ids(&state.payment_ids), payment_ids, "every payment id counted");
    assert_eq!(state.inventory_ids.len(), inventory_ids.len(), "each once");
    let stored_bytes = database.rows("SELECT sum(octet_length(digests))::text FROM recovery_event_ids")[0][0].clone();
    assert_eq!(stored_bytes, (16 * (inventory_ids.len() + payment_ids.len())).to_string(), "16 bytes an id");
    assert!(!state.orders.is_empty() && !state.policies.is_empty(), "orders and policies stored");
    let stored_alert_changes =
        database.rows("SELECT alert_changes::text FROM pipeline_frontier")[0][0].parse::<u64>().unwrap();
    assert_eq!(recovered.resume.alerts_before, stored_alert_changes);
    let kept = recovered.recent_alerts.iter().map(|(sequence, _)| *sequence).collect::<Vec<_>>();
    assert_eq!(kept, (1..=stored_alert_changes).collect::<Vec<_>>(), "every alert change kept for resuming");
    let published = database.rows("SELECT alerts_published::text FROM pipeline_frontier")[0][0].parse::<u64>().unwrap();
    let unconfirmed = recovered.unconfirmed_alerts.iter().map(|(sequence, _)| *sequence).collect::<Vec<_>>();
    assert_eq!(unconfirmed, (published + 1..=stored_alert_changes).collect::<Vec<_>>(), "the changes above the mark");
    let listed_open = recovered.alerts.iter().filter(|(_, alert)| alert.state == AlertState::Open).count();
    assert_eq!(listed_open, model_open.len(), "the index starts with every open alert");
}

#[test]
fn event_ids_stored_as_text_are_recovered_as_their_digests() {
    let database = TestDatabase::create();
    block_on(async {
        let mut connection = PgConnection::connect(&database.url()).await?;
        MIGRATIONS.run_to(5, &mut connection).await.map_err(sqlx::Error::from)
    })
    .expect("migrates to the schema before digests");
    database.rows("INSERT INTO pipeline_frontier (as_of) VALUES (200)");
    database.rows(
        "INSERT INTO recovery_event_ids (topic, seen_at, event_ids) VALUES \
         ('flowmart.inventory', 150, ARRAY['evt-0-1', 'évt-ü-2']), ('flowmart.inventory', 160, ARRAY[]::text[]), \
         ('flowmart.payments', 170, ARRAY['pay-1'])",
    );
    let (_, recovered) =
        PostgresSink::open(&database.url(), Topics::default(), Retention::default(), u64::MAX).expect("migrates");
    let mut inventory_ids = recovered.resume.state.inventory_ids.clone();
    inventory_ids.sort();
    let mut expected = vec![(EventDigest::of("evt-0-1"), 150), (EventDigest::of("évt-ü-2"), 150)];
    expected.sort();
    assert_eq!(inventory_ids, expected);
    assert_eq!(recovered.resume.state.payment_ids, vec![(EventDigest::of("pay-1"), 170)]);
}

fn sorted(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.sort();
    rows
}

#[test]
fn a_restart_republishes_exactly_the_alert_changes_above_the_published_mark() {
    let database = TestDatabase::create();
    let open = || PostgresSink::open(&database.url(), Topics::default(), Retention::default(), u64::MAX).unwrap();
    let sequences = |changes: &[(u64, ReorderAlert)]| changes.iter().map(|(sequence, _)| *sequence).collect::<Vec<_>>();
    let (mut sink, _) = open();
    let alerts = ["a", "b"].map(|sku| reorder_alert("acme", sku)).to_vec();
    sink.apply(&ChangeBatch { lower: 1, upper: 2, ..alert_batch(0, alerts) }).unwrap();
    // The runtime hands batch 2 over only once the alert sink took batch 1: changes 1 and 2 are
    // on the topic; change 3 may not be.
    sink.apply(&ChangeBatch { lower: 2, upper: 3, ..alert_batch(2, vec![reorder_alert("acme", "c")]) }).unwrap();
    sink.apply(&ChangeBatch { lower: 3, upper: 4, ..alert_batch(3, Vec::new()) }).unwrap();
    drop(sink);
    assert_eq!(database.rows("SELECT alerts_published::text FROM pipeline_frontier"), [["3"]]);
    let (_, recovered) = open();
    assert_eq!(sequences(&recovered.unconfirmed_alerts), Vec::<u64>::new(), "batch 3 came after change 3 went out");
    assert_eq!(sequences(&recovered.recent_alerts), [1, 2, 3]);

    let (mut sink, _) = open();
    let alerts = ["d", "e"].map(|sku| reorder_alert("acme", sku)).to_vec();
    sink.apply(&ChangeBatch { lower: 4, upper: 5, ..alert_batch(3, alerts) }).unwrap();
    drop(sink);
    let (_, recovered) = open();
    assert_eq!(sequences(&recovered.unconfirmed_alerts), [4, 5], "exactly the changes above the mark");

    // A database written before the mark was kept: the last commit's changes are checked.
    database.rows("UPDATE pipeline_frontier SET alerts_published = NULL RETURNING 1");
    let (_, recovered) = open();
    assert_eq!(sequences(&recovered.unconfirmed_alerts), [4, 5]);

    // The mark back where that run left it: the next run commits its first batch before its
    // alert sink sends 4 and 5 with it; killed in between, they are still unconfirmed, beside
    // the new change.
    database.rows("UPDATE pipeline_frontier SET alerts_published = 3 RETURNING 1");
    let (mut sink, _) = open();
    sink.apply(&ChangeBatch { lower: 5, upper: 6, ..alert_batch(5, vec![reorder_alert("acme", "f")]) }).unwrap();
    drop(sink);
    let (mut sink, recovered) = open();
    assert_eq!(sequences(&recovered.unconfirmed_alerts), [4, 5, 6], "not sent by the run that recovered them");
    // The run after sends 4 to 6 with its first batch: its second commit marks them published.
    sink.apply(&ChangeBatch { lower: 6, upper: 7, ..alert_batch(6, Vec::new()) }).unwrap();
    sink.apply(&ChangeBatch { lower: 7, upper: 8, ..alert_batch(6, Vec::new()) }).unwrap();
    drop(sink);
    let (_, recovered) = open();
    assert_eq!(sequences(&recovered.unconfirmed_alerts), Vec::<u64>::new());
}
