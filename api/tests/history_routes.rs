//! The history routes over real HTTP, in front of a pipeline fed by the seeded generator that
//! writes Postgres: every position's and settlement row's history adds up to what the API
//! serves, page by page, and to nothing for another tenant's key; 501 without a database; the
//! dashboard's history panel, in headless Chromium, listing the same rows.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use flowmart_api::webhooks::Webhooks;
use flowmart_api::{AdminToken, ApiKeys, ApiState, HttpSettings, RateLimits, Store};
use flowmart_generator::{Generator, GeneratorConfig};
use flowmart_postgres::PostgresSink;
use flowmart_runtime::{Pipeline, RuntimeConfig, Sink, Topics};
use flowmart_schemas::Retention;
use flowmart_serving::ServingIndex;
use flowmart_testkit::TestDatabase;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use reqwest::StatusCode;
use serde_json::{Value, json};

mod browser;
use browser::Chromium;

const ADMIN_TOKEN: &str = "test-admin-token";

fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().expect("one recorder per test process")).clone()
}

struct Service {
    url: String,
    client: reqwest::Client,
    pipeline: Option<Pipeline>,
    runtime: tokio::runtime::Runtime,
}

impl Service {
    /// The API on a free loopback port over `sinks` (the serving index's writer last) fed by
    /// `generator`, reading history from `database` when given.
    fn start(generator: GeneratorConfig, database: Option<&TestDatabase>) -> Service {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (index, writer) = ServingIndex::new(u64::MAX);
        let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
        if let Some(database) = database {
            let (sink, _) = PostgresSink::open(&database.url(), Topics::default(), Retention::default(), u64::MAX)
                .expect("postgres");
            sinks.push(Box::new(sink));
        }
        sinks.push(Box::new(writer));
        let pipeline = Pipeline::start(
            RuntimeConfig { workers: 2, ..RuntimeConfig::default() },
            Arc::new(Generator::new(generator)),
            sinks,
        )
        .expect("pipeline starts");
        let generous = NonZeroU32::new(100_000).unwrap();
        let store = database.map(|database| runtime.block_on(Store::open(&database.url())).expect("the api's store"));
        let state = ApiState {
            index: index.clone(),
            keys: Arc::new(ApiKeys::new()),
            admin_token: Arc::new(AdminToken::new(ADMIN_TOKEN)),
            topics: Topics::default(),
            metrics: metrics(),
            limits: Arc::new(RateLimits::new(generous, generous)),
            webhooks: Arc::new(Webhooks::new(index)),
            audit: None,
            cluster: None,
            pipeline: Some(Arc::clone(pipeline.status())),
            http: HttpSettings::default(),
            database: store,
            sessions: Default::default(),
        };
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(flowmart_api::serve(listener, state, std::future::pending()));
        Service { url, client: reqwest::Client::new(), pipeline: Some(pipeline), runtime }
    }

    fn get(&self, path: &str, bearer: &str) -> (StatusCode, Value) {
        self.runtime.block_on(async {
            let response =
                self.client.get(format!("{}{path}", self.url)).bearer_auth(bearer).send().await.expect("answers");
            let status = response.status();
            (status, response.json::<Value>().await.expect("JSON"))
        })
    }

    fn issue_key(&self, tenant_id: &str) -> String {
        self.runtime.block_on(async {
            let response = self
                .client
                .post(format!("{}/v1/admin/tenants/{tenant_id}/api-keys", self.url))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .expect("answers");
            let body = response.json::<Value>().await.expect("JSON");
            body["api_key"].as_str().expect("a key").to_string()
        })
    }

    /// Every item of a history route, page by page (`limit` a page); checks each page's `as_of`.
    fn whole_history(&self, path: &str, key: &str, limit: usize) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = match &cursor {
                Some(cursor) => format!("{path}?limit={limit}&cursor={cursor}"),
                None => format!("{path}?limit={limit}"),
            };
            let (status, body) = self.get(&page, key);
            assert_eq!(status, StatusCode::OK, "{page}: {body}");
            let page_items = body["items"].as_array().expect("items");
            assert!(page_items.len() <= limit, "{page}");
            items.extend(page_items.iter().cloned());
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return items,
            }
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(pipeline) = self.pipeline.take() {
            pipeline.stop().expect("pipeline stops cleanly");
        }
    }
}

fn generator_config() -> GeneratorConfig {
    GeneratorConfig {
        seed: 23,
        tenants: 3,
        partitions: 3,
        skus_per_tenant: 15,
        records_per_second: None,
        max_records: Some(6_000),
        fault_ratio: 0.01,
        ..GeneratorConfig::default()
    }
}

/// Waits until every record the generator makes is covered by the served results: the serving
/// index is the last sink, so Postgres has committed them too.
fn settled(service: &Service, generator: &GeneratorConfig) {
    let mut expected = BTreeMap::<String, BTreeMap<String, u64>>::new();
    let topics = Topics::default();
    for record in Generator::new(generator.clone()).records() {
        let partitions = expected.entry(topics.name(record.topic).to_string()).or_default();
        let next = partitions.entry(record.partition.to_string()).or_default();
        *next = (*next).max(record.offset + 1);
    }
    let expected = serde_json::to_value(expected).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, progress) = service.get("/v1/admin/progress", ADMIN_TOKEN);
        assert_eq!(status, StatusCode::OK, "{progress}");
        if progress["sources"] == expected {
            return;
        }
        assert!(Instant::now() < deadline, "the pipeline did not catch up: {progress}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Asserts that what another tenant's key got for `path` (that tenant's own position or
/// settlement of the same name, if it has one) holds none of the records of `history`.
fn assert_none_shown(foreign: &[Value], history: &[Value], path: &str) {
    let source = |row: &Value| (row["topic"].to_string(), row["partition"].to_string(), row["offset"].to_string());
    let ours = history.iter().map(source).collect::<std::collections::BTreeSet<_>>();
    assert!(foreign.iter().all(|row| !ours.contains(&source(row))), "{path} through another tenant's key: {foreign:?}");
}

#[test]
fn every_history_sums_to_what_the_api_serves_and_another_tenants_key_sees_none_of_it() {
    let database = TestDatabase::create();
    let config = generator_config();
    let tenants = Generator::new(config.clone()).tenant_ids();
    let service = Service::start(config.clone(), Some(&database));
    let keys = tenants.iter().map(|tenant| service.issue_key(tenant)).collect::<Vec<_>>();
    settled(&service, &config);

    let (mut positions, mut settlements) = (0, 0);
    for (tenant, key) in tenants.iter().zip(&keys) {
        let other_key = keys.iter().find(|other| *other != key).expect("another tenant");
        let (_, stock) = service.get("/v1/stock?limit=5000", key);
        for item in stock["items"].as_array().expect("items") {
            let path = format!(
                "/v1/stock/{}/{}/history",
                item["warehouse_id"].as_str().unwrap(),
                item["sku"].as_str().unwrap()
            );
            // Short pages for some positions, so paging itself is checked.
            let limit = if positions % 5 == 0 { 3 } else { 1_000 };
            let history = service.whole_history(&path, key, limit);
            assert!(!history.is_empty(), "{tenant} {path}: a position the API serves has a history");
            for (field, delta) in
                [("on_hand", "on_hand_delta"), ("reserved", "reserved_delta"), ("on_order", "on_order_delta")]
            {
                let sum = history.iter().map(|row| row[delta].as_i64().unwrap()).sum::<i64>();
                assert_eq!(sum, item[field].as_i64().unwrap(), "{tenant} {path}: {delta} sums to {field}");
            }
            let order = history
                .iter()
                .map(|row| {
                    let topic = row["topic"].as_str().map(str::to_string);
                    (row["applied_at"].as_i64(), row["partition"].as_i64(), row["offset"].as_i64(), topic)
                })
                .collect::<Vec<_>>();
            assert!(order.windows(2).all(|pair| pair[0] < pair[1]), "{path}: oldest first, each record once");
            assert_none_shown(&service.whole_history(&path, other_key, 5_000), &history, &path);
            positions += 1;
        }
        let (_, totals) = service.get("/v1/settlements", key);
        for item in totals["items"].as_array().expect("items") {
            let path = format!(
                "/v1/settlements/{}/{}/history",
                item["currency"].as_str().unwrap(),
                item["date"].as_str().unwrap()
            );
            let history = service.whole_history(&path, key, 1_000);
            let mut sums = BTreeMap::<String, i64>::new();
            for row in &history {
                *sums.entry(row["kind"].as_str().unwrap().to_string()).or_default() +=
                    row["amount_minor"].as_i64().unwrap();
            }
            for (field, kind) in [
                ("captured", "CAPTURED"),
                ("refunded", "REFUNDED"),
                ("chargebacks", "CHARGEBACK"),
                ("fees", "FEE"),
                ("payouts", "PAYOUT"),
                ("authorized", "AUTHORIZED"),
            ] {
                let sum = sums.get(kind).copied().unwrap_or_default();
                assert_eq!(sum, item[field].as_i64().unwrap(), "{tenant} {path}: {kind} sums to {field}");
            }
            assert_none_shown(&service.whole_history(&path, other_key, 5_000), &history, &path);
            settlements += 1;
        }
    }
    assert!(positions > 30 && settlements >= 3, "the workload covers {positions} positions, {settlements} settlements");
}

#[test]
fn history_routes_answer_501_without_a_database_and_400_for_a_bad_key_or_cursor() {
    let service = Service::start(GeneratorConfig { max_records: Some(100), ..generator_config() }, None);
    let tenant = Generator::new(generator_config()).tenant_ids()[0].to_string();
    let key = service.issue_key(&tenant);
    for path in ["/v1/stock/berlin/SKU-1/history", "/v1/settlements/EUR/2026-01-05/history"] {
        let (status, body) = service.get(path, &key);
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{path}: {body}");
        assert!(body["error"].as_str().unwrap().contains("Postgres"), "{body}");
        let (status, _) = service.get(path, "fmk_wrong");
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    for bad in [
        "/v1/settlements/euro/2026-01-05/history",
        "/v1/settlements/EUR/2026-13-05/history",
        "/v1/stock/berlin/SKU-1/history?cursor=zz",
        "/v1/stock/berlin/SKU-1/history?limit=0",
    ] {
        let (status, body) = service.get(bad, &key);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (_, document) = service.get("/openapi.json", &key);
    for path in ["/v1/stock/{warehouse_id}/{sku}/history", "/v1/settlements/{currency}/{date}/history"] {
        assert!(document["paths"][path]["get"].is_object(), "{path} in the OpenAPI document");
    }
}

/// The integer a dashboard cell shows, whatever its grouping and decimal marks (amounts are minor
/// units written in major units, with the currency's fixed number of decimals).
fn shown_integer(text: &str) -> i64 {
    let digits = text.chars().filter(char::is_ascii_digit).collect::<String>();
    let magnitude = digits.parse::<i64>().unwrap_or_else(|_| panic!("a number: {text:?}"));
    if text.contains(['-', '\u{2212}']) { -magnitude } else { magnitude }
}

/// The cells of every row of the table body `selector`, as text.
fn table(browser: &mut Chromium, selector: &str) -> Vec<Vec<String>> {
    let shown = browser.eval(&format!(
        "JSON.stringify([...document.querySelectorAll('{selector} tr')].map(row => [...row.cells].map(cell => cell.textContent)))"
    ));
    serde_json::from_str(shown.as_str().expect("JSON text")).expect("rows of cells")
}

/// Clicks the row of `tbody` whose `data-{attribute}` is `value`, waits for the history panel to
/// list its records, checks that the panel came into view and returns them with the panel's
/// column names.
fn open_history(browser: &mut Chromium, tbody: &str, attribute: &str, value: &str) -> (Vec<String>, Vec<Vec<String>>) {
    browser.eval(&format!("document.querySelector('#{tbody} tr[data-{attribute}=\"{value}\"]').click()"));
    browser.wait_for(
        "/^\\d+ records/.test(document.getElementById('history-note').textContent)",
        &format!("the history panel of {value}"),
    );
    let in_view = "(() => { const top = document.getElementById('history').getBoundingClientRect().top; \
                   return top >= 0 && top < innerHeight / 2; })()";
    assert_eq!(browser.eval(in_view), Value::Bool(true), "the history panel of {value} scrolled into view");
    let head =
        browser.eval("JSON.stringify([...document.querySelectorAll('#history-head th')].map(th => th.textContent))");
    let head = serde_json::from_str(head.as_str().expect("JSON text")).expect("column names");
    (head, table(browser, "#history-rows"))
}

/// The column named `name` of `rows`, as integers.
fn column(head: &[String], rows: &[Vec<String>], name: &str) -> Vec<i64> {
    let at = head.iter().position(|column| column == name).unwrap_or_else(|| panic!("a column {name}: {head:?}"));
    rows.iter().map(|row| shown_integer(&row[at])).collect()
}

#[test]
fn clicking_a_stock_or_settlement_row_on_the_dashboard_lists_its_history_summing_to_the_row() {
    let database = TestDatabase::create();
    let config = generator_config();
    let tenant = Generator::new(config.clone()).tenant_ids()[0].to_string();
    let service = Service::start(config.clone(), Some(&database));
    let key = service.issue_key(&tenant);
    settled(&service, &config);

    let mut browser = Chromium::start();
    browser.call("Page.navigate", json!({ "url": format!("{}/", service.url) }));
    browser.wait_for("document.readyState === 'complete' && !!document.getElementById('key')", "the page loading");
    browser.eval(&format!(
        "document.getElementById('key').value = '{key}'; document.getElementById('signin-button').click()"
    ));
    browser.wait_for("document.querySelectorAll('#stock tr').length > 0", "the stock table filling");
    browser.wait_for("document.querySelectorAll('#settlements tr').length > 0", "the settlements table filling");

    // A position with stock on hand: its history's deltas add up to what its row shows.
    let stock = table(&mut browser, "#stock");
    let row = stock.iter().find(|row| shown_integer(&row[2]) != 0).expect("a position with stock on hand");
    let position = format!("{}/{}", row[0], row[1]);
    let (head, history) = open_history(&mut browser, "stock", "position", &position);
    let title = browser.eval("document.getElementById('history-title').textContent");
    assert!(title.as_str().unwrap().contains(&row[1]), "{title}");
    let served = service.whole_history(&format!("/v1/stock/{position}/history"), &key, 1_000);
    assert_eq!(history.len(), served.len(), "{position}: the panel lists every record of its history");
    for (name, at) in [("on hand Δ", 2), ("reserved Δ", 3), ("on order Δ", 4)] {
        let sum = column(&head, &history, name).iter().sum::<i64>();
        assert_eq!(sum, shown_integer(&row[at]), "{position}: the panel's {name} sums to the row's");
    }
    browser.screenshot(&std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("history-panel-stock.png"));

    // The settlement row with the most figures: its payments, by kind, add up to the row's
    // captured, refunded and fees, and make its net.
    let settlements = table(&mut browser, "#settlements");
    let figures = |row: &Vec<String>| row[2..6].iter().filter(|cell| shown_integer(cell) != 0).count();
    let row = settlements.iter().max_by_key(|row| figures(row)).expect("a settlement row");
    let settlement = format!("{}/{}", row[1], row[0]);
    let (head, history) = open_history(&mut browser, "settlements", "settlement", &settlement);
    let served = service.whole_history(&format!("/v1/settlements/{settlement}/history"), &key, 1_000);
    assert_eq!(history.len(), served.len(), "{settlement}: the panel lists every payment");
    let kinds = history.iter().map(|line| line[1].clone()).collect::<Vec<_>>();
    let amounts = column(&head, &history, "amount");
    let sum = |kind: &str| {
        kinds.iter().zip(&amounts).filter(|(shown, _)| *shown == kind).map(|(_, amount)| amount).sum::<i64>()
    };
    for (kind, at) in [("CAPTURED", 2), ("REFUNDED", 3), ("FEE", 4)] {
        assert_eq!(sum(kind), shown_integer(&row[at]), "{settlement}: the panel's {kind} payments sum to the row's");
    }
    let net = sum("CAPTURED") - sum("REFUNDED") - sum("CHARGEBACK") - sum("FEE");
    assert_eq!(net, shown_integer(&row[5]), "{settlement}: the panel's payments make the row's net");
    browser.screenshot(&std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("history-panel-settlement.png"));
}
