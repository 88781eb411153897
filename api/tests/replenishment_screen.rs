//! The replenishment screen (`GET /`) in headless Chromium, in front of a real pipeline fed by the
//! seeded generator and then by records the test adds: the table of open alerts shows what the API
//! lists; acknowledging or snoozing an alert takes it out of "needs attention" on the page and in
//! the API; a new receipt changes the stock and the alert on the page without a reload; money is
//! formatted in its currency; each CSV export holds the rows of the view it exports.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use flowmart_generator::{Generator, GeneratorConfig};
use flowmart_runtime::{Pipeline, PollStatus, RuntimeConfig, Source, SourceError, SourceReader, SourceRecord, Waker};
use flowmart_schemas::{InputRecord, InputTopic, InventoryEvent, InventoryKind, PaymentEvent, PaymentKind};
use flowmart_serving::ServingIndex;
use flowmart_testkit::OCCURRED_AT;
use reqwest::StatusCode;
use serde_json::{Value, json};

mod browser;
use browser::Chromium;

mod support;
use support::{Api, State};

/// The partition the test's own records go to: the generator writes partitions `0..4`.
const ADDED_PARTITION: u32 = 4;

/// Records the test adds while the pipeline runs, and the waker of the worker that reads them.
#[derive(Default)]
struct Added {
    records: Mutex<VecDeque<SourceRecord>>,
    waker: Mutex<Option<Waker>>,
    next_offset: Mutex<u64>,
}

impl Added {
    fn add(&self, topic: InputTopic, tenant_id: &str, record: InputRecord) {
        let mut next_offset = self.next_offset.lock().unwrap();
        let offset = *next_offset;
        *next_offset += 1;
        self.records.lock().unwrap().push_back(SourceRecord {
            topic,
            partition: ADDED_PARTITION,
            offset,
            key: Some(tenant_id.as_bytes().to_vec()),
            raw_value: None,
            decoded: Ok(record),
        });
        if let Some(wake) = self.waker.lock().unwrap().as_ref() {
            wake();
        }
    }
}

/// The generator's bounded workload, then, for as long as the pipeline runs, what the test adds.
struct GeneratedThenAdded {
    generator: Generator,
    added: Arc<Added>,
}

struct Reader {
    generated: Option<Box<dyn SourceReader>>,
    added: Arc<Added>,
}

impl Source for GeneratedThenAdded {
    fn reader(&self, worker: usize, workers: usize) -> Result<Box<dyn SourceReader>, SourceError> {
        assert_eq!((worker, workers), (0, 1), "one worker reads everything");
        let generated = self.generator.reader(worker, workers)?;
        Ok(Box::new(Reader { generated: Some(generated), added: Arc::clone(&self.added) }))
    }
}

impl SourceReader for Reader {
    fn poll(&mut self, max_records: usize, into: &mut Vec<SourceRecord>) -> PollStatus {
        if let Some(generated) = &mut self.generated {
            match generated.poll(max_records, into) {
                PollStatus::Exhausted => self.generated = None,
                status => return status,
            }
        }
        let mut added = self.added.records.lock().unwrap();
        let count = added.len().min(max_records);
        into.extend(added.drain(..count));
        if count > 0 { PollStatus::Ready } else { PollStatus::IdleUntil(Instant::now() + Duration::from_millis(50)) }
    }

    fn set_waker(&mut self, waker: Waker) {
        *self.added.waker.lock().unwrap() = Some(waker);
    }
}

/// A one-worker pipeline over `generator` (then what the test adds) and the API on a free loopback
/// port; the records the test adds.
fn start(generator: GeneratorConfig) -> (Api, Arc<Added>) {
    let (index, writer) = ServingIndex::new(u64::MAX);
    let added = Arc::new(Added::default());
    let source = GeneratedThenAdded { generator: Generator::new(generator), added: Arc::clone(&added) };
    let pipeline = Pipeline::start(
        RuntimeConfig { workers: 1, ..RuntimeConfig::default() },
        Arc::new(source),
        vec![Box::new(writer)],
    )
    .expect("pipeline starts");
    (Api::serve(support::runtime(), State::new(index).pipeline(pipeline)), added)
}

impl Api {
    /// GETs `path` with `bearer`: the body of an answer that must be 200.
    fn get_ok(&self, path: &str, bearer: &str) -> Value {
        let (status, body) = self.get(path, bearer);
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    fn items(&self, path: &str, key: &str) -> Vec<Value> {
        let body = self.get_ok(path, key);
        assert!(body["next_cursor"].is_null(), "{path}: one page holds them all");
        body["items"].as_array().expect("items").clone()
    }
}

fn generator_config() -> GeneratorConfig {
    GeneratorConfig {
        seed: 11,
        tenants: 4,
        partitions: 4,
        skus_per_tenant: 40,
        records_per_second: None,
        max_records: Some(20_000),
        fault_ratio: 0.01,
        ..GeneratorConfig::default()
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// `text` as a JavaScript string literal.
fn js(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// The integer a cell shows, whatever its grouping, decimal mark or currency (amounts are minor
/// units written in major units with the currency's fixed decimals); `None` for "—".
fn shown_integer(text: &str) -> Option<i64> {
    if text.trim() == "—" {
        return None;
    }
    let digits = text.chars().filter(char::is_ascii_digit).collect::<String>();
    let magnitude = digits.parse::<i64>().unwrap_or_else(|_| panic!("a number: {text:?}"));
    Some(if text.contains(['-', '\u{2212}']) { -magnitude } else { magnitude })
}

/// The cells of every row of `tbody`, as text.
fn table(browser: &mut Chromium, tbody: &str) -> Vec<Vec<String>> {
    let shown = browser.eval(&format!(
        "JSON.stringify([...document.querySelectorAll('#{tbody} tr')].map(row => [...row.cells].map(cell => cell.textContent)))"
    ));
    serde_json::from_str(shown.as_str().expect("JSON text")).expect("rows of cells")
}

/// The `data-alert` of every row of the replenishment table, in order.
fn shown_alert_ids(browser: &mut Chromium) -> Vec<String> {
    let shown =
        browser.eval("JSON.stringify([...document.querySelectorAll('#alerts tr')].map(row => row.dataset.alert))");
    serde_json::from_str(shown.as_str().expect("JSON text")).expect("alert ids")
}

/// A JavaScript expression: the replenishment row of `alert_id`, or undefined.
fn alert_row(alert_id: &str) -> String {
    format!("[...document.querySelectorAll('#alerts tr')].find(row => row.dataset.alert === {})", js(alert_id))
}

/// A CSV text as rows of fields (the page quotes fields with commas, quotes or line breaks).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field, mut quoted, mut chars) = (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(char) = chars.next() {
        match (quoted, char) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, _) => field.push(char),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, _) => field.push(char),
        }
    }
    assert!(field.is_empty() && row.is_empty(), "the CSV ends with a line break");
    rows
}

/// The CSV the page builds with `function` (e.g. `stockCsv`), as rows after its header.
fn csv(browser: &mut Chromium, function: &str, header: &[&str]) -> Vec<Vec<String>> {
    let text = browser.eval(&format!("{function}()"));
    let mut rows = parse_csv(text.as_str().expect("CSV text"));
    assert_eq!(rows.remove(0), header, "{function}: the header");
    rows
}

/// What clicking the export button `button` downloads, without its byte-order mark.
fn downloaded(browser: &mut Chromium, button: &str) -> String {
    let expression = format!(
        "(() => {{ const original = URL.createObjectURL; let blob = null; \
           URL.createObjectURL = (object) => {{ blob = object; return original(object); }}; \
           try {{ document.getElementById('{button}').click(); }} finally {{ URL.createObjectURL = original; }} \
           if (blob.type !== 'text/csv;charset=utf-8') throw new Error(blob.type); \
           return blob.arrayBuffer().then(bytes => new TextDecoder('utf-8', {{ ignoreBOM: true }}).decode(bytes)); }})()"
    );
    let result = browser
        .call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }));
    let text = result["result"]["value"].as_str().unwrap_or_else(|| panic!("a downloaded text: {result}"));
    text.strip_prefix('\u{feff}').expect("a byte-order mark, for spreadsheets").to_string()
}

fn optional(value: &Value) -> String {
    if value.is_null() { String::new() } else { value.to_string() }
}

#[test]
fn acting_on_alerts_takes_them_out_of_needs_attention_and_stock_changes_show_live_in_headless_chromium() {
    let config = generator_config();
    let tenant = Generator::new(config.clone()).tenant_ids()[0].to_string();
    let (service, added) = start(config.clone());
    let key = service.issue_key(&tenant);
    service.wait_for_workload(&config);

    let needing = service.items("/v1/reorder-alerts?status=open&needs_attention=true&limit=5000", &key);
    assert!(needing.len() >= 4, "the workload leaves alerts open for {tenant}: {needing:?}");

    let mut browser = Chromium::start();
    browser.call("Page.navigate", json!({ "url": format!("{}/", service.url) }));
    browser.wait_for("document.readyState === 'complete' && !!document.getElementById('key')", "the page loading");
    browser.eval(&format!(
        "document.getElementById('key').value = {}; document.getElementById('signin-button').click()",
        js(&key)
    ));
    browser.wait_for(
        &format!("document.querySelectorAll('#alerts tr').length === {}", needing.len()),
        "the replenishment table listing the alerts that need attention",
    );
    browser.wait_for("document.querySelectorAll('#stock tr').length > 0", "the stock table filling");
    browser.wait_for("document.querySelectorAll('#settlements tr').length > 0", "the settlements table filling");
    browser.wait_for("document.getElementById('freshness').textContent.startsWith('as of')", "the freshness line");
    // Set once: still there at the end means every change below came without a reload.
    browser.eval("window.signedInOnce = true");

    // The replenishment table is the API's list of alerts needing attention, in its order (most
    // urgent first), each row with the position now and the policy's figures.
    let ids = needing.iter().map(|alert| alert["alert_id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(shown_alert_ids(&mut browser), ids, "the table's alerts, most urgent first");
    let rows = table(&mut browser, "alerts");
    for (row, alert) in rows.iter().zip(&needing) {
        assert_eq!(row[0], alert["warehouse_id"].as_str().unwrap(), "{alert}");
        assert_eq!(row[1], alert["sku"].as_str().unwrap(), "{alert}");
        let fields =
            ["on_hand", "reserved", "on_order", "projected", "reorder_point", "max_level", "suggested_quantity"];
        for (at, field) in fields.iter().enumerate() {
            assert_eq!(shown_integer(&row[2 + at]), alert[field].as_i64(), "{field} of {alert}: {row:?}");
        }
        match alert["lead_time_days"].as_i64() {
            Some(days) => assert_eq!(row[9], format!("{days} d"), "{alert}"),
            None => assert_eq!(row[9], "—", "{alert}"),
        }
        assert!(row[10].starts_with("Needs attention"), "{row:?}");
    }
    let summary = browser.eval("document.getElementById('kpi-attention').textContent");
    assert_eq!(summary, json!(needing.len().to_string()));

    // Money is shown in its currency, from minor units: a symbol, the currency's two decimals, the
    // API's integer — never the raw integer.
    let settlements = service.items("/v1/settlements", &key);
    let shown = table(&mut browser, "settlements");
    assert_eq!(shown.len(), settlements.len(), "one row per day and currency");
    for row in &shown {
        let served = settlements
            .iter()
            .find(|item| item["currency"] == row[1].as_str() && item["date"] == row[0].as_str())
            .unwrap_or_else(|| panic!("a served settlement row for {row:?}"));
        for (at, field) in [(2, "captured"), (3, "refunded"), (4, "fees"), (5, "net")] {
            let text = &row[at];
            let minor = served[field].as_i64().unwrap();
            assert_eq!(shown_integer(text), Some(minor), "{field} of {row:?}");
            // The symbol may come after the number in some locales.
            let number = text.trim_end_matches(|char: char| !char.is_ascii_digit());
            let decimals = number.chars().rev().take_while(char::is_ascii_digit).count();
            assert_eq!(decimals, 2, "{field} {text:?}: the currency's two decimals");
            assert!(number.chars().rev().nth(2).is_some_and(|mark| mark == '.' || mark == ','), "{text:?}");
            assert!(text.chars().any(|char| ['€', '$', '£'].contains(&char)), "{text:?}: the currency's symbol");
            assert_ne!(text, &minor.to_string(), "not raw minor units");
        }
    }
    assert!(browser.eval("document.querySelectorAll('#chart rect.bar').length").as_u64().unwrap() > 0, "the chart");
    let legend = browser.eval("document.getElementById('legend').textContent");
    let currency = settlements[0]["currency"].as_str().unwrap();
    assert!(legend.as_str().unwrap().contains(currency), "the legend names {currency}: {legend}");

    // Acknowledge the most urgent alert with a note: it leaves the table and the API's list.
    let acknowledged = ids[0].clone();
    browser.eval(&format!("{}.querySelector('[data-action=ack]').click()", alert_row(&acknowledged)));
    browser.wait_for("document.getElementById('ack-dialog').open", "the acknowledge dialog");
    browser.eval(
        "document.getElementById('ack-note').value = 'PO 4711 placed'; document.getElementById('ack-confirm').click()",
    );
    browser.wait_for(
        &format!("!{} && !document.getElementById('ack-dialog').open", alert_row(&acknowledged)),
        "the acknowledged alert leaving the table",
    );

    // Snooze the next one for a day.
    let snoozed = ids[1].clone();
    browser.eval(&format!("{}.querySelector('[data-action=snooze]').click()", alert_row(&snoozed)));
    browser.wait_for("document.getElementById('snooze-dialog').open", "the snooze dialog");
    let before = now_ms();
    browser.eval(
        "document.querySelector('input[name=snooze-for][value=\"86400000\"]').click(); \
         document.getElementById('snooze-note').value = 'supplier ships Monday'; \
         document.getElementById('snooze-confirm').click()",
    );
    browser.wait_for(
        &format!("!{} && !document.getElementById('snooze-dialog').open", alert_row(&snoozed)),
        "the snoozed alert leaving the table",
    );
    let after = now_ms();
    assert_eq!(shown_alert_ids(&mut browser), ids[2..], "the others stay, in order");

    // A colleague acknowledges the next one through the API: it leaves this page live (the alert
    // stream carries the acknowledgement).
    let by_colleague = ids[2].clone();
    let (status, body) = service.post(
        &format!("/v1/reorder-alerts/{by_colleague}/acknowledge"),
        &key,
        json!({ "note": "done by a colleague" }),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    browser.wait_for(&format!("!{}", alert_row(&by_colleague)), "a colleague's acknowledgement arriving live");
    assert_eq!(shown_alert_ids(&mut browser), ids[3..], "the others stay, in order");

    let needing_now = service.items("/v1/reorder-alerts?status=open&needs_attention=true&limit=5000", &key);
    let needing_ids = needing_now.iter().map(|alert| alert["alert_id"].as_str().unwrap()).collect::<Vec<_>>();
    assert!(!needing_ids.contains(&acknowledged.as_str()), "acknowledged: not in needs_attention");
    assert!(!needing_ids.contains(&snoozed.as_str()), "snoozed: not in needs_attention");
    assert_eq!(needing_ids, ids[3..], "the API's list agrees with the page");
    let open = service.items("/v1/reorder-alerts?status=open&limit=5000", &key);
    let find =
        |id: &str| open.iter().find(|alert| alert["alert_id"] == id).unwrap_or_else(|| panic!("{id} open")).clone();
    let (ack_item, snooze_item) = (find(&acknowledged), find(&snoozed));
    assert_eq!(ack_item["note"], "PO 4711 placed", "{ack_item}");
    assert!(
        ack_item["acknowledged_at"].as_u64().is_some_and(|at| (before - 60_000..=after).contains(&at)),
        "{ack_item}"
    );
    assert!(ack_item["acknowledged_by"].is_string(), "{ack_item}");
    assert_eq!(snooze_item["note"], "supplier ships Monday", "{snooze_item}");
    let until = snooze_item["snoozed_until"].as_u64().expect("snoozed_until");
    let day = 86_400_000;
    assert!((before + day - 1_000..=after + day).contains(&until), "snoozed for a day: {snooze_item}");

    // Without the filter the table shows every open alert, with what was done to each.
    browser.eval("document.getElementById('needs-attention').click()");
    browser.wait_for(&format!("document.querySelectorAll('#alerts tr').length === {}", open.len()), "every open alert");
    let status = |browser: &mut Chromium, id: &str| browser.eval(&format!("{}.cells[10].textContent", alert_row(id)));
    let acknowledged_status = status(&mut browser, &acknowledged);
    assert!(acknowledged_status.as_str().unwrap().starts_with("Acknowledged"), "{acknowledged_status}");
    assert!(acknowledged_status.as_str().unwrap().contains("PO 4711 placed"), "{acknowledged_status}");
    let snoozed_status = status(&mut browser, &snoozed);
    assert!(snoozed_status.as_str().unwrap().starts_with("Snoozed"), "{snoozed_status}");

    // The replenishment CSV holds this view's rows, in its order, with the API's figures; the
    // export button downloads exactly that.
    let header = [
        "alert_id",
        "warehouse_id",
        "sku",
        "on_hand",
        "reserved",
        "on_order",
        "projected",
        "reorder_point",
        "max_level",
        "suggested_quantity",
        "lead_time_days",
        "state",
        "acknowledged_at",
        "acknowledged_by",
        "snoozed_until",
        "note",
        "opened_at",
    ];
    let exported = csv(&mut browser, "alertsCsv", &header);
    let in_view = shown_alert_ids(&mut browser);
    assert_eq!(exported.iter().map(|row| row[0].clone()).collect::<Vec<_>>(), in_view, "the CSV's rows are the view's");
    for row in &exported {
        let served = find(&row[0]);
        for (at, field) in header.iter().enumerate().take(11).skip(1) {
            let expected = served[field].as_str().map_or_else(|| optional(&served[field]), str::to_string);
            assert_eq!(row[at], expected, "{field} of {}", row[0]);
        }
    }
    let state = |id: &str| exported.iter().find(|row| row[0] == id).unwrap()[11].clone();
    assert_eq!((state(&acknowledged), state(&snoozed)), ("acknowledged".into(), "snoozed".into()));
    let text = browser.eval("alertsCsv()");
    assert_eq!(downloaded(&mut browser, "alerts-csv"), text.as_str().unwrap(), "the replenishment export");
    browser.eval("document.getElementById('needs-attention').click()");
    browser.wait_for(
        &format!("document.querySelectorAll('#alerts tr').length === {}", needing_now.len()),
        "the needs-attention view again",
    );

    // A receipt for a position that needs attention changes its stock row and its alert row live.
    let target = needing_now
        .iter()
        .find(|alert| alert["reorder_point"].as_i64().unwrap() - alert["projected"].as_i64().unwrap() >= 1)
        .expect("an alert a single unit does not resolve")
        .clone();
    let (warehouse_id, sku) = (target["warehouse_id"].as_str().unwrap(), target["sku"].as_str().unwrap());
    let alert_id = target["alert_id"].as_str().unwrap();
    browser.eval(&format!(
        "{{ const warehouse = document.getElementById('warehouse'); warehouse.value = {}; warehouse.dispatchEvent(new Event('change')); \
           const search = document.getElementById('search'); search.value = {}; search.dispatchEvent(new Event('input')); }}",
        js(warehouse_id),
        js(sku)
    ));
    let stock_row = format!(
        "[...document.querySelectorAll('#stock tr')].find(row => row.dataset.position === {})",
        js(&format!("{warehouse_id}/{sku}"))
    );
    browser.wait_for(&format!("!!{stock_row}"), "the filtered stock view showing the position");
    let on_hand = target["on_hand"].as_i64().unwrap();
    let on_hand_shown = browser.eval(&format!("{stock_row}.cells[2].textContent"));
    assert_eq!(shown_integer(on_hand_shown.as_str().unwrap()), Some(on_hand), "{target}");
    let receipt = InventoryEvent {
        event_id: "replenishment-screen-receipt".into(),
        tenant_id: tenant.as_str().into(),
        warehouse_id: warehouse_id.into(),
        sku: sku.into(),
        kind: InventoryKind::Received,
        quantity: 1,
        occurred_at: OCCURRED_AT,
        purchase_order_id: None,
    };
    added.add(InputTopic::Inventory, &tenant, InputRecord::Inventory(receipt));
    let grown = on_hand + 1;
    browser.wait_for(
        &format!("{stock_row}.cells[2].textContent === quantity.format({grown})"),
        "the stock row's on hand changing live",
    );
    browser.wait_for(
        &format!("{}.cells[2].textContent === quantity.format({grown})", alert_row(alert_id)),
        "the alert row's on hand changing live",
    );
    let projected = target["projected"].as_i64().unwrap() + 1;
    browser.wait_for(
        &format!("{}.cells[5].textContent === quantity.format({projected})", alert_row(alert_id)),
        "the alert row's projected changing live, from the alert stream",
    );
    let served = service.get_ok(&format!("/v1/stock/{warehouse_id}/{sku}"), &key);
    assert_eq!(served["on_hand"], grown, "{served}");
    let shown_row =
        table(&mut browser, "alerts").into_iter().find(|row| row[1] == sku && row[0] == warehouse_id).unwrap();
    let alert_now = service
        .items("/v1/reorder-alerts?status=open&limit=5000", &key)
        .into_iter()
        .find(|alert| alert["alert_id"] == alert_id)
        .expect("still open");
    assert_eq!(shown_integer(&shown_row[8]), alert_now["suggested_quantity"].as_i64(), "{alert_now}");

    // A payment moves its settlement row live too.
    let date = "2026-01-05"; // the UTC date of OCCURRED_AT
    let captured_before = settlements
        .iter()
        .find(|item| item["currency"] == currency && item["date"] == date)
        .map_or(0, |item| item["captured"].as_i64().unwrap());
    let payment = PaymentEvent {
        event_id: "replenishment-screen-payment".into(),
        tenant_id: tenant.as_str().into(),
        payment_id: "replenishment-screen-payment".into(),
        buyer_id: "buyer-screen".into(),
        order_id: None,
        kind: PaymentKind::Captured,
        amount_minor: 123_456,
        currency: currency.into(),
        occurred_at: OCCURRED_AT,
    };
    added.add(InputTopic::Payments, &tenant, InputRecord::Payment(payment));
    let settlement_row = format!(
        "[...document.querySelectorAll('#settlements tr')].find(row => row.dataset.settlement === {})",
        js(&format!("{currency}/{date}"))
    );
    let captured = captured_before + 123_456;
    browser.wait_for(
        &format!("!!{settlement_row} && {settlement_row}.cells[2].textContent === money({captured}, {})", js(currency)),
        "the settlement row changing live",
    );

    // The stock CSV holds every position of the view's filters (all its pages), with the API's
    // figures; the table's page is its first rows; the export button downloads exactly that.
    browser.eval("{ const search = document.getElementById('search'); search.value = ''; search.dispatchEvent(new Event('input')); }");
    let stock_header = ["warehouse_id", "sku", "on_hand", "reserved", "on_order", "available", "projected"];
    let exported = csv(&mut browser, "stockCsv", &stock_header);
    let served = service.items(&format!("/v1/stock?warehouse_id={warehouse_id}&limit=5000"), &key);
    let mut expected = served
        .iter()
        .map(|item| {
            stock_header
                .iter()
                .map(|field| item[field].as_str().map_or_else(|| item[field].to_string(), str::to_string))
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>();
    let mut sorted = exported.clone();
    expected.sort();
    sorted.sort();
    assert_eq!(sorted, expected, "the stock CSV: every position of {warehouse_id}, as served");
    let page = table(&mut browser, "stock");
    assert!(
        page.len() < exported.len() || exported.len() <= 25,
        "the table is paged: {} rows of {}",
        page.len(),
        exported.len()
    );
    for (shown, row) in page.iter().zip(&exported) {
        assert_eq!(shown[..2], row[..2], "the page is the CSV's first rows");
        for at in 2..7 {
            assert_eq!(shown_integer(&shown[at]).map(|value| value.to_string()), Some(row[at].clone()), "{row:?}");
        }
    }
    let text = browser.eval("stockCsv()");
    assert_eq!(downloaded(&mut browser, "stock-csv"), text.as_str().unwrap(), "the stock export");
    let range = browser.eval("document.getElementById('stock-range').textContent");
    assert!(range.as_str().unwrap().contains(&format!("of {}", exported.len())), "{range}");

    assert_eq!(browser.eval("window.signedInOnce"), Value::Bool(true), "no reload");
    browser.eval("document.getElementById('warehouse').value = ''; document.getElementById('warehouse').dispatchEvent(new Event('change')); scrollTo(0, 0)");
    std::thread::sleep(Duration::from_millis(500));
    browser.screenshot(Path::new("/tmp/flowmart-replenishment-screen.png"));
    browser.eval("document.getElementById('stock-panel').scrollIntoView()");
    std::thread::sleep(Duration::from_millis(300));
    browser.screenshot(Path::new("/tmp/flowmart-replenishment-screen-stock.png"));
}
