//! The API over real HTTP as the integration tests run it: its state with the defaults of a lone
//! process in memory (each test sets the parts it needs), served on a free loopback port on a
//! runtime of its own, and blocking requests with a bearer key.

#![allow(dead_code)] // each test binary uses part of the support module

use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use flowmart_api::audit::AuditLog;
use flowmart_api::webhooks::{WebhookSettings, Webhooks};
use flowmart_api::{AdminToken, ApiKeys, ApiState, HttpSettings, RateLimits, Sessions, Store};
use flowmart_generator::{GeneratorConfig, PartitionWorkload};
use flowmart_runtime::{Pipeline, SourceProgress, Topics};
use flowmart_serving::{IndexWriter, ServingIndex};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::runtime::Runtime;

/// The admin token of every API the tests start.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// This test binary's Prometheus recorder, installed on first use: a process has only one.
fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().expect("one recorder per test process")).clone()
}

/// A runtime for the API and the test's requests to it.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Webhook settings that let deliveries reach loopback addresses, where the tests' receivers are.
pub fn loopback() -> WebhookSettings {
    WebhookSettings { allowed_networks: vec!["127.0.0.0/8".parse().unwrap()], ..WebhookSettings::default() }
}

/// What the API is made of: by default keys and webhooks (to public addresses only) in memory,
/// rate limits no test reaches, the default session limits, and nothing feeding the index, no
/// database, no audit log. Each method sets one part.
pub struct State {
    index: ServingIndex,
    pipeline: Option<Pipeline>,
    writer: Option<IndexWriter>,
    keys: ApiKeys,
    webhooks: Option<Webhooks>,
    limits: RateLimits,
    http: HttpSettings,
    audit: Option<AuditLog>,
    database: Option<Store>,
    sessions: Arc<Sessions>,
}

impl State {
    pub fn new(index: ServingIndex) -> State {
        let generous = NonZeroU32::new(100_000).unwrap();
        State {
            index,
            pipeline: None,
            writer: None,
            keys: ApiKeys::new(),
            webhooks: None,
            limits: RateLimits::new(generous, generous),
            http: HttpSettings::default(),
            audit: None,
            database: None,
            sessions: Arc::default(),
        }
    }

    /// Fed by `pipeline`, whose status tells readiness; it is stopped when the API is dropped.
    pub fn pipeline(self, pipeline: Pipeline) -> State {
        State { pipeline: Some(pipeline), ..self }
    }

    /// Fed by the test, through the index's `writer`.
    pub fn writer(self, writer: IndexWriter) -> State {
        State { writer: Some(writer), ..self }
    }

    pub fn keys(self, keys: ApiKeys) -> State {
        State { keys, ..self }
    }

    pub fn webhooks(self, webhooks: Webhooks) -> State {
        State { webhooks: Some(webhooks), ..self }
    }

    /// Webhooks in memory that may deliver to loopback addresses.
    pub fn loopback_webhooks(self) -> State {
        let webhooks = Webhooks::with_settings(self.index.clone(), loopback());
        self.webhooks(webhooks)
    }

    pub fn limits(self, limits: RateLimits) -> State {
        State { limits, ..self }
    }

    pub fn http(self, http: HttpSettings) -> State {
        State { http, ..self }
    }

    pub fn audit(self, audit: Option<AuditLog>) -> State {
        State { audit, ..self }
    }

    pub fn database(self, database: Option<Store>) -> State {
        State { database, ..self }
    }

    pub fn sessions(self, sessions: Arc<Sessions>) -> State {
        State { sessions, ..self }
    }
}

/// The API on a free loopback port, served on its runtime. Dropped, it stops the pipeline feeding
/// it, if one does.
pub struct Api {
    pub url: String,
    pub client: reqwest::Client,
    pub runtime: Runtime,
    pub pipeline: Option<Pipeline>,
    pub writer: Option<IndexWriter>,
}

impl Api {
    /// Serves `state` on `runtime`.
    pub fn serve(runtime: Runtime, state: State) -> Api {
        let webhooks = state.webhooks.unwrap_or_else(|| Webhooks::new(state.index.clone()));
        let served = ApiState {
            index: state.index,
            keys: Arc::new(state.keys),
            admin_token: Arc::new(AdminToken::new(ADMIN_TOKEN)),
            topics: Topics::default(),
            metrics: metrics(),
            limits: Arc::new(state.limits),
            webhooks: Arc::new(webhooks),
            audit: state.audit,
            cluster: None,
            pipeline: state.pipeline.as_ref().map(|pipeline| Arc::clone(pipeline.status())),
            http: state.http,
            database: state.database,
            sessions: state.sessions,
        };
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(flowmart_api::serve(listener, served, std::future::pending()));
        Api { url, client: reqwest::Client::new(), runtime, pipeline: state.pipeline, writer: state.writer }
    }

    /// Sends `request`: the answer's status and its body, as JSON or else as a JSON string.
    pub fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        self.runtime.block_on(async {
            let response = request.send().await.expect("the api answers");
            let status = response.status();
            let body = response.text().await.unwrap();
            (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
        })
    }

    /// GETs `path` with the key `bearer`.
    pub fn get(&self, path: &str, bearer: &str) -> (StatusCode, Value) {
        self.get_with(path, Some(bearer))
    }

    /// GETs `path` with the key `bearer`, or with none.
    pub fn get_with(&self, path: &str, bearer: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.client.get(format!("{}{path}", self.url));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        self.send(request)
    }

    /// POSTs `body` to `path` with the key `bearer`.
    pub fn post(&self, path: &str, bearer: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.client.post(format!("{}{path}", self.url)).bearer_auth(bearer).json(&body))
    }

    /// Issues `tenant_id` a key through the admin route: its secret.
    pub fn issue_key(&self, tenant_id: &str) -> String {
        self.issue_key_and_id(tenant_id).0
    }

    /// Issues `tenant_id` a key through the admin route: its secret and its id.
    pub fn issue_key_and_id(&self, tenant_id: &str) -> (String, String) {
        let request =
            self.client.post(format!("{}/v1/admin/tenants/{tenant_id}/api-keys", self.url)).bearer_auth(ADMIN_TOKEN);
        let (status, body) = self.send(request);
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["tenant_id"], tenant_id);
        (body["api_key"].as_str().expect("a key").to_string(), body["key_id"].as_str().expect("an id").to_string())
    }

    /// The items of every page of `path` (which has a `?`), following `next_cursor` to the end.
    pub fn pages(&self, path: &str, bearer: &str) -> Vec<Vec<Value>> {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = match &cursor {
                Some(cursor) => format!("{path}&cursor={cursor}"),
                None => path.to_string(),
            };
            let (status, body) = self.get(&page, bearer);
            assert_eq!(status, StatusCode::OK, "{page}: {body}");
            pages.push(body["items"].as_array().expect("items").clone());
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return pages,
            }
        }
    }

    /// Waits until the pipeline has read `config`'s whole workload, as the progress report says.
    pub fn wait_for_workload(&self, config: &GeneratorConfig) {
        let mut progress = SourceProgress::default();
        for partition in 0..config.partitions {
            let mut workload = PartitionWorkload::new(config, partition);
            while let Some(record) = workload.next() {
                progress.consumed(record.topic, record.partition, record.offset);
            }
        }
        let topics = Topics::default();
        let mut expected = json!({});
        for (topic, partition, next) in progress.iter() {
            expected[topics.name(topic)][partition.to_string()] = json!(next);
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (status, body) = self.get("/v1/admin/progress", ADMIN_TOKEN);
            assert_eq!(status, StatusCode::OK, "{body}");
            assert!(body["as_of"].is_u64(), "{body}");
            if body["sources"] == expected {
                return;
            }
            assert!(Instant::now() < deadline, "the pipeline did not read the workload: {body}");
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(pipeline) = self.pipeline.take() {
            pipeline.stop().expect("pipeline stops cleanly");
        }
    }
}
