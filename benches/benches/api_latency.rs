//! The query API under load while the pipeline ingests: point-query latency (`GET
//! /v1/stock/{warehouse_id}/{sku}`) against a trivial handler on the same server, interleaved in one
//! run at a fixed offered rate, and freshness (record read → visible to the API) while the
//! generator produces a fixed event rate. Then the control: the same load on the same server with
//! the pipeline stopped, so what the API's tail owes to the pipeline is the ratio of the two.
//!
//! The load comes from [`OpenLoop`] (evenly spaced requests, latency counted from each request's
//! scheduled instant). The server runs on the API's own runtime and the pipeline with its default
//! CPU sharing (`runtime.nice`); `CPU_SHARE=0` runs both as equals, for comparison.
//!
//! `cargo bench -p flowmart-benches --bench api_latency` (`RATE` requests/s, default 10,000;
//! `EVENTS` events/s, default 50,000; `SECONDS` counted, default 10, after `WARMUP` seconds of the
//! same load, default 2, in each phase; `CPU_SHARE`, default 1). Prints e.g.
//! `ingesting: point query p50 0.06 ms p99 0.28 ms; trivial p50 0.06 ms p99 0.27 ms; ratio p99 1.03`
//! `  load generator: start lag p50 0.037 ms p99 0.075 ms, 0.12% of requests started over 1 ms late (…); 48 connections`
//! `  this process kept 1.03 of the machine's 2 cores busy`
//! `pipeline stopped: point query p50 0.07 ms p99 0.26 ms; trivial p50 0.06 ms p99 0.24 ms; ratio p99 1.05`
//! `…`
//! `p99 ingesting / stopped: point query 1.11, trivial 1.12`
//! `freshness p50 2 ms p99 5 ms over 11689 batches`.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::routing::get;
use flowmart_api::webhooks::Webhooks;
use flowmart_api::{AdminToken, ApiKeys, ApiState, RateLimits};
use flowmart_benches::open_loop::{Latencies, OpenLoop, Target, percentile};
use flowmart_generator::{Generator, GeneratorConfig};
use flowmart_runtime::{ChangeBatch, Sink, SinkError, Topics};
use flowmart_runtime::{Pipeline, RuntimeConfig};
use flowmart_serving::{IndexWriter, ServingIndex};
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

/// CPU time (s) this process has spent so far (`/proc/self/stat`, utime + stime in clock
/// ticks of 1/100 s), and when: each run says how much of the machine the process took.
struct CpuTime {
    at: std::time::Instant,
    seconds: f64,
}

impl CpuTime {
    fn now() -> CpuTime {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let fields = stat[stat.rfind(')').unwrap() + 2..].split_whitespace();
        let ticks: f64 = fields.skip(11).take(2).map(|n| n.parse::<f64>().unwrap()).sum();
        CpuTime { at: std::time::Instant::now(), seconds: ticks / 100.0 }
    }

    /// Cores this process kept busy on average since `earlier`.
    fn cores_since(&self, earlier: &CpuTime) -> f64 {
        (self.seconds - earlier.seconds) / (self.at - earlier.at).as_secs_f64()
    }
}

fn main() {
    let (rate, events, seconds) = (env("RATE", 10_000), env("EVENTS", 50_000), env("SECONDS", 10));
    let cpu_share = env("CPU_SHARE", 1) == 1;
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
        RuntimeConfig {
            workers: 1,
            nice: if cpu_share { RuntimeConfig::default().nice } else { 0 },
            ..RuntimeConfig::default()
        },
        Arc::new(Generator::new(generator)),
        vec![Box::new(TimedIndex { writer, freshness_ms: Arc::clone(&freshness_ms) })],
    )
    .expect("the pipeline starts");

    let runtime = if cpu_share {
        flowmart_api::runtime().unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
    };
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
        audit: None,
        cluster: None,
        pipeline: Some(Arc::clone(pipeline.status())),
        http: Default::default(),
        database: None,
        sessions: Default::default(),
    };
    let app = flowmart_api::router(state).route("/trivial", get(|| async { "ok" }));
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let server = listener.local_addr().unwrap();
    runtime.spawn(async move { axum::serve(listener, app).await });

    // Wait for a position to query.
    let position = loop {
        let snapshot = index.snapshot();
        if let Some((warehouse_id, sku)) = snapshot.tenant(&tenant).and_then(|view| view.stock.keys().next().cloned()) {
            break (warehouse_id, sku);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let point = format!("/v1/stock/{}/{}", position.0, position.1);
    freshness_ms.lock().unwrap().clear();

    // Open loop: a request every 1/rate s, alternating point query and trivial handler. The first
    // `WARMUP` seconds are not counted: the client's connection pool grows to the concurrency the
    // rate needs, as any load tool's warm-up lets it.
    let warmup = env("WARMUP", 2);
    let load = OpenLoop {
        rate,
        warmup: Duration::from_secs(warmup),
        measured: Duration::from_secs(seconds),
        latency_sensitive: cpu_share,
    };
    let targets =
        [Target { path: point, bearer: Some(key.clone()) }, Target { path: "/trivial".into(), bearer: Some(key) }];
    let before = CpuTime::now();
    let ingesting = load.run(server, &targets);
    let cores = CpuTime::now().cores_since(&before);
    let consumed = pipeline.status().records();
    pipeline.stop().unwrap();
    // The control: the same load on the same server with the pipeline stopped. What the API's
    // tail owes to the pipeline is the ratio of the two; what is left is the machine's.
    let before = CpuTime::now();
    let stopped = load.run(server, &targets);
    let control_cores = CpuTime::now().cores_since(&before);

    println!(
        "offered {rate} req/s for {warmup} s (warm-up) + {seconds} s while ingesting {events} events/s ({consumed} records read in all), then the same with the pipeline stopped"
    );
    report("ingesting", &ingesting, cores);
    report("pipeline stopped", &stopped, control_cores);
    println!(
        "p99 ingesting / stopped: point query {:.2}, trivial {:.2}",
        percentile(&ingesting.per_target[0], 0.99) / percentile(&stopped.per_target[0], 0.99),
        percentile(&ingesting.per_target[1], 0.99) / percentile(&stopped.per_target[1], 0.99),
    );
    let mut freshness: Vec<f64> = freshness_ms.lock().unwrap().iter().map(|ms| *ms as f64).collect();
    freshness.sort_by(f64::total_cmp);
    println!(
        "freshness p50 {:.0} ms p99 {:.0} ms over {} batches",
        percentile(&freshness, 0.5),
        percentile(&freshness, 0.99),
        freshness.len()
    );
}

/// Prints one load phase: both targets' latencies, the load generator's own lag, and the cores
/// the process kept busy.
fn report(phase: &str, latencies: &Latencies, cores: f64) {
    let (point_ms, trivial_ms) = (&latencies.per_target[0], &latencies.per_target[1]);
    println!(
        "{phase}: point query p50 {:.2} ms p99 {:.2} ms; trivial p50 {:.2} ms p99 {:.2} ms; ratio p99 {:.2}",
        percentile(point_ms, 0.5),
        percentile(point_ms, 0.99),
        percentile(trivial_ms, 0.5),
        percentile(trivial_ms, 0.99),
        percentile(point_ms, 0.99) / percentile(trivial_ms, 0.99)
    );
    let late = latencies.start_lag.iter().filter(|lag| **lag > 1.0).count();
    println!(
        "  load generator: start lag p50 {:.3} ms p99 {:.3} ms, {:.2}% of requests started over 1 ms late (part of every latency above); {} connections",
        percentile(&latencies.start_lag, 0.5),
        percentile(&latencies.start_lag, 0.99),
        100.0 * late as f64 / latencies.start_lag.len() as f64,
        latencies.connections
    );
    println!(
        "  this process kept {cores:.2} of the machine's {} cores busy",
        std::thread::available_parallelism().map_or(1, usize::from),
    );
}
