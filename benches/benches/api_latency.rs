//! The query API under load while the pipeline ingests: point-query latency (`GET
//! /v1/stock/{warehouse_id}/{sku}`) against a trivial handler on the same server, interleaved in one
//! run at a fixed offered rate, and freshness (record read → visible to the API) while the
//! generator produces a fixed event rate.
//!
//! `cargo bench -p flowmart-benches --bench api_latency` (`RATE` requests/s, default 10,000;
//! `EVENTS` events/s, default 50,000; `SECONDS` counted, default 10, after `WARMUP` seconds of the
//! same load, default 2). Prints e.g.
//! `point query p50 0.21 ms p99 0.80 ms; trivial p50 0.15 ms p99 0.52 ms; ratio p99 1.54`
//! `freshness p50 12 ms p99 31 ms over 812 batches`.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::routing::get;
use flowmart_api::webhooks::Webhooks;
use flowmart_api::{AdminToken, ApiKeys, ApiState, RateLimits};
use flowmart_pipelines::runtime::{Pipeline, RuntimeConfig};
use flowmart_pipelines::serving::{IndexWriter, ServingIndex};
use flowmart_pipelines::sources::generator::{Generator, GeneratorConfig};
use flowmart_pipelines::{ChangeBatch, Sink, SinkError, Topics};
use metrics_exporter_prometheus::PrometheusBuilder;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// The index writer, timing each batch's oldest record from read to visible.
struct TimedIndex {
    writer: IndexWriter,
    freshness_ms: Arc<Mutex<Vec<u64>>>,
}

impl Sink for TimedIndex {
    fn name(&self) -> &'static str {
        "timed-index"
    }

    fn apply(&mut self, batch: &ChangeBatch) -> Result<(), SinkError> {
        self.writer.apply(batch)?;
        if let Some(oldest) = batch.oldest_record {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
            self.freshness_ms.lock().unwrap().push(now.saturating_sub(oldest));
        }
        Ok(())
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let (rate, events, seconds) = (env("RATE", 10_000), env("EVENTS", 50_000), env("SECONDS", 10));
    let generator = GeneratorConfig {
        tenants: 8,
        partitions: 8,
        records_per_second: Some(events),
        max_records: None,
        ..GeneratorConfig::default()
    };
    let tenant = Generator::new(generator.clone()).tenant_ids().remove(0);
    let (index, writer) = ServingIndex::new(u64::MAX);
    let freshness_ms = Arc::new(Mutex::new(Vec::new()));
    let pipeline = Pipeline::start(
        RuntimeConfig { workers: 1, ..RuntimeConfig::default() },
        Arc::new(Generator::new(generator)),
        vec![Box::new(TimedIndex { writer, freshness_ms: Arc::clone(&freshness_ms) })],
    )
    .expect("the pipeline starts");

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let unlimited = NonZeroU32::new(u32::MAX).unwrap();
    let keys = Arc::new(ApiKeys::new());
    let key = runtime.block_on(keys.issue(&tenant)).unwrap().api_key;
    let state = ApiState {
        index: index.clone(),
        keys,
        admin_token: Arc::new(AdminToken::new("bench")),
        topics: Topics::default(),
        metrics: PrometheusBuilder::new().install_recorder().unwrap(),
        limits: Arc::new(RateLimits::new(unlimited, unlimited)),
        webhooks: Arc::new(Webhooks::new(index.clone())),
        cluster: None,
    };
    let app = flowmart_api::router(state).route("/trivial", get(|| async { "ok" }));
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, app).await });

    // Wait for a position to query.
    let position = loop {
        let snapshot = index.snapshot();
        if let Some((warehouse_id, sku)) = snapshot.tenant(&tenant).and_then(|view| view.stock.keys().next().cloned()) {
            break (warehouse_id, sku);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let point = format!("{base}/v1/stock/{}/{}", position.0, position.1);
    let trivial = format!("{base}/trivial");
    freshness_ms.lock().unwrap().clear();

    // Open loop: a request every 1/rate s, alternating point query and trivial handler. The first
    // `WARMUP` seconds are not counted: the client's connection pool grows to the concurrency the
    // rate needs, as any load tool's warm-up lets it (without one, the first second's new
    // connections set the p99 in some runs).
    let warmup = env("WARMUP", 2);
    let (point_ms, trivial_ms) = runtime.block_on(async {
        let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
        let interval = Duration::from_secs_f64(1.0 / rate as f64);
        let started = tokio::time::Instant::now();
        let counted_from = rate * warmup;
        let total = counted_from + rate * seconds;
        let mut handles = Vec::with_capacity(total as usize);
        for n in 0..total {
            tokio::time::sleep_until(started + interval * n as u32).await;
            let (client, url, key) =
                (client.clone(), if n % 2 == 0 { point.clone() } else { trivial.clone() }, key.clone());
            handles.push(tokio::spawn(async move {
                let sent = Instant::now();
                let response = client.get(&url).bearer_auth(&key).send().await.expect("answered");
                assert!(response.status().is_success(), "{}", response.status());
                response.bytes().await.unwrap();
                (n % 2 == 0, sent.elapsed().as_secs_f64() * 1000.0)
            }));
        }
        let (mut point_ms, mut trivial_ms) = (Vec::new(), Vec::new());
        for (n, handle) in handles.into_iter().enumerate() {
            let (is_point, ms) = handle.await.unwrap();
            if (n as u64) < counted_from {
                continue;
            }
            if is_point { point_ms.push(ms) } else { trivial_ms.push(ms) }
        }
        (point_ms, trivial_ms)
    });
    let consumed = pipeline.status().records();
    pipeline.stop().unwrap();

    let sorted = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values
    };
    let (point_ms, trivial_ms) = (sorted(point_ms), sorted(trivial_ms));
    let freshness = sorted(freshness_ms.lock().unwrap().iter().map(|ms| *ms as f64).collect());
    println!(
        "offered {rate} req/s for {warmup} s (warm-up) + {seconds} s while ingesting {events} events/s ({consumed} records read in all)"
    );
    println!(
        "point query p50 {:.2} ms p99 {:.2} ms; trivial p50 {:.2} ms p99 {:.2} ms; ratio p99 {:.2}",
        percentile(&point_ms, 0.5),
        percentile(&point_ms, 0.99),
        percentile(&trivial_ms, 0.5),
        percentile(&trivial_ms, 0.99),
        percentile(&point_ms, 0.99) / percentile(&trivial_ms, 0.99)
    );
    println!(
        "freshness p50 {:.0} ms p99 {:.0} ms over {} batches",
        percentile(&freshness, 0.5),
        percentile(&freshness, 0.99),
        freshness.len()
    );
}
