//! Webhooks in Postgres: a restarted API keeps its tenants' webhooks and goes on after the last
//! change whose delivery finished — nothing delivered twice, changes made while it was down sent
//! from what its index was restored with, and changes it can no longer resend logged as skipped.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flowmart_api::Store;
use flowmart_api::audit::Actor;
use flowmart_api::webhooks::{WebhookSettings, Webhooks};
use flowmart_runtime::{ChangeBatch, Sink, SourceProgress};
use flowmart_schemas::{Id, ReorderAlert};
use flowmart_serving::{ServingIndex, Snapshot};
use flowmart_testkit::{TestDatabase, alert_batch, reorder_alert};

/// An index as a restarted API has it: `published` changes happened, `recent` of them kept.
fn restarted_index(published: u64, recent: Vec<(u64, ReorderAlert)>) -> (ServingIndex, flowmart_serving::IndexWriter) {
    let restored = Snapshot::restored(5, SourceProgress::default(), published, [], [], [], []);
    ServingIndex::starting_from(restored, recent, u64::MAX)
}

/// Deliveries to this test's receiver, on loopback.
fn loopback_receivers() -> WebhookSettings {
    WebhookSettings { allowed_networks: vec!["127.0.0.0/8".parse().unwrap()], ..WebhookSettings::default() }
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_restarted_api_keeps_its_webhooks_and_delivers_on_from_where_it_stopped() {
    let database = TestDatabase::create();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = Arc::clone(&received);
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let log = Arc::clone(&log);
            async move {
                let delivery = headers["x-flowmart-delivery"].to_str().unwrap().to_string();
                log.lock().unwrap().push(delivery.rsplit_once(':').unwrap().1.to_string());
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, receiver).await });
    let tenant = Id::from("acme-wholesale");
    let store = runtime.block_on(Store::open(&database.url())).unwrap();
    let delivered = || received.lock().unwrap().clone();

    // First run: register, deliver changes 1 and 3 (2 is another tenant's).
    let (index, mut writer) = restarted_index(0, Vec::new());
    let webhooks = runtime.block_on(Webhooks::stored(index, &store, loopback_receivers())).unwrap();
    let (registered, _secret) =
        runtime.block_on(webhooks.register(&tenant, &url, &Actor::Key("key_test".into()))).unwrap();
    let alerts = ["acme-wholesale", "globex-distribution", "acme-wholesale"];
    let alerts = alerts.into_iter().zip(["a", "b", "c"]).map(|(tenant, sku)| reorder_alert(tenant, sku)).collect();
    let batch = ChangeBatch { lower: 5, upper: 6, ..alert_batch(0, alerts) };
    writer.apply(&batch).unwrap();
    wait_until("the first deliveries", || delivered() == ["1", "3"]);
    let progress = || database.rows("SELECT delivered_up_to::text FROM webhooks")[0][0].clone();
    wait_until("progress stored", || progress() == "3");
    drop(webhooks);

    // Restart: the webhook is still there and goes on with change 4, sending nothing twice.
    let (index, mut writer) = restarted_index(3, Vec::new());
    let webhooks = runtime.block_on(Webhooks::stored(index, &store, loopback_receivers())).unwrap();
    let listed = webhooks.list(&tenant);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].webhook_id, registered.webhook_id);
    let batch = ChangeBatch { lower: 6, upper: 7, ..alert_batch(3, vec![reorder_alert("acme-wholesale", "d")]) };
    writer.apply(&batch).unwrap();
    wait_until("the delivery after the restart", || delivered() == ["1", "3", "4"]);
    wait_until("progress stored", || progress() == "4");
    drop(webhooks);

    // Down while changes 5..=7 happened, kept by the database: they are sent on restart.
    let kept = vec![
        (5, reorder_alert("acme-wholesale", "e")),
        (6, reorder_alert("globex-distribution", "f")),
        (7, reorder_alert("acme-wholesale", "g")),
    ];
    let (index, _writer) = restarted_index(7, kept);
    let webhooks = runtime.block_on(Webhooks::stored(index, &store, loopback_receivers())).unwrap();
    wait_until("the changes made while down", || delivered() == ["1", "3", "4", "5", "7"]);
    wait_until("progress stored", || progress() == "7");
    drop(webhooks);

    // Down while changes 8..=10 happened, none kept: they are logged as skipped, nothing is sent.
    let (index, _writer) = restarted_index(10, Vec::new());
    let webhooks = runtime.block_on(Webhooks::stored(index, &store, loopback_receivers())).unwrap();
    wait_until("the gap logged", || {
        webhooks.deliveries(&tenant, &registered.webhook_id).is_some_and(|log| !log.is_empty())
    });
    let log = webhooks.deliveries(&tenant, &registered.webhook_id).unwrap();
    assert_eq!((log[0].outcome, log[0].sequence), ("skipped", 10));
    assert!(log[0].error.as_deref().unwrap().contains("8 to 10"), "{:?}", log[0].error);
    assert_eq!(delivered(), ["1", "3", "4", "5", "7"]);
    wait_until("progress stored", || progress() == "10");
    drop(webhooks);

    // Down while changes 11..=14 happened, only 13 and 14 kept: 11 and 12 are logged as skipped,
    // the kept ones sent.
    let kept = vec![(13, reorder_alert("acme-wholesale", "h")), (14, reorder_alert("acme-wholesale", "i"))];
    let (index, _writer) = restarted_index(14, kept);
    let webhooks = runtime.block_on(Webhooks::stored(index, &store, loopback_receivers())).unwrap();
    wait_until("the kept changes made while down", || delivered() == ["1", "3", "4", "5", "7", "13", "14"]);
    let log = webhooks.deliveries(&tenant, &registered.webhook_id).unwrap();
    let skipped = log.iter().filter(|delivery| delivery.outcome == "skipped").collect::<Vec<_>>();
    assert_eq!(skipped.len(), 1, "{log:?}");
    assert_eq!(skipped[0].sequence, 12);
    assert!(skipped[0].error.as_deref().unwrap().contains("11 to 12"), "{:?}", skipped[0].error);
    wait_until("progress stored", || progress() == "14");

    // Removed, it is gone for good.
    assert!(
        runtime.block_on(webhooks.remove(&tenant, &registered.webhook_id, &Actor::Key("key_test".into()))).unwrap()
    );
    assert!(database.rows("SELECT webhook_id FROM webhooks").is_empty());
}
