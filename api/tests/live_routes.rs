//! The routes procurement works live with, over real HTTP in front of an index this test feeds
//! batch by batch: acknowledging and snoozing alerts (in memory, and stored, audited and restored
//! with a database), and the stock and settlement change streams (current items, changes,
//! resuming after `Last-Event-ID`, a reset when that is no longer kept or a session lags).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flowmart_api::audit::AuditLog;
use flowmart_api::{AnnotationTable, ApiKeys, Store};
use flowmart_runtime::{ChangeBatch, Sink};
use flowmart_schemas::{
    Currency, PositionKey, ReorderAlert, ReorderAlertStatus, ReorderPolicy, SettlementDate, SettlementKey,
    SettlementTotals, StockLevels,
};
use flowmart_serving::{IndexWriter, ServingIndex};
use flowmart_testkit::{TestDatabase, alert_batch, reorder_alert, stock_batch};
use reqwest::StatusCode;
use serde_json::{Value, json};

mod support;
use support::{ADMIN_TOKEN, Api, State};

/// The API over an empty index the test writes to.
fn start() -> Api {
    over(ServingIndex::new(u64::MAX), None)
}

/// The API over `index` and its writer, keeping keys, annotations and the audit log in `database`
/// when given.
fn over((index, writer): (ServingIndex, IndexWriter), database: Option<&TestDatabase>) -> Api {
    let runtime = support::runtime();
    let store = database.map(|database| runtime.block_on(Store::open(&database.url())).unwrap());
    if let Some(store) = &store {
        runtime.block_on(AnnotationTable::new(store).restore(&index, 86_400_000)).unwrap();
    }
    let keys = match &store {
        Some(store) => runtime.block_on(ApiKeys::stored(store)).unwrap(),
        None => ApiKeys::new(),
    };
    let state = State::new(index).writer(writer).keys(keys).loopback_webhooks();
    Api::serve(runtime, state.audit(store.as_ref().map(AuditLog::new)).database(store))
}

impl Api {
    fn apply(&mut self, batch: ChangeBatch) {
        self.writer.as_mut().expect("the test writes the index").apply(&batch).unwrap();
    }

    /// A new key of `tenant_id`: the secret and its id, as the admin's list of its keys shows it.
    fn issue_listed_key(&self, tenant_id: &str) -> (String, String) {
        let key = self.issue_key(tenant_id);
        let (status, keys) = self.get(&format!("/v1/admin/tenants/{tenant_id}/api-keys"), ADMIN_TOKEN);
        assert_eq!(status, StatusCode::OK);
        let id = keys["keys"].as_array().unwrap().last().unwrap()["key_id"].as_str().unwrap().to_string();
        (key, id)
    }

    /// Opens a Server-Sent Events stream.
    fn stream(&self, path: &str, key: &str, last_event_id: Option<&str>) -> EventStream {
        let mut request = self.client.get(format!("{}{path}", self.url)).bearer_auth(key);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = self.runtime.block_on(request.send()).unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        EventStream { response, buffer: String::new() }
    }

    /// Reads events until `done` says the events so far are all, or fails after 60 s: a bound on
    /// waiting, not on speed (a lagging session reads ~25,000 events in a debug build, on two
    /// cores shared with the other tests).
    fn read_until(&self, stream: &mut EventStream, done: impl Fn(&[Sse]) -> bool) -> Vec<Sse> {
        let mut events = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done(&events) {
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = self.runtime.block_on(async { tokio::time::timeout(left, stream.response.chunk()).await });
            let chunk = chunk.unwrap_or_else(|_| panic!("no more events in time; got {events:#?}")).unwrap();
            stream.buffer.push_str(std::str::from_utf8(&chunk.expect("the stream goes on")).unwrap());
            while let Some(end) = stream.buffer.find("\n\n") {
                let text = stream.buffer[..end].to_string();
                stream.buffer.drain(..end + 2);
                if let Some(event) = Sse::parse(&text) {
                    events.push(event);
                }
            }
        }
        events
    }
}

struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

/// One Server-Sent Event.
#[derive(Debug, Clone)]
struct Sse {
    event: String,
    id: Option<String>,
    data: Value,
}

impl Sse {
    /// An event's fields; `None` for a comment (a keep-alive).
    fn parse(text: &str) -> Option<Sse> {
        let field =
            |name: &str| text.lines().find_map(|line| line.strip_prefix(name)).map(|value| value.trim().to_string());
        let event = field("event:")?;
        let data = serde_json::from_str(&field("data:").unwrap_or_default()).unwrap_or(Value::Null);
        Some(Sse { event, id: field("id:"), data })
    }
}

fn position(tenant: &str, warehouse: &str, sku: &str) -> PositionKey {
    PositionKey { tenant_id: tenant.into(), warehouse_id: warehouse.into(), sku: sku.into() }
}

fn levels(on_hand: i64, reserved: i64, on_order: i64) -> StockLevels {
    StockLevels { on_hand, reserved, on_order, records: 1 }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// acme's alerts on `berlin`/a, b, c and globex's on `berlin`/x, with acme's positions and a
/// policy for a.
fn alerts_opened(api: &mut Api) {
    let alerts = [("acme", "a"), ("acme", "b"), ("acme", "c"), ("globex", "x")];
    let mut batch = ChangeBatch {
        lower: 1,
        upper: 2,
        ..alert_batch(0, alerts.iter().map(|(tenant, sku)| reorder_alert(tenant, sku)).collect())
    };
    batch.changes.stock = vec![(position("acme", "berlin", "a"), Some(levels(3, 1, 0)))];
    let policy = ReorderPolicy {
        tenant_id: "acme".into(),
        warehouse_id: "berlin".into(),
        sku: "a".into(),
        reorder_point: 5,
        reorder_quantity: 10,
        max_level: Some(40),
        order_multiple: None,
        lead_time_days: Some(6),
    };
    batch.changes.policies = vec![(position("acme", "berlin", "a"), Some(policy))];
    api.apply(batch);
}

fn ids(list: &Value) -> Vec<&str> {
    list["items"].as_array().unwrap().iter().map(|item| item["alert_id"].as_str().unwrap()).collect()
}

#[test]
fn acknowledging_and_snoozing_take_an_alert_out_of_needs_attention_and_are_pushed_as_updates() {
    let mut api = start();
    let (acme, acme_key_id) = api.issue_listed_key("acme");
    let (globex, _) = api.issue_listed_key("globex");
    alerts_opened(&mut api);

    // A webhook and a live session of acme's see the actions.
    let received = Arc::new(Mutex::new(Vec::<(String, Value)>::new()));
    let log = Arc::clone(&received);
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let log = Arc::clone(&log);
            async move {
                let delivery = headers["x-flowmart-delivery"].to_str().unwrap().to_string();
                log.lock().unwrap().push((delivery, serde_json::from_str(&body).unwrap()));
                StatusCode::OK
            }
        }),
    );
    let listener = api.runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    api.runtime.spawn(async move { axum::serve(listener, receiver).await });
    let (status, body) = api.post("/v1/webhooks", &acme, json!({ "url": hook }));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut live = api.stream("/v1/alerts/stream", &acme, None);

    let (status, attention) = api.get("/v1/reorder-alerts?needs_attention=true", &acme);
    assert_eq!(status, StatusCode::OK, "{attention}");
    assert_eq!(ids(&attention), ["alert-a", "alert-b", "alert-c"]);
    let a = &attention["items"][0];
    assert_eq!(
        (&a["on_hand"], &a["reserved"], &a["on_order"], &a["max_level"], &a["lead_time_days"]),
        (&json!(3), &json!(1), &json!(0), &json!(40), &json!(6)),
        "the position and the policy behind the alert: {a}"
    );
    assert_eq!((&a["acknowledged_at"], &a["snoozed_until"]), (&Value::Null, &Value::Null));

    let before = now_ms();
    let (status, acknowledged) =
        api.post("/v1/reorder-alerts/alert-a/acknowledge", &acme, json!({ "note": "called the supplier" }));
    assert_eq!(status, StatusCode::OK, "{acknowledged}");
    assert_eq!(acknowledged["alert_id"], "alert-a");
    assert_eq!(acknowledged["acknowledged_by"], acme_key_id.as_str());
    assert_eq!(acknowledged["note"], "called the supplier");
    let at = acknowledged["acknowledged_at"].as_i64().unwrap();
    assert!((before..=now_ms()).contains(&at), "{at}");

    let until = "2099-01-01T00:00:00Z";
    let (status, snoozed) = api.post("/v1/reorder-alerts/alert-b/snooze", &acme, json!({ "until": until }));
    assert_eq!(status, StatusCode::OK, "{snoozed}");
    assert_eq!(snoozed["snoozed_until"], 4_070_908_800_000_i64);
    assert_eq!(snoozed["acknowledged_at"], Value::Null);
    // A snooze already over leaves the alert needing attention.
    let (status, _) = api.post(
        "/v1/reorder-alerts/alert-c/snooze",
        &acme,
        json!({ "until": "2020-01-01T00:00:00+02:00", "note": "x" }),
    );
    assert_eq!(status, StatusCode::OK);

    let (_, attention) = api.get("/v1/reorder-alerts?needs_attention=true", &acme);
    assert_eq!(ids(&attention), ["alert-c"]);
    let (_, open) = api.get("/v1/reorder-alerts", &acme);
    assert_eq!(ids(&open), ["alert-a", "alert-b", "alert-c"], "still open, listed with what was done");
    assert_eq!(open["items"][0]["note"], "called the supplier");
    assert_eq!(open["items"][1]["snoozed_until"], 4_070_908_800_000_i64);
    assert_eq!(open["items"][2]["snoozed_until"], 1_577_829_600_000_i64);

    // Pushed live as updates of the alert, without an id (they are not numbered changes).
    let events = api.read_until(&mut live, |events| events.len() >= 3);
    let updates = events.iter().map(|event| (event.event.as_str(), event.id.clone(), event.data["alert_id"].clone()));
    assert_eq!(
        updates.collect::<Vec<_>>(),
        [
            ("reorder-alert", None, json!("alert-a")),
            ("reorder-alert", None, json!("alert-b")),
            ("reorder-alert", None, json!("alert-c"))
        ]
    );
    assert_eq!(events[0].data["status"], "UPDATED");
    assert_eq!(events[0].data["acknowledged_by"], acme_key_id.as_str());
    assert_eq!(events[1].data["snoozed_until"], 4_070_908_800_000_i64);
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.lock().unwrap().len() < 3 {
        assert!(Instant::now() < deadline, "webhook deliveries: {:?}", received.lock().unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
    let delivered = received.lock().unwrap().clone();
    assert_eq!(delivered[0].1["alert_id"], "alert-a");
    assert_eq!(delivered[0].1["note"], "called the supplier");
    assert_eq!(delivered[1].1["snoozed_until"], 4_070_908_800_000_i64);
    let delivery_ids = delivered.iter().map(|(id, _)| id.clone()).collect::<std::collections::HashSet<_>>();
    assert_eq!(delivery_ids.len(), 3, "each action has its own delivery id: {delivery_ids:?}");

    // Another tenant's alert is not there; nor is an unknown one.
    let (status, body) = api.post("/v1/reorder-alerts/alert-a/acknowledge", &globex, json!({}));
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = api.post("/v1/reorder-alerts/alert-zz/snooze", &acme, json!({ "until": until }));
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, globex_open) = api.get("/v1/reorder-alerts?needs_attention=true", &globex);
    assert_eq!(ids(&globex_open), ["alert-x"]);

    // Bad bodies are 400s naming the problem, and change nothing.
    for (path, body, says) in [
        ("snooze", json!({ "until": "tomorrow" }), "RFC 3339"),
        ("snooze", json!({ "note": "no until" }), "until"),
        ("acknowledge", json!({ "note": "n".repeat(1_001) }), "1000"),
        ("acknowledge", json!({ "note": "a\u{0}b" }), "NUL"),
        ("acknowledge", json!({ "reason": "unknown field" }), "reason"),
        ("acknowledge", json!("not an object"), "object"),
        ("acknowledge", json!([null]), "object"),
        ("snooze", json!(["2030-01-01T00:00:00Z", null]), "object"),
    ] {
        let (status, answer) = api.post(&format!("/v1/reorder-alerts/alert-c/{path}"), &acme, body.clone());
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().replace(',', "").contains(says), "{answer}");
    }
    let (_, attention) = api.get("/v1/reorder-alerts?needs_attention=true", &acme);
    assert_eq!(ids(&attention), ["alert-c"]);

    // A new crossing is a new alert: it starts fresh.
    let resolved = ReorderAlert { status: ReorderAlertStatus::Resolved, ..reorder_alert("acme", "a") };
    let reopened = ReorderAlert { alert_id: "alert-a-2".into(), ..reorder_alert("acme", "a") };
    api.apply(ChangeBatch { lower: 2, upper: 3, ..alert_batch(4, vec![resolved, reopened]) });
    let (_, attention) = api.get("/v1/reorder-alerts?needs_attention=true", &acme);
    assert_eq!(ids(&attention), ["alert-a-2", "alert-c"]);
    // The resolved one is not acted on any more.
    let (status, body) = api.post("/v1/reorder-alerts/alert-a/acknowledge", &acme, json!({}));
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"].as_str().unwrap().contains("resolved"), "{body}");
}

#[test]
fn acknowledgements_are_stored_with_their_audit_record_and_come_back_after_a_restart() {
    let database = TestDatabase::create();
    let opened = || {
        let (index, mut writer) = ServingIndex::new(u64::MAX);
        let batch = ChangeBatch {
            lower: 1,
            upper: 2,
            ..alert_batch(0, vec![reorder_alert("acme", "a"), reorder_alert("acme", "b")])
        };
        writer.apply(&batch).unwrap();
        (index, writer)
    };
    let api = over(opened(), Some(&database));
    let (acme, key_id) = api.issue_listed_key("acme");
    let (status, body) = api.post("/v1/reorder-alerts/alert-a/acknowledge", &acme, json!({ "note": "on it" }));
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) =
        api.post("/v1/reorder-alerts/alert-b/snooze", &acme, json!({ "until": "2099-01-01T00:00:00Z" }));
    assert_eq!(status, StatusCode::OK, "{body}");
    drop(api);

    let rows = database.rows(
        "SELECT alert_id, coalesce(acknowledged_by, '-'), coalesce(note, '-'), coalesce(snoozed_until::text, '-')
         FROM alert_annotations ORDER BY alert_id",
    );
    assert_eq!(rows, [["alert-a", key_id.as_str(), "on it", "-"], ["alert-b", "-", "-", "4070908800000"]]);
    let audit = database
        .rows("SELECT actor, action, details->>'alert_id' FROM audit_log WHERE action LIKE 'alert.%' ORDER BY seq");
    assert_eq!(
        audit,
        [[key_id.as_str(), "alert.acknowledged", "alert-a"], [key_id.as_str(), "alert.snoozed", "alert-b"]]
    );

    // Restarted: the key and both actions are back.
    let api = over(opened(), Some(&database));
    let (status, open) = api.get("/v1/reorder-alerts", &acme);
    assert_eq!(status, StatusCode::OK, "{open}");
    assert_eq!(open["items"][0]["acknowledged_by"], key_id.as_str());
    assert_eq!(open["items"][0]["note"], "on it");
    assert_eq!(open["items"][1]["snoozed_until"], 4_070_908_800_000_i64);
    let (_, attention) = api.get("/v1/reorder-alerts?needs_attention=true", &acme);
    assert_eq!(ids(&attention), Vec::<&str>::new());
    drop(api);

    // With the sink's tables in the database: a row of an alert resolved longer ago than the
    // retention of resolved alerts (a day here) goes, and so does one the sink does not know.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(flowmart_postgres::migrate(&database.url())).expect("the sink's tables");
    let two_days_ago = now_ms() - 2 * 86_400_000;
    database.rows(&format!(
        "INSERT INTO reorder_alerts VALUES
           ('alert-a', 'acme', 'berlin', 'a', 'OPEN', 1, 5, 10, 1, NULL),
           ('alert-b', 'acme', 'berlin', 'b', 'RESOLVED', 9, 5, 10, 1, {two_days_ago})
         RETURNING alert_id"
    ));
    database.rows(
        "INSERT INTO alert_annotations (tenant_id, alert_id, note) VALUES ('acme', 'alert-z', 'gone') RETURNING note",
    );
    let api = over(opened(), Some(&database));
    let kept = database.rows("SELECT alert_id FROM alert_annotations ORDER BY alert_id");
    assert_eq!(kept, [["alert-a"]]);
    let (_, open) = api.get("/v1/reorder-alerts", &acme);
    assert_eq!((&open["items"][0]["note"], &open["items"][1]["snoozed_until"]), (&json!("on it"), &Value::Null));
}

fn sku_and_on_hand(events: &[Sse]) -> Vec<(String, i64)> {
    events
        .iter()
        .filter(|event| event.event == "stock")
        .map(|event| (event.data["sku"].as_str().unwrap().to_string(), event.data["on_hand"].as_i64().unwrap()))
        .collect()
}

#[test]
fn the_stock_stream_sends_the_current_items_then_each_change_and_resumes_after_the_last_event_id() {
    let mut api = start();
    let (acme, _) = api.issue_listed_key("acme");
    api.apply(stock_batch(
        1,
        2,
        vec![
            (position("acme", "berlin", "a"), Some(levels(1, 0, 0))),
            (position("acme", "berlin", "b"), Some(levels(2, 0, 0))),
            (position("acme", "paris", "a"), Some(levels(3, 0, 0))),
            (position("globex", "berlin", "a"), Some(levels(4, 0, 0))),
        ],
    ));

    let mut berlin = api.stream("/v1/stock/stream?warehouse_id=berlin", &acme, None);
    let current = api.read_until(&mut berlin, |events| events.len() >= 2);
    assert_eq!(sku_and_on_hand(&current), [("a".into(), 1), ("b".into(), 2)]);
    assert_eq!(current[0].id, None);
    assert_eq!(current[1].data["as_of"], 2);
    assert_eq!(current[1].data["available"], 2);
    let covered: u64 = current[1].id.as_deref().expect("the last current item carries an id").parse().unwrap();

    api.apply(stock_batch(
        2,
        3,
        vec![
            (position("acme", "berlin", "a"), Some(levels(10, 4, 0))),
            (position("acme", "paris", "a"), Some(levels(30, 0, 0))),
            (position("globex", "berlin", "a"), Some(levels(40, 0, 0))),
        ],
    ));
    let changed = api.read_until(&mut berlin, |events| !events.is_empty());
    assert_eq!(sku_and_on_hand(&changed), [("a".into(), 10)], "only acme's berlin: {changed:?}");
    assert_eq!((&changed[0].data["as_of"], &changed[0].data["available"]), (&json!(3), &json!(6)));
    let seen: u64 = changed[0].id.as_deref().unwrap().parse().unwrap();
    assert!(seen > covered);
    drop(berlin);

    // Changes while away are sent on reconnecting with the last id; nothing before it again.
    api.apply(stock_batch(3, 4, vec![(position("acme", "berlin", "b"), Some(levels(20, 0, 0)))]));
    api.apply(stock_batch(4, 5, vec![(position("acme", "berlin", "a"), None)]));
    let mut resumed = api.stream("/v1/stock/stream?warehouse_id=berlin", &acme, Some(&seen.to_string()));
    let missed = api.read_until(&mut resumed, |events| events.len() >= 2);
    assert_eq!(sku_and_on_hand(&missed), [("b".into(), 20), ("a".into(), 0)], "a position gone reads as zeros");
    let ids = missed.iter().map(|event| event.id.as_deref().unwrap().parse::<u64>().unwrap()).collect::<Vec<_>>();
    assert!(ids[0] > seen && ids[1] > ids[0], "{ids:?}");

    // An id this process never gave (an earlier run's) gets a reset and the current items.
    let mut stale = api.stream("/v1/stock/stream?sku=b", &acme, Some("12345"));
    let events = api.read_until(&mut stale, |events| events.len() >= 2);
    assert_eq!(events[0].event, "reset", "{events:?}");
    assert_eq!(sku_and_on_hand(&events[1..]), [("b".into(), 20)]);

    // Bad requests are 400s.
    for path in ["/v1/stock/stream?colour=red", "/v1/stock/stream?warehouse_id=berlin&warehouse_id=paris"] {
        let (status, body) = api.get(path, &acme);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
    }
    let request =
        api.client.get(format!("{}/v1/stock/stream", api.url)).bearer_auth(&acme).header("last-event-id", "x");
    assert_eq!(api.send(request).0, StatusCode::BAD_REQUEST);
}

#[test]
fn the_settlement_stream_filters_by_currency_and_a_session_that_lags_gets_a_reset_then_the_current_items() {
    let mut api = start();
    let (acme, _) = api.issue_listed_key("acme");
    let key = |currency: &str, day: i32| SettlementKey {
        tenant_id: "acme".into(),
        currency: Currency::parse(currency).unwrap(),
        settlement_date: SettlementDate(20_000 + day),
    };
    let totals = |captured: i64| SettlementTotals { captured, ..SettlementTotals::default() };
    let mut batch = ChangeBatch { lower: 1, upper: 2, ..ChangeBatch::default() };
    batch.changes.settlements = vec![(key("EUR", 0), Some(totals(100))), (key("USD", 0), Some(totals(7)))];
    api.apply(batch);
    let (status, body) = api.get("/v1/settlements/stream?currency=eur", &acme);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let mut euros = api.stream("/v1/settlements/stream?currency=EUR", &acme, None);
    let current = api.read_until(&mut euros, |events| !events.is_empty());
    assert_eq!(
        (current[0].event.as_str(), &current[0].data["captured"], &current[0].data["net"]),
        ("settlement", &json!(100), &json!(100))
    );
    assert_eq!(current[0].data["date"], SettlementDate(20_000).to_string());

    // A session that reads nothing while far more changes are made than are kept (65,536) falls
    // behind them: it is sent a reset and the items as they are, and goes on live from there.
    let mut lagging = api.stream("/v1/stock/stream", &acme, None);
    for round in 0..40_i64 {
        let stock =
            (0..5_000).map(|sku| (position("acme", "berlin", &format!("sku-{sku:05}")), Some(levels(round, 0, 0))));
        api.apply(stock_batch(2 + round as u64, 3 + round as u64, stock.collect()));
    }
    let mut batch = ChangeBatch { lower: 42, upper: 43, ..ChangeBatch::default() };
    batch.changes.settlements = vec![(key("EUR", 0), Some(totals(150))), (key("USD", 0), Some(totals(9)))];
    api.apply(batch);
    let changed = api.read_until(&mut euros, |events| !events.is_empty());
    assert_eq!((&changed[0].data["captured"], &changed[0].data["as_of"]), (&json!(150), &json!(43)));

    let events = api.read_until(&mut lagging, |events| {
        events.iter().any(|event| event.event == "reset")
            && events.last().is_some_and(|last| {
                last.event == "stock" && last.data["sku"] == "sku-04999" && last.data["on_hand"] == 39
            })
    });
    let reset = events.iter().position(|event| event.event == "reset").unwrap();
    let after_reset = sku_and_on_hand(&events[reset + 1..]);
    assert!(after_reset.len() >= 5_000, "the current items follow the reset: {}", after_reset.len());
}
