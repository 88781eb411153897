//! What the binary's end-to-end tests share: the running binary, blocking HTTP, and the topics
//! `flowmart run` reads and writes.

#![allow(dead_code)] // each test binary uses part of the support module

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flowmart_runtime::Topics;
use flowmart_testkit::create_topics;
use serde_json::Value;

/// The binary, killed if the test ends early.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `flowmart run` on `brokers` and the registry at `registry`, storing in `database_url`, its API
/// on `127.0.0.1:port`, with 2 workers and `admin` as the admin token.
pub fn run_flowmart(brokers: &str, registry: &str, database_url: &str, port: u16, admin: &str) -> Running {
    let child = Command::new(env!("CARGO_BIN_EXE_flowmart"))
        .args(["run", "--brokers", brokers, "--schema-registry", registry, "--workers", "2"])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--database-url", database_url])
        .env("FLOWMART_ADMIN_TOKEN", admin)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the flowmart binary starts");
    Running(child)
}

/// Waits until the API's progress report covers `total` records, failing after `within`.
pub fn wait_until_covered(http: &Http, api: &str, admin: &str, total: usize, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let progress = http.json(&format!("{api}/v1/admin/progress"), admin);
        if covered(&progress) as usize == total {
            return;
        }
        assert!(Instant::now() < deadline, "progress stuck at {} of {total}: {progress}", covered(&progress));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Blocking HTTP for the tests.
pub struct Http {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    pub fn new() -> Http {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        Http { runtime, client: reqwest::Client::new() }
    }

    /// The status and JSON body, `None` while nothing answers.
    pub fn get(&self, url: &str, bearer: &str) -> Option<(u16, Value)> {
        self.runtime.block_on(async {
            let response = self.client.get(url).bearer_auth(bearer).send().await.ok()?;
            let status = response.status().as_u16();
            Some((status, response.json().await.unwrap_or(Value::Null)))
        })
    }

    /// The status, the `X-FlowMart-Process` that answered, and the JSON body.
    pub fn get_from(&self, url: &str, bearer: &str) -> (u16, Option<String>, Value) {
        self.runtime.block_on(async {
            let response = self.client.get(url).bearer_auth(bearer).send().await.unwrap();
            let process = response.headers().get("x-flowmart-process").map(|value| value.to_str().unwrap().to_string());
            (response.status().as_u16(), process, response.json().await.unwrap_or(Value::Null))
        })
    }

    /// The first event of the event stream at `url` (resumed after change `last_event_id` when
    /// given), and the process that answered; `None` when none comes within 5 s.
    pub fn first_event(&self, url: &str, bearer: &str, last_event_id: Option<u64>) -> (Option<String>, Option<String>) {
        self.runtime.block_on(async {
            let mut request = self.client.get(url).bearer_auth(bearer);
            if let Some(last_event_id) = last_event_id {
                request = request.header("last-event-id", last_event_id.to_string());
            }
            let mut response = request.send().await.unwrap();
            let process = response.headers().get("x-flowmart-process").map(|value| value.to_str().unwrap().to_string());
            let mut text = String::new();
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
            while !text.contains("\n\n") {
                match tokio::time::timeout_at(deadline, response.chunk()).await {
                    Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
                    _ => return (None, process),
                }
            }
            (Some(text), process)
        })
    }

    /// Opens an event stream and keeps it open for as long as the answer is held.
    pub fn open_stream(&self, url: &str, bearer: &str) -> reqwest::Response {
        self.runtime.block_on(async { self.client.get(url).bearer_auth(bearer).send().await.unwrap() })
    }

    /// The JSON body, `Null` while nothing answers.
    pub fn json(&self, url: &str, bearer: &str) -> Value {
        self.get(url, bearer).map_or(Value::Null, |(_, body)| body)
    }

    pub fn text(&self, url: &str) -> String {
        self.runtime.block_on(async { self.client.get(url).send().await.unwrap().text().await.unwrap() })
    }

    /// Posts `body` as JSON: the status, the `X-FlowMart-Process` that answered, the JSON answer.
    pub fn post_json(&self, url: &str, bearer: &str, body: &Value) -> (u16, Option<String>, Value) {
        self.runtime.block_on(async {
            let response = self.client.post(url).bearer_auth(bearer).json(body).send().await.unwrap();
            let process = response.headers().get("x-flowmart-process").map(|value| value.to_str().unwrap().to_string());
            (response.status().as_u16(), process, response.json().await.unwrap_or(Value::Null))
        })
    }

    pub fn post(&self, url: &str, bearer: &str) -> Value {
        self.runtime
            .block_on(async { self.client.post(url).bearer_auth(bearer).send().await.unwrap().json().await.unwrap() })
    }
}

/// How many records a `/v1/admin/progress` answer covers (the sum of every next offset).
pub fn covered(progress: &Value) -> u64 {
    progress["sources"]
        .as_object()
        .map(|sources| {
            sources
                .values()
                .flat_map(|partitions| partitions.as_object().unwrap().values())
                .map(|next| next.as_u64().unwrap())
                .sum()
        })
        .unwrap_or(0)
}

/// Creates the input topics (3 partitions each), the alerts topic (2) and the DLQ (1).
pub fn create_flowmart_topics(kafka: impl Into<flowmart_kafka::KafkaConnection>) {
    let topics = Topics::default();
    create_topics(
        kafka,
        &[
            (topics.inventory.as_str(), 3),
            (topics.orders.as_str(), 3),
            (topics.payments.as_str(), 3),
            (topics.reorder_policies.as_str(), 3),
            ("flowmart.reorder-alerts", 2),
            ("flowmart.dlq", 1),
        ],
    );
}
