//! The API over real HTTP, in front of a real pipeline fed by the seeded generator: its answers
//! against the reference model, authentication, tenant isolation, errors, the live stream.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowmart_api::{HttpSettings, RateLimits};
use flowmart_generator::{Generator, GeneratorConfig, PartitionWorkload};
use flowmart_operators::reference::ReferenceModel;
use flowmart_runtime::{Pipeline, RuntimeConfig};
use flowmart_serving::ServingIndex;
use reqwest::StatusCode;
use serde_json::{Value, json};

mod browser;
use browser::Chromium;

mod support;
use support::{ADMIN_TOKEN, Api, State};

/// A pipeline over `generator` and the API on a free loopback port, with rate limits no test
/// reaches.
fn start(generator: GeneratorConfig, workers: usize) -> Api {
    let generous = NonZeroU32::new(100_000).unwrap();
    start_limited(generator, workers, RateLimits::new(generous, generous))
}

/// As [`start`], with `limits`.
fn start_limited(generator: GeneratorConfig, workers: usize, limits: RateLimits) -> Api {
    start_with(generator, workers, limits, HttpSettings::default())
}

/// As [`start`], with `limits` and `http` conventions. Webhooks may be delivered to loopback
/// addresses, where the tests' receivers are.
fn start_with(generator: GeneratorConfig, workers: usize, limits: RateLimits, http: HttpSettings) -> Api {
    serve(generator, workers, |state| state.loopback_webhooks().limits(limits).http(http))
}

/// As [`start`], with webhooks delivered to public addresses only (the default).
fn start_guarded(generator: GeneratorConfig) -> Api {
    serve(generator, 1, |state| state)
}

/// A pipeline over `generator` with `workers` and the API over its results, with what `set` sets.
fn serve(generator: GeneratorConfig, workers: usize, set: impl FnOnce(State) -> State) -> Api {
    let (index, writer) = ServingIndex::new(u64::MAX);
    let pipeline = Pipeline::start(
        RuntimeConfig { workers, ..RuntimeConfig::default() },
        Arc::new(Generator::new(generator)),
        vec![Box::new(writer)],
    )
    .expect("pipeline starts");
    Api::serve(support::runtime(), set(State::new(index).pipeline(pipeline)))
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

/// What the reference model makes of `config`'s whole workload.
fn reference_model(config: &GeneratorConfig) -> ReferenceModel {
    let mut model = ReferenceModel::new();
    for partition in 0..config.partitions {
        let mut workload = PartitionWorkload::new(config, partition);
        while let Some(record) = workload.next() {
            let _ = model.apply(record.decoded.expect("generated"));
        }
    }
    model.end_time(0);
    model
}

#[test]
fn answers_equal_the_reference_model_for_each_tenant_and_only_that_tenant() {
    let config = generator_config();
    let model = reference_model(&config);
    let service = start(config.clone(), 2);
    let (status, body) = service.get_with("/healthz", None);
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    service.wait_for_workload(&config);
    let (status, ready) = service.get_with("/readyz", None);
    assert_eq!(status, StatusCode::OK, "{ready}");

    let tenants = Generator::new(config).tenant_ids();
    let keys = tenants.iter().map(|tenant| service.issue_key(tenant)).collect::<Vec<_>>();
    let stock = model.stock();
    let settlements = model.settlements();
    for (tenant, key) in tenants.iter().zip(&keys) {
        // Stock: every position of this tenant, no other tenant's.
        let (status, body) = service.get("/v1/stock", key);
        assert_eq!(status, StatusCode::OK);
        assert!(body["as_of"].as_u64().unwrap() > 0);
        let expected_stock = stock
            .iter()
            .filter(|(position, _)| position.tenant_id == *tenant)
            .map(|(position, levels)| {
                json!({
                    "warehouse_id": position.warehouse_id, "sku": position.sku,
                    "on_hand": levels.on_hand, "reserved": levels.reserved, "on_order": levels.on_order,
                    "available": levels.on_hand - levels.reserved,
                    "projected": levels.on_hand - levels.reserved + levels.on_order,
                })
            })
            .collect::<Vec<_>>();
        assert!(!expected_stock.is_empty());
        assert_eq!(body["items"].as_array().unwrap(), &expected_stock, "stock of {tenant}");

        // A point query and a filter agree with the list.
        let first = &expected_stock[0];
        let path = format!("/v1/stock/{}/{}", first["warehouse_id"].as_str().unwrap(), first["sku"].as_str().unwrap());
        let (status, point) = service.get(&path, key);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(point["projected"], first["projected"]);
        assert_eq!(point["on_hand"], first["on_hand"]);
        let filter = format!("/v1/stock?warehouse_id={}", first["warehouse_id"].as_str().unwrap());
        let (_, filtered) = service.get(&filter, key);
        let in_warehouse = expected_stock.iter().filter(|item| item["warehouse_id"] == first["warehouse_id"]).count();
        assert_eq!(filtered["items"].as_array().unwrap().len(), in_warehouse);

        // Open alerts: the positions the model has open, with the same numbers.
        let (status, body) = service.get("/v1/reorder-alerts", key);
        assert_eq!(status, StatusCode::OK);
        let mut served = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|alert| {
                assert_eq!(alert["status"], "OPEN");
                assert!(alert["resolved_at"].is_null());
                (
                    alert["warehouse_id"].as_str().unwrap().to_string(),
                    alert["sku"].as_str().unwrap().to_string(),
                    alert["projected"].as_i64().unwrap(),
                    alert["reorder_point"].as_i64().unwrap(),
                    alert["suggested_quantity"].as_i64().unwrap(),
                )
            })
            .collect::<Vec<_>>();
        served.sort();
        let expected_alerts = model
            .open_alerts()
            .iter()
            .filter(|(position, _)| position.tenant_id == *tenant)
            .map(|(position, (_, check))| {
                (
                    position.warehouse_id.to_string(),
                    position.sku.to_string(),
                    check.projected,
                    check.reorder_point,
                    check.suggested_quantity,
                )
            })
            .collect::<Vec<_>>();
        assert_eq!(served, expected_alerts, "open alerts of {tenant}");

        // Settlements per date and currency.
        let (status, body) = service.get("/v1/settlements", key);
        assert_eq!(status, StatusCode::OK);
        let expected_settlements = settlements
            .iter()
            .filter(|(key, _)| key.tenant_id == *tenant)
            .map(|(key, totals)| {
                json!({
                    "date": key.settlement_date.to_string(), "currency": key.currency.to_string(),
                    "captured": totals.captured, "refunded": totals.refunded, "chargebacks": totals.chargebacks,
                    "fees": totals.fees, "payouts": totals.payouts,
                    "net": totals.captured - totals.refunded - totals.chargebacks - totals.fees,
                    "authorized": totals.authorized,
                })
            })
            .collect::<Vec<_>>();
        assert!(!expected_settlements.is_empty());
        assert_eq!(body["items"].as_array().unwrap(), &expected_settlements, "settlements of {tenant}");
        let first_date = expected_settlements[0]["date"].as_str().unwrap();
        let (_, one_day) = service.get(&format!("/v1/settlements?from={first_date}&to={first_date}"), key);
        let on_first_date = expected_settlements.iter().filter(|item| item["date"] == first_date).count();
        assert_eq!(one_day["items"].as_array().unwrap().len(), on_first_date);
    }

    // A tenant with a key but no data sees nothing of the others'.
    let newcomer = service.issue_key("newcomer-gmbh");
    for path in ["/v1/stock", "/v1/reorder-alerts?status=all", "/v1/settlements"] {
        let (status, body) = service.get(path, &newcomer);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["items"], json!([]), "{path}");
    }
    let (status, _) = service.get("/v1/stock/rotterdam/SKU-00001", &newcomer);
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The admin view counts each tenant's positions and open alerts.
    let (status, body) = service.get("/v1/admin/tenants", ADMIN_TOKEN);
    assert_eq!(status, StatusCode::OK);
    for summary in body["tenants"].as_array().unwrap() {
        let tenant = summary["tenant_id"].as_str().unwrap();
        let positions = stock.keys().filter(|position| position.tenant_id == tenant).count();
        let open = model.open_alerts().keys().filter(|position| position.tenant_id == tenant).count();
        assert_eq!(
            (summary["stock_positions"].as_u64(), summary["open_alerts"].as_u64()),
            (Some(positions as u64), Some(open as u64))
        );
    }
    assert_eq!(body["tenants"].as_array().unwrap().len(), tenants.len());
}

#[test]
fn every_route_refuses_a_missing_or_wrong_key_with_a_json_error() {
    let service = start(GeneratorConfig { max_records: Some(500), ..generator_config() }, 1);
    let tenant_key = service.issue_key("acme-wholesale");
    let tenant_routes =
        ["/v1/stock", "/v1/stock/rotterdam/SKU-00001", "/v1/reorder-alerts", "/v1/settlements", "/v1/alerts/stream"];
    let admin_routes = ["/v1/admin/tenants", "/v1/admin/progress"];
    for path in tenant_routes.iter().chain(&admin_routes) {
        for bearer in [None, Some("fmk_not-a-key"), Some("")] {
            let (status, body) = service.get_with(path, bearer);
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} with {bearer:?}");
            assert!(body["error"].is_string(), "{path}: {body}");
        }
    }
    for path in admin_routes {
        let (status, _) = service.get(path, &tenant_key);
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a tenant key is not the admin token: {path}");
    }
    for path in tenant_routes {
        let (status, _) = service.get(path, ADMIN_TOKEN);
        assert_eq!(status, StatusCode::UNAUTHORIZED, "the admin token is no tenant key: {path}");
    }
    let request =
        service.client.post(format!("{}/v1/admin/tenants/acme/api-keys", service.url)).bearer_auth(&tenant_key);
    assert_eq!(service.send(request).0, StatusCode::UNAUTHORIZED);
}

#[test]
fn bad_requests_get_a_4xx_with_a_json_error() {
    let service = start(GeneratorConfig { max_records: Some(500), ..generator_config() }, 1);
    let key = service.issue_key("acme-wholesale");
    for (path, status) in [
        ("/v1/reorder-alerts?status=urgent", StatusCode::BAD_REQUEST),
        ("/v1/settlements?from=2026-13-01", StatusCode::BAD_REQUEST),
        ("/v1/settlements?currency=euro", StatusCode::BAD_REQUEST),
        ("/v1/stock?sku=", StatusCode::BAD_REQUEST),
        ("/v1/stock?limit=5001", StatusCode::BAD_REQUEST),
        ("/v1/stock?min_as_of=4102444800000", StatusCode::BAD_REQUEST),
        ("/v1/stock?min_as_of=4102444799999", StatusCode::CONFLICT),
        ("/v1/reorder-alerts?cursor=", StatusCode::BAD_REQUEST),
        ("/v1/stock?warehouse=rotterdam", StatusCode::BAD_REQUEST),
        ("/v1/stock/rotterdam/NO-SUCH-SKU", StatusCode::NOT_FOUND),
        ("/v1/nothing-here", StatusCode::NOT_FOUND),
    ] {
        let (got, body) = service.get(path, &key);
        assert_eq!(got, status, "{path}: {body}");
        assert!(body["error"].as_str().is_some_and(|error| !error.is_empty()), "{path}: {body}");
    }
    // An inverted range is empty, not an error: the document cannot call it invalid.
    let (got, body) = service.get("/v1/settlements?from=2026-02-02&to=2026-02-01", &key);
    assert_eq!((got, &body["items"]), (StatusCode::OK, &json!([])), "{body}");
    let request = service.client.delete(format!("{}/v1/stock", service.url)).bearer_auth(&key);
    let (status, body) = service.send(request);
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body["error"].is_string());
    let request =
        service.client.post(format!("{}/v1/admin/tenants/a%20b/api-keys", service.url)).bearer_auth(ADMIN_TOKEN);
    let (status, body) = service.send(request);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, text) = service.get_with("/metrics", None);
    assert_eq!(status, StatusCode::OK);
    assert!(text.as_str().is_some_and(|text| text.contains("flowmart_api_request_seconds")), "{text}");
}

#[test]
fn the_alert_stream_delivers_the_tenants_changes_live_and_no_one_elses() {
    let live = GeneratorConfig { records_per_second: Some(4_000), max_records: None, ..generator_config() };
    let service = start(live, 1);
    let tenant = "acme-wholesale";
    let key = service.issue_key(tenant);
    let events = service.runtime.block_on(async {
        let response =
            service.client.get(format!("{}/v1/alerts/stream", service.url)).bearer_auth(&key).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut response = response;
        let mut text = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while text.matches("\n\n").count() < 5 {
            let chunk = tokio::time::timeout_at(deadline, response.chunk())
                .await
                .expect("alert changes arrive")
                .unwrap()
                .unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    });
    let mut sequences = Vec::new();
    for event in events.split("\n\n").filter(|event| !event.trim().is_empty()).take(5) {
        let field = |name: &str| {
            event.lines().find_map(|line| line.strip_prefix(name)).map(str::trim).unwrap_or_default().to_string()
        };
        assert_eq!(field("event:"), "reorder-alert", "{event}");
        sequences.push(field("id:").parse::<u64>().expect("numbered"));
        let alert: Value = serde_json::from_str(&field("data:")).expect("json");
        assert_eq!(alert["tenant_id"], tenant);
        assert!(["OPENED", "UPDATED", "RESOLVED"].contains(&alert["status"].as_str().unwrap()), "{alert}");
        for field in ["alert_id", "warehouse_id", "sku"] {
            assert!(alert[field].as_str().is_some_and(|value| !value.is_empty()), "{alert}");
        }
        for field in ["projected", "reorder_point", "suggested_quantity", "changed_at"] {
            assert!(alert[field].is_i64(), "{alert}");
        }
    }
    assert!(sequences.windows(2).all(|pair| pair[0] < pair[1]), "{sequences:?}");
}

/// Reads SSE events from `response` until `count` arrived: each as (event, id, data).
async fn read_events(response: &mut reqwest::Response, count: usize) -> Vec<(String, String, String)> {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let events = text
            .split("\n\n")
            .filter(|event| event.lines().any(|line| line.starts_with("event:")))
            .map(|event| {
                let field = |name: &str| {
                    event
                        .lines()
                        .find_map(|line| line.strip_prefix(name))
                        .map(str::trim)
                        .unwrap_or_default()
                        .to_string()
                };
                (field("event:"), field("id:"), field("data:"))
            })
            .collect::<Vec<_>>();
        // Only whole events count: the text ends with a blank line after the last one.
        if events.len() >= count && text.ends_with("\n\n") {
            return events;
        }
        let chunk = tokio::time::timeout_at(deadline, response.chunk()).await.expect("events arrive").unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[test]
fn a_stream_resumed_with_last_event_id_gets_each_missed_change_once_then_the_live_ones() {
    let live = GeneratorConfig { records_per_second: Some(4_000), max_records: None, ..generator_config() };
    let service = start(live, 2);
    let tenant = "acme-wholesale";
    let key = service.issue_key(tenant);
    let url = format!("{}/v1/alerts/stream", service.url);
    service.runtime.block_on(async {
        // The reference: a stream that stays connected throughout.
        let mut whole = service.client.get(&url).bearer_auth(&key).send().await.unwrap();
        let mut first = service.client.get(&url).bearer_auth(&key).send().await.unwrap();
        let seen = read_events(&mut first, 3).await;
        let last_seen = seen[2].1.clone();
        drop(first);
        tokio::time::sleep(Duration::from_millis(800)).await;
        let mut resumed =
            service.client.get(&url).bearer_auth(&key).header("Last-Event-ID", &last_seen).send().await.unwrap();
        assert_eq!(resumed.status(), StatusCode::OK);
        let resumed = read_events(&mut resumed, 12).await;
        let resumed_ids = resumed.iter().map(|(event, id, _)| {
            assert_eq!(event, "reorder-alert");
            id.parse::<u64>().unwrap()
        });
        let resumed_ids = resumed_ids.collect::<Vec<_>>();
        let last_seen = last_seen.parse::<u64>().unwrap();
        let mut reference = Vec::new();
        while reference.last() < resumed_ids.last() {
            let more = read_events(&mut whole, 1).await;
            reference.extend(more.iter().map(|(_, id, _)| id.parse::<u64>().unwrap()));
        }
        let expected = reference.into_iter().filter(|id| *id > last_seen).take(resumed_ids.len()).collect::<Vec<_>>();
        assert_eq!(resumed_ids, expected, "the missed changes, then the live ones, each once and in order");
    });

    // min_as_of: an answer at least that fresh, after a short wait.
    let (status, body) = service.get("/v1/stock", &key);
    assert_eq!(status, StatusCode::OK);
    let wanted = body["as_of"].as_u64().unwrap() + 300;
    let (status, body) = service.get(&format!("/v1/stock?min_as_of={wanted}"), &key);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["as_of"].as_u64().unwrap() >= wanted);
}

#[test]
fn a_freshness_ahead_of_the_clock_gets_a_409_at_once_one_not_reached_in_time_a_503_and_a_bad_event_id_a_400() {
    let config = generator_config();
    let mut service = start(config.clone(), 1);
    service.wait_for_workload(&config);
    let key = service.issue_key("acme-wholesale");
    let (_, body) = service.get("/v1/stock", &key);
    let as_of = body["as_of"].as_u64().unwrap();

    // Pipeline time follows the clock: an hour ahead cannot be reached within the wait.
    let started = Instant::now();
    let (status, body) = service.get(&format!("/v1/reorder-alerts?min_as_of={}", as_of + 3_600_000), &key);
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"].as_str().unwrap().contains("ahead of this server's clock"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(1), "answered at once, not after the wait");
    let (status, _) = service.get(&format!("/v1/settlements?min_as_of={as_of}"), &key);
    assert_eq!(status, StatusCode::OK, "fresh enough already");
    let (status, body) = service.get("/v1/stock?min_as_of=soon", &key);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // A time the clock has reached but a stopped pipeline never will: 503 (at once, since nothing
    // feeds the index any more; a live but stalled one is waited for up to 5 s).
    service.pipeline.take().unwrap().stop().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let (status, body) = service.get(&format!("/v1/reorder-alerts?min_as_of={now}"), &key);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["error"].as_str().unwrap().contains("min_as_of"), "{body}");

    // Resuming from 0 replays the kept changes; an id that is not a number is refused.
    service.runtime.block_on(async {
        let url = format!("{}/v1/alerts/stream", service.url);
        let mut resumed = service.client.get(&url).bearer_auth(&key).header("Last-Event-ID", "0").send().await.unwrap();
        let events = read_events(&mut resumed, 1).await;
        assert_eq!(events[0].0, "reorder-alert", "everything after 0 is still kept: {events:?}");
        let response = service.client.get(&url).bearer_auth(&key).header("Last-Event-ID", "x").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    });
}

#[test]
fn pages_followed_by_cursor_add_up_to_the_whole_list() {
    let config = generator_config();
    let service = start(config.clone(), 2);
    service.wait_for_workload(&config);
    let key = service.issue_key("acme-wholesale");
    for (whole, paged, size) in [
        ("/v1/stock", "/v1/stock?limit=7", 7),
        ("/v1/stock?warehouse_id=berlin", "/v1/stock?warehouse_id=berlin&limit=5", 5),
        ("/v1/reorder-alerts?status=all", "/v1/reorder-alerts?status=all&limit=3", 3),
    ] {
        let (status, body) = service.get(whole, &key);
        assert_eq!(status, StatusCode::OK);
        assert!(body["next_cursor"].is_null(), "one page holds it all by default");
        let everything = body["items"].as_array().unwrap().clone();
        assert!(everything.len() > size, "{whole}: enough items to page through");
        let pages = service.pages(paged, &key);
        assert!(pages[..pages.len() - 1].iter().all(|page| page.len() == size), "{paged}: full pages");
        assert_eq!(pages.concat(), everything, "{paged}: the pages in order are the whole list");
    }
    for bad in
        ["/v1/stock?limit=0", "/v1/stock?limit=5001", "/v1/stock?cursor=nonsense", "/v1/reorder-alerts?cursor=00"]
    {
        let (status, body) = service.get(bad, &key);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"].is_string());
    }
}

#[test]
fn a_tenant_over_its_rate_limit_gets_429_with_retry_after_and_no_other_tenant_is_slowed() {
    let five = NonZeroU32::new(5).unwrap();
    let service = start_limited(generator_config(), 1, RateLimits::new(five, five));
    let (busy, quiet) = (service.issue_key("acme-wholesale"), service.issue_key("globex-distribution"));
    let statuses = (0..5).map(|_| service.get("/v1/stock", &busy).0).collect::<Vec<_>>();
    assert!(statuses.iter().all(|status| *status == StatusCode::OK), "the burst passes: {statuses:?}");
    let limited = service.runtime.block_on(async {
        service.client.get(format!("{}/v1/stock", service.url)).bearer_auth(&busy).send().await.unwrap()
    });
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after = limited.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let body: Value = service.runtime.block_on(limited.json()).unwrap();
    assert!(body["error"].as_str().unwrap().contains("rate limit"), "{body}");
    assert_eq!(service.get("/v1/stock", &quiet).0, StatusCode::OK, "another tenant is not limited");
    std::thread::sleep(Duration::from_secs(retry_after));
    assert_eq!(service.get("/v1/stock", &busy).0, StatusCode::OK, "after Retry-After it passes again");
}

#[test]
fn a_request_body_over_the_limit_gets_413_with_a_json_error() {
    let service = start(generator_config(), 1);
    let big = vec![b'x'; flowmart_api::MAX_BODY_BYTES + 1];
    let request = service
        .client
        .post(format!("{}/v1/admin/tenants/acme-wholesale/api-keys", service.url))
        .bearer_auth(ADMIN_TOKEN)
        .body(big);
    let (status, body) = service.send(request);
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body["error"].as_str().unwrap().contains("over the limit"), "{body}");
}

#[test]
fn a_revoked_key_is_refused_at_once_and_keys_are_listed_without_their_secret() {
    let service = start(generator_config(), 1);
    let key = service.issue_key("acme-wholesale");
    assert_eq!(service.get("/v1/stock", &key).0, StatusCode::OK);
    let (status, listed) = service.get("/v1/admin/tenants/acme-wholesale/api-keys", ADMIN_TOKEN);
    assert_eq!(status, StatusCode::OK, "{listed}");
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert!(!listed.to_string().contains(&key), "the secret is never shown again");
    let key_id = keys[0]["key_id"].as_str().unwrap().to_string();
    let revoke = |tenant: &str| {
        let url = format!("{}/v1/admin/tenants/{tenant}/api-keys/{key_id}", service.url);
        service.runtime.block_on(async { service.client.delete(url).bearer_auth(ADMIN_TOKEN).send().await.unwrap() })
    };
    assert_eq!(revoke("globex-distribution").status(), StatusCode::NOT_FOUND, "not that tenant's key");
    assert_eq!(revoke("acme-wholesale").status(), StatusCode::NO_CONTENT);
    let (status, body) = service.get("/v1/stock", &key);
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(revoke("acme-wholesale").status(), StatusCode::NOT_FOUND, "already revoked");
    let (status, _) = service.get("/v1/admin/tenants/acme-wholesale/api-keys", &key);
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a tenant key is not the admin token");
}

#[test]
fn cors_preflights_are_answered_for_the_configured_origins_only_and_large_answers_are_compressed() {
    let generous = NonZeroU32::new(100_000).unwrap();
    let http =
        HttpSettings { cors_origins: vec!["https://dash.example.com".parse().unwrap()], ..HttpSettings::default() };
    let service = start_with(generator_config(), 2, RateLimits::new(generous, generous), http);
    let key = service.issue_key("acme-wholesale");
    let preflight = |origin: &str| {
        let request = service
            .client
            .request(reqwest::Method::OPTIONS, format!("{}/v1/stock", service.url))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization");
        service.runtime.block_on(async { request.send().await.unwrap() })
    };
    let allowed = preflight("https://dash.example.com");
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://dash.example.com");
    assert!(allowed.headers()["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
    let refused = preflight("https://elsewhere.example.com");
    assert!(!refused.headers().contains_key("access-control-allow-origin"), "{:?}", refused.headers());

    service.wait_for_workload(&generator_config());
    let get = |path: &str, encoding: &str| {
        let request =
            service.client.get(format!("{}{path}", service.url)).bearer_auth(&key).header("Accept-Encoding", encoding);
        service.runtime.block_on(async { request.send().await.unwrap() })
    };
    for encoding in ["gzip", "br"] {
        let response = get("/v1/stock?limit=5000", encoding);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-encoding"], encoding);
    }
    let plain = get("/v1/stock?limit=5000", "identity");
    assert!(!plain.headers().contains_key("content-encoding"));
    let stream = get("/v1/alerts/stream", "gzip");
    assert!(!stream.headers().contains_key("content-encoding"), "events are never held back by an encoder");
    drop(stream);

    // Without configured origins, no origin is allowed.
    let closed = start(generator_config(), 1);
    let request = closed
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/v1/stock", closed.url))
        .header("Origin", "https://dash.example.com")
        .header("Access-Control-Request-Method", "GET");
    let response = closed.runtime.block_on(async { request.send().await.unwrap() });
    assert!(!response.headers().contains_key("access-control-allow-origin"));
}

#[test]
fn the_docs_page_lays_out_the_openapi_document() {
    let service = start(generator_config(), 1);
    let request = service.client.get(format!("{}/docs", service.url));
    let response = service.runtime.block_on(async { request.send().await.unwrap() });
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = service.runtime.block_on(response.text()).unwrap();
    assert!(page.contains("fetch(\"/openapi.json\")"), "the page reads the document");
}

#[test]
fn the_openapi_document_describes_every_route_of_the_contract() {
    let service = start(generator_config(), 1);
    let (status, document) = service.get_with("/openapi.json", None);
    assert_eq!(status, StatusCode::OK);
    assert!(document["openapi"].as_str().unwrap().starts_with("3."), "{}", document["openapi"]);
    let paths = document["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/admin/tenants/{tenant_id}/api-keys", "post"),
        ("/v1/admin/tenants/{tenant_id}/api-keys", "get"),
        ("/v1/admin/tenants/{tenant_id}/api-keys/{key_id}", "delete"),
        ("/v1/admin/tenants", "get"),
        ("/v1/admin/progress", "get"),
        ("/v1/stock", "get"),
        ("/v1/stock/{warehouse_id}/{sku}", "get"),
        ("/v1/stock/{warehouse_id}/{sku}/history", "get"),
        ("/v1/reorder-alerts", "get"),
        ("/v1/settlements", "get"),
        ("/v1/settlements/{currency}/{date}/history", "get"),
        ("/v1/alerts/stream", "get"),
        ("/v1/reorder-alerts/{alert_id}/acknowledge", "post"),
        ("/v1/reorder-alerts/{alert_id}/snooze", "post"),
        ("/v1/stock/stream", "get"),
        ("/v1/settlements/stream", "get"),
        ("/v1/webhooks", "post"),
        ("/v1/webhooks", "get"),
        ("/v1/webhooks/{webhook_id}", "delete"),
        ("/v1/webhooks/{webhook_id}/deliveries", "get"),
        ("/v1/audit", "get"),
        ("/v1/admin/audit", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    ] {
        assert!(paths.get(path).and_then(|item| item.get(method)).is_some(), "{method} {path} is documented");
    }
    assert_eq!(paths.len(), 24, "no undocumented extra path: {:?}", paths.keys().collect::<Vec<_>>());
    let stock_item = &document["components"]["schemas"]["StockItem"]["properties"];
    for field in ["warehouse_id", "sku", "on_hand", "reserved", "on_order", "available", "projected"] {
        assert!(stock_item.get(field).is_some(), "StockItem.{field}");
    }
    let parameters = paths["/v1/stock"]["get"]["parameters"].as_array().unwrap();
    let names = parameters.iter().map(|parameter| parameter["name"].as_str().unwrap()).collect::<Vec<_>>();
    assert_eq!(names, ["warehouse_id", "sku", "min_as_of", "limit", "cursor"]);
    assert!(document["components"]["securitySchemes"]["tenant_key"].is_object());
}

/// One request a receiver got: its delivery id, signature, timestamped signature, body, and the
/// status it answered.
type Received = (String, String, String, Vec<u8>, u16);

/// A webhook receiver on a free port: answers 500 to its first `failures` requests, then 200;
/// records every request.
struct Receiver {
    url: String,
    received: Arc<std::sync::Mutex<Vec<Received>>>,
}

fn start_receiver(runtime: &tokio::runtime::Runtime, failures: usize) -> Receiver {
    use axum::http::HeaderMap;
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let log = Arc::clone(&log);
            async move {
                let mut log = log.lock().unwrap();
                let status = if log.len() < failures { 500 } else { 200 };
                let header = |name: &str| headers.get(name).map(|value| value.to_str().unwrap().to_string());
                log.push((
                    header("x-flowmart-delivery").unwrap_or_default(),
                    header("x-flowmart-signature").unwrap_or_default(),
                    header("x-flowmart-timestamped-signature").unwrap_or_default(),
                    body.to_vec(),
                    status,
                ));
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, app).await });
    Receiver { url, received }
}

#[test]
fn webhook_urls_reaching_internal_or_metadata_addresses_are_refused_at_registration() {
    let service = start_guarded(GeneratorConfig { max_records: Some(500), ..generator_config() });
    let key = service.issue_key("acme-wholesale");
    // Each is resolved (or read as an address) and refused: none is ever connected to.
    for url in [
        "http://127.0.0.1:5432/",
        "http://127.1/hook",
        "http://localhost:9000/hook",
        "http://10.0.0.1/hook",
        "http://172.16.0.1/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/hook",
        "http://[fc00::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
        "http://224.0.0.1/hook",
    ] {
        let (status, body) = service.post("/v1/webhooks", &key, json!({ "url": url }));
        assert_eq!(status, StatusCode::FORBIDDEN, "{url}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("does not resolve to an address webhooks may reach"), "{url}: {error}");
    }
    let (_, listed) = service.get("/v1/webhooks", &key);
    assert_eq!(listed["items"], json!([]), "none registered");
}

#[test]
fn a_webhook_receives_each_alert_change_once_signed_after_retries_and_logs_each_delivery() {
    use hmac::{KeyInit, Mac};
    let live = GeneratorConfig { records_per_second: Some(4_000), max_records: None, ..generator_config() };
    let service = start(live, 1);
    let tenant = "acme-wholesale";
    let key = service.issue_key(tenant);
    let receiver = start_receiver(&service.runtime, 3);
    let register = |body: Value| service.post("/v1/webhooks", &key, body);
    assert_eq!(register(json!({ "url": "ftp://example.com/x" })).0, StatusCode::BAD_REQUEST);
    assert_eq!(register(json!({ "link": receiver.url })).0, StatusCode::BAD_REQUEST);
    let (status, registered) = register(json!({ "url": receiver.url }));
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    let (webhook_id, secret) =
        (registered["webhook_id"].as_str().unwrap().to_string(), registered["secret"].as_str().unwrap().to_string());
    let log_path = format!("/v1/webhooks/{webhook_id}/deliveries");

    // Wait for eight deliveries.
    let deadline = Instant::now() + Duration::from_secs(90);
    let log = loop {
        let (status, log) = service.get(&log_path, &key);
        assert_eq!(status, StatusCode::OK, "{log}");
        if log["items"].as_array().unwrap().len() >= 8 {
            break log["items"].as_array().unwrap().clone();
        }
        assert!(Instant::now() < deadline, "deliveries did not come: {log}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(log.iter().all(|delivery| delivery["outcome"] == "delivered"), "{log:?}");
    assert_eq!(log[0]["attempts"], 4, "the first change took three 500s and a 200: {}", log[0]);
    let logged = log.iter().map(|delivery| delivery["sequence"].as_u64().unwrap()).collect::<Vec<_>>();

    // What the receiver got: every request signed with the secret; each change answered 200 once.
    let received = receiver.received.lock().unwrap().clone();
    let mut delivered = Vec::new();
    let hmac_hex = |message: &[u8]| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(message);
        mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect::<String>()
    };
    for (delivery_id, signature, timestamped, body, status) in &received {
        assert_eq!(signature, &format!("sha256={}", hmac_hex(body)), "signed with the secret");
        let (timestamp, v1) = timestamped
            .strip_prefix("t=")
            .and_then(|rest| rest.split_once(",v1="))
            .unwrap_or_else(|| panic!("t=<unix>,v1=<hex>: {timestamped:?}"));
        let signed = [format!("{timestamp}.{delivery_id}.").as_bytes(), body].concat();
        assert_eq!(v1, hmac_hex(&signed), "the timestamp, delivery id and body signed with the secret");
        let alert: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(alert["tenant_id"], tenant, "only the tenant's own changes");
        let (hook, sequence) = delivery_id.split_once(':').unwrap();
        assert_eq!(hook, webhook_id);
        if *status == 200 {
            delivered.push(sequence.parse::<u64>().unwrap());
        }
    }
    assert!(delivered.windows(2).all(|pair| pair[0] < pair[1]), "in order, none twice: {delivered:?}");
    assert_eq!(&delivered[..logged.len()], &logged[..], "the log shows what was delivered");

    // None missing: the alert stream resumed just before the first delivery has the same changes.
    let (first, count) = (logged[0], logged.len());
    let streamed = service.runtime.block_on(async {
        let mut resumed = service
            .client
            .get(format!("{}/v1/alerts/stream", service.url))
            .bearer_auth(&key)
            .header("Last-Event-ID", (first - 1).to_string())
            .send()
            .await
            .unwrap();
        read_events(&mut resumed, count).await
    });
    let streamed = streamed.iter().take(count).map(|(_, id, _)| id.parse::<u64>().unwrap()).collect::<Vec<_>>();
    assert_eq!(streamed, logged, "every change of the tenant, none skipped");

    // Listed without its secret; removed, it stops.
    let (_, listed) = service.get("/v1/webhooks", &key);
    assert_eq!(listed["items"][0]["webhook_id"], webhook_id.as_str());
    assert!(!listed.to_string().contains(&secret));
    let other = service.issue_key("globex-distribution");
    assert_eq!(service.get(&log_path, &other).0, StatusCode::NOT_FOUND, "not another tenant's");
    let remove = |bearer: &str| {
        service.send(service.client.delete(format!("{}/v1/webhooks/{webhook_id}", service.url)).bearer_auth(bearer))
    };
    assert_eq!(remove(&other).0, StatusCode::NOT_FOUND);
    assert_eq!(remove(&key).0, StatusCode::NO_CONTENT);
    assert_eq!(service.get(&log_path, &key).0, StatusCode::NOT_FOUND);
}

#[test]
fn the_dashboard_signs_in_shows_the_tenants_data_and_updates_live_in_headless_chromium() {
    let live = GeneratorConfig { records_per_second: Some(2_000), max_records: None, ..generator_config() };
    let service = start(live, 1);
    let tenant = "acme-wholesale";
    let key = service.issue_key(tenant);
    let mut browser = Chromium::start();
    browser.call("Page.navigate", json!({ "url": format!("{}/", service.url) }));
    browser.wait_for("document.readyState === 'complete' && !!document.getElementById('key')", "the page loading");

    // A wrong key is refused on the page.
    browser
        .eval("document.getElementById('key').value = 'fmk_wrong'; document.getElementById('signin-button').click()");
    browser.wait_for("document.getElementById('error').textContent.includes('Sign-in failed')", "refusing a wrong key");

    // Sign in; the stock table, alerts and freshness fill in.
    browser.eval(&format!(
        "document.getElementById('key').value = '{key}'; document.getElementById('signin-button').click()"
    ));
    browser.wait_for("document.querySelectorAll('#stock tr').length > 0", "the stock table filling");
    browser.wait_for("document.getElementById('freshness').textContent.startsWith('as of')", "the freshness line");
    assert_eq!(browser.eval("document.getElementById('board').classList.contains('hidden')"), Value::Bool(false));

    // What the page shows for a position is what the API says for it.
    let shown = browser.eval(
        "JSON.stringify([...document.querySelectorAll('#stock tr')].map(row => [...row.cells].map(cell => cell.textContent)))",
    );
    let rows: Vec<Vec<String>> = serde_json::from_str(shown.as_str().unwrap()).unwrap();
    let (status, served) = service.get("/v1/stock?limit=5000", &key);
    assert_eq!(status, StatusCode::OK);
    let positions = served["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| (item["warehouse_id"].as_str().unwrap().to_string(), item["sku"].as_str().unwrap().to_string()))
        .collect::<std::collections::BTreeSet<_>>();
    assert!(
        rows.iter().all(|row| positions.contains(&(row[0].clone(), row[1].clone()))),
        "only the tenant's positions"
    );

    // A value changes on the page after events arrive (the generator keeps producing).
    let before = browser.eval("document.getElementById('stock').innerText");
    browser.wait_for(&format!("document.getElementById('stock').innerText !== {before}"), "a live update");

    // Search narrows the table to matching positions.
    let (warehouse, sku) = (&rows[0][0], &rows[0][1]);
    browser.eval(&format!(
        "const search = document.getElementById('search'); search.value = '{sku}'; search.dispatchEvent(new Event('input'))"
    ));
    browser.wait_for(
        &format!(
            "[...document.querySelectorAll('#stock tr')].every(row => row.cells[1].textContent.includes('{sku}'))"
        ),
        "the search",
    );
    assert!(browser.eval("document.querySelectorAll('#stock tr').length").as_u64().unwrap() >= 1, "{warehouse}/{sku}");

    // Clicking a stock row opens its history panel; this service has no database, so the panel
    // says the history route's 501 (with the Postgres sink it lists the rows: `history_routes`).
    assert_eq!(browser.eval("document.getElementById('history').classList.contains('hidden')"), Value::Bool(true));
    browser.eval("document.querySelector('#stock tr').click()");
    browser.wait_for(
        "document.getElementById('history-note').textContent.includes('needs the Postgres sink')",
        "the history panel of the clicked position",
    );
    let title = browser.eval("document.getElementById('history-title').textContent");
    assert!(title.as_str().unwrap().contains(sku.as_str()), "{title}");
    assert_eq!(browser.eval("document.querySelector('#stock tr').classList.contains('selected')"), Value::Bool(true));

    // A screenshot, for a person to look at.
    browser.screenshot(&std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png"));
}
