//! The history routes over real HTTP, in front of a pipeline fed by the seeded generator that
//! writes Postgres: every position's and settlement row's history adds up to what the API
//! serves, page by page, and to nothing for another tenant's key; 501 without a database; the
//! dashboard's history panel, in headless Chromium, listing the same rows.

use std::collections::BTreeMap;
use std::sync::Arc;

use flowmart_api::Store;
use flowmart_generator::{Generator, GeneratorConfig};
use flowmart_postgres::PostgresSink;
use flowmart_runtime::{Pipeline, RuntimeConfig, Sink, Topics};
use flowmart_schemas::Retention;
use flowmart_serving::ServingIndex;
use flowmart_testkit::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};

mod browser;
use browser::Chromium;

mod support;
use support::{Api, State};

/// The API on a free loopback port over a pipeline fed by `generator`, writing Postgres before the
/// serving index when `database` is given (so what the API serves is committed there too), and
/// reading history from it.
fn start(generator: GeneratorConfig, database: Option<&TestDatabase>) -> Api {
    let runtime = support::runtime();
    let (index, writer) = ServingIndex::new(u64::MAX);
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if let Some(database) = database {
        let (sink, _) =
            PostgresSink::open(&database.url(), Topics::default(), Retention::default(), u64::MAX).expect("postgres");
        sinks.push(Box::new(sink));
    }
    sinks.push(Box::new(writer));
    let pipeline = Pipeline::start(
        RuntimeConfig { workers: 2, ..RuntimeConfig::default() },
        Arc::new(Generator::new(generator)),
        sinks,
    )
    .expect("pipeline starts");
    let store = database.map(|database| runtime.block_on(Store::open(&database.url())).expect("the api's store"));
    Api::serve(runtime, State::new(index).pipeline(pipeline).database(store))
}

impl Api {
    /// GETs `path` with `bearer`: an answer that must be JSON, whatever its status.
    fn get_json(&self, path: &str, bearer: &str) -> (StatusCode, Value) {
        let (status, body) = self.get(path, bearer);
        assert!(!body.is_string(), "{path}: JSON, not {body}");
        (status, body)
    }

    /// Every item of a history route, page by page (`limit` a page).
    fn whole_history(&self, path: &str, key: &str, limit: usize) -> Vec<Value> {
        let pages = self.pages(&format!("{path}?limit={limit}"), key);
        assert!(pages.iter().all(|page| page.len() <= limit), "{path}");
        pages.concat()
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
    let service = start(config.clone(), Some(&database));
    let keys = tenants.iter().map(|tenant| service.issue_key(tenant)).collect::<Vec<_>>();
    service.wait_for_workload(&config);

    let (mut positions, mut settlements) = (0, 0);
    for (tenant, key) in tenants.iter().zip(&keys) {
        let other_key = keys.iter().find(|other| *other != key).expect("another tenant");
        let (_, stock) = service.get_json("/v1/stock?limit=5000", key);
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
        let (_, totals) = service.get_json("/v1/settlements", key);
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
    let service = start(GeneratorConfig { max_records: Some(100), ..generator_config() }, None);
    let tenant = Generator::new(generator_config()).tenant_ids()[0].to_string();
    let key = service.issue_key(&tenant);
    for path in ["/v1/stock/berlin/SKU-1/history", "/v1/settlements/EUR/2026-01-05/history"] {
        let (status, body) = service.get_json(path, &key);
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{path}: {body}");
        assert!(body["error"].as_str().unwrap().contains("Postgres"), "{body}");
        let (status, _) = service.get_json(path, "fmk_wrong");
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    for bad in [
        "/v1/settlements/euro/2026-01-05/history",
        "/v1/settlements/EUR/2026-13-05/history",
        "/v1/stock/berlin/SKU-1/history?cursor=zz",
        "/v1/stock/berlin/SKU-1/history?limit=0",
    ] {
        let (status, body) = service.get_json(bad, &key);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (_, document) = service.get_json("/openapi.json", &key);
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
    let service = start(config.clone(), Some(&database));
    let key = service.issue_key(&tenant);
    service.wait_for_workload(&config);

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
