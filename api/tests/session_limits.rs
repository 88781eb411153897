//! Live sessions held to their limits over real HTTP: a tenant over its limit gets 429, the
//! process over its total 503, both with a JSON error and counted in
//! `flowmart_api_sessions_refused_total`; a closed session makes room again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flowmart_api::{SessionLimits, Sessions};
use flowmart_serving::ServingIndex;
use reqwest::StatusCode;
use serde_json::Value;

mod support;
use support::{Api, State};

/// The API over an empty index, holding at most `limits` sessions; its sessions.
fn start(limits: SessionLimits) -> (Api, Arc<Sessions>) {
    let (index, _writer) = ServingIndex::new(u64::MAX);
    let sessions = Arc::new(Sessions::new(limits));
    (Api::serve(support::runtime(), State::new(index).sessions(Arc::clone(&sessions))), sessions)
}

impl Api {
    /// Asks for an event stream; the answer, whose body stays open for as long as it is kept.
    fn open(&self, path: &str, key: &str) -> reqwest::Response {
        let request = self.client.get(format!("{}{path}", self.url)).bearer_auth(key);
        self.runtime.block_on(async { request.send().await.unwrap() })
    }

    fn json(&self, response: reqwest::Response) -> Value {
        self.runtime.block_on(async { response.json().await.unwrap() })
    }

    fn metric(&self, line_start: &str) -> f64 {
        let request = self.client.get(format!("{}/metrics", self.url));
        let text = self.runtime.block_on(async { request.send().await.unwrap().text().await.unwrap() });
        let line = text.lines().find(|line| line.starts_with(line_start)).unwrap_or_else(|| panic!("{line_start}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }
}

/// Waits until the server counts `open` sessions (a dropped stream is noticed when its connection
/// closes).
fn wait_for_open(sessions: &Sessions, open: usize) {
    let started = Instant::now();
    while sessions.open() != open {
        assert!(started.elapsed() < Duration::from_secs(10), "{} sessions open, not {open}", sessions.open());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sessions_over_the_tenants_limit_get_429_over_the_total_503_and_a_closed_one_makes_room() {
    let (api, sessions) = start(SessionLimits { total: 3, per_tenant: 2 });
    let (acme, globex) = (api.issue_key("acme"), api.issue_key("globex"));

    let first = api.open("/v1/alerts/stream", &acme);
    let second = api.open("/v1/stock/stream", &acme);
    assert_eq!((first.status(), second.status()), (StatusCode::OK, StatusCode::OK));
    assert_eq!(first.headers()["content-type"], "text/event-stream");
    let over_tenant = api.open("/v1/settlements/stream", &acme);
    assert_eq!(over_tenant.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(over_tenant.headers().contains_key("retry-after"));
    let body = api.json(over_tenant);
    assert!(body["error"].as_str().unwrap().contains("limit of 2 live sessions"), "{body}");

    let third = api.open("/v1/alerts/stream", &globex);
    assert_eq!(third.status(), StatusCode::OK);
    let over_total = api.open("/v1/alerts/stream", &globex);
    assert_eq!(over_total.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = api.json(over_total);
    assert!(body["error"].as_str().unwrap().contains("limit of 3 live sessions"), "{body}");
    wait_for_open(&sessions, 3);
    assert_eq!(api.metric("flowmart_api_sessions "), 3.0);
    assert_eq!(api.metric("flowmart_api_sessions_refused_total{limit=\"tenant\"}"), 1.0);
    assert_eq!(api.metric("flowmart_api_sessions_refused_total{limit=\"total\"}"), 1.0);

    // Other requests are not sessions: they are answered whatever the count.
    let list = api.runtime.block_on(api.client.get(format!("{}/v1/stock", api.url)).bearer_auth(&acme).send());
    assert_eq!(list.unwrap().status(), StatusCode::OK);

    drop(first);
    wait_for_open(&sessions, 2);
    let again = api.open("/v1/alerts/stream", &acme);
    assert_eq!(again.status(), StatusCode::OK, "the closed session's room is free again");
    drop((second, third, again));
    wait_for_open(&sessions, 0);
}
