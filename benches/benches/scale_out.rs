//! Scale out, measured side by side in one run:
//!
//! 1. Kafka → queryable throughput of 1 process × 2 workers against 2 processes × 1 worker (one
//!    timely cluster; same total cores), alternating rounds over the same pre-filled topics (a Tansu
//!    broker on loopback, a registry stub). The two "processes" are two pipelines in this OS
//!    process, each its own timely instance in `CommunicationConfig::Cluster`, talking over
//!    loopback TCP exactly as two `flowmart run` processes do. A round is timed from when every
//!    process is up (connected) until every process's index covers every record.
//! 2. The same without a broker (the built-in generator as the source), so the cluster's own cost
//!    is not hidden behind the broker's rate; and again capturing what a pipeline with a database
//!    stores (recovery state and lineage, which process 0 collects for Postgres with every
//!    tenant's results), without the database itself. As in `flowmart run`, each process's index
//!    serves its own tenants.
//! 3. A routed point query (`GET /v1/stock/{warehouse_id}/{sku}` of a tenant process 0 serves,
//!    sent to process 1, which routes it to process 0) against the same query sent to process 0,
//!    alternating, closed loop.
//!
//! `cargo bench -p flowmart-benches --bench scale_out` (`RECORDS`, default 200,000; `REQUESTS`,
//! default 4,000 of each kind). Prints one line per round and the medians with their ratios.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowmart_api::cluster::ClusterRoutes;
use flowmart_api::webhooks::Webhooks;
use flowmart_api::{AdminToken, ApiKeys, ApiState, OutboundTls, RateLimits};
use flowmart_generator::{Generator, GeneratorConfig, PartitionWorkload};
use flowmart_kafka::{KafkaSource, KafkaSourceConfig, OnOffsetOutOfRange, Registry, StartFrom, WriterSchemas};
use flowmart_runtime::{ClusterConfig, Pipeline, RuntimeConfig};
use flowmart_runtime::{InputTopic, Sink, Source, SourceProgress, Topics};
use flowmart_schemas::PositionKey;
use flowmart_schemas::{StockLevels, tenant_owner};
use flowmart_serving::ServingIndex;
use flowmart_testkit::{RegistryStub, Tansu, create_topics, free_port, produce_workload, stock_batch};
use metrics_exporter_prometheus::PrometheusBuilder;

const PARTITIONS: i32 = 8;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// Runs `processes` × `workers` over `source()` until every process's index covers `records`;
/// with `stored`, capturing what a database would store.
fn to_queryable(
    processes: usize,
    workers: usize,
    source: &dyn Fn() -> Arc<dyn Source>,
    records: u64,
    stored: bool,
) -> Duration {
    let addresses = (0..processes).map(|_| format!("127.0.0.1:{}", free_port())).collect::<Vec<_>>();
    let running = std::thread::scope(|scope| {
        let starting = (0..processes)
            .map(|process| {
                let (addresses, source) = (addresses.clone(), source());
                scope.spawn(move || {
                    // As `flowmart run` does: in a cluster each process's index serves its own tenants.
                    let (index, writer) = ServingIndex::new(u64::MAX);
                    let writer = match processes {
                        1 => writer,
                        _ => writer
                            .serving_only(Box::new(move |tenant| tenant_owner(tenant, processes, workers) == process)),
                    };
                    let cluster = (processes > 1 || stored).then_some(ClusterConfig {
                        process,
                        addresses,
                        recovery_state: stored,
                    });
                    let config = RuntimeConfig { workers, cluster, ..RuntimeConfig::default() };
                    (Pipeline::start(config, source, vec![Box::new(writer)]).expect("starts"), index)
                })
            })
            .collect::<Vec<_>>();
        starting.into_iter().map(|process| process.join().expect("started")).collect::<Vec<_>>()
    });
    // Timed from when every process is up: timely's connection set-up retries once a second, which
    // is start-up, not throughput.
    let started = Instant::now();
    for (_, index) in &running {
        while index.snapshot().progress.iter().map(|(_, _, next)| next).sum::<u64>() < records {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let elapsed = started.elapsed();
    let mut pipelines = running.into_iter().map(|(pipeline, _)| pipeline).collect::<Vec<_>>();
    // Stopping the last stops the cluster; the others then finish too.
    let last = pipelines.pop().expect("a process");
    last.stop().expect("stops");
    for pipeline in pipelines {
        pipeline.stop().expect("stops");
    }
    elapsed
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Alternates 1×2 and 2×1 for three rounds; prints each and the medians.
fn compare(what: &str, source: &dyn Fn() -> Arc<dyn Source>, records: u64, stored: bool) {
    let (mut single, mut cluster) = (Vec::new(), Vec::new());
    for round in 1..=3 {
        let one = records as f64 / to_queryable(1, 2, source, records, stored).as_secs_f64();
        let two = records as f64 / to_queryable(2, 1, source, records, stored).as_secs_f64();
        println!(
            "{what} round {round}: 1 process x 2 workers {one:.0} records/s, 2 processes x 1 worker {two:.0} records/s, ratio {:.2}",
            two / one
        );
        single.push(one);
        cluster.push(two);
    }
    let (one, two) = (median(single), median(cluster));
    println!(
        "{what} median: 1 process x 2 workers {one:.0} records/s, 2 processes x 1 worker {two:.0} records/s, ratio {:.2}",
        two / one
    );
}

/// An API server for process `process` of a cluster whose APIs are at `apis`, serving `index`.
fn api(
    runtime: &tokio::runtime::Runtime,
    keys: &Arc<ApiKeys>,
    index: ServingIndex,
    routes: Arc<ClusterRoutes>,
    listener: std::net::TcpListener,
) {
    let unlimited = NonZeroU32::new(u32::MAX).unwrap();
    let state = ApiState {
        index: index.clone(),
        keys: Arc::clone(keys),
        admin_token: Arc::new(AdminToken::new("bench")),
        topics: Topics::default(),
        metrics: PrometheusBuilder::new().build_recorder().handle(),
        limits: Arc::new(RateLimits::new(unlimited, unlimited)),
        webhooks: Arc::new(Webhooks::new(index)),
        audit: None,
        cluster: Some(routes),
        pipeline: None,
        http: Default::default(),
        database: None,
        sessions: Default::default(),
    };
    listener.set_nonblocking(true).unwrap();
    let _guard = runtime.enter();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    runtime.spawn(async move { axum::serve(listener, flowmart_api::router(state)).await });
}

fn routed_against_local(requests: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let listeners = (0..2).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect::<Vec<_>>();
    let apis =
        listeners.iter().map(|listener| format!("http://{}", listener.local_addr().unwrap())).collect::<Vec<_>>();
    let admin = AdminToken::new("bench");
    let routes = (0..2)
        .map(|process| Arc::new(ClusterRoutes::new(process, apis.clone(), 1, &admin, &OutboundTls::default())))
        .collect::<Vec<_>>();
    // A tenant process 0 serves, with one stock position.
    let tenant = (0..).map(|n| format!("tenant-{n}")).find(|tenant| routes[0].serves(tenant)).unwrap();
    let (index, mut writer) = ServingIndex::new(u64::MAX);
    let levels = StockLevels { on_hand: 40, reserved: 5, on_order: 10, records: 3 };
    let stock = vec![(PositionKey::new(tenant.as_str(), "berlin", "SKU-1"), Some(levels))];
    writer.apply(&stock_batch(0, 1, stock)).unwrap();
    // Both processes know the key (in a deployment both read it from the key table).
    let keys = Arc::new(ApiKeys::new());
    let key = runtime.block_on(keys.issue(&tenant)).unwrap().api_key;
    for (process, listener) in listeners.into_iter().enumerate() {
        let index = if process == 0 { index.clone() } else { ServingIndex::new(u64::MAX).0 };
        api(&runtime, &keys, index, Arc::clone(&routes[process]), listener);
    }
    let (local, routed) = runtime.block_on(async {
        let client = reqwest::Client::new();
        let (mut local, mut routed) = (Vec::new(), Vec::new());
        for n in 0..2 * requests + 200 {
            let (process, times) = if n % 2 == 0 { (0, &mut local) } else { (1, &mut routed) };
            let sent = Instant::now();
            let response =
                client.get(format!("{}/v1/stock/berlin/SKU-1", apis[process])).bearer_auth(&key).send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["x-flowmart-process"], "0", "answered by process 0");
            response.bytes().await.unwrap();
            // The first 200 warm the connections up.
            if n >= 200 {
                times.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
        }
        (local, routed)
    });
    let percentiles = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        let at = |p: f64| values[((values.len() as f64 - 1.0) * p).round() as usize];
        (at(0.5), at(0.99))
    };
    let ((local_50, local_99), (routed_50, routed_99)) = (percentiles(local), percentiles(routed));
    println!(
        "point query, {requests} each: local (process 0) p50 {local_50:.3} ms p99 {local_99:.3} ms; \
         routed (process 1 -> 0) p50 {routed_50:.3} ms p99 {routed_99:.3} ms; p50 ratio {:.2}, extra {:.3} ms",
        routed_50 / local_50,
        routed_50 - local_50
    );
}

fn main() {
    let records = env("RECORDS", 200_000);
    let tansu = Tansu::start();
    let registry = RegistryStub::start();
    let topics = Topics::default();
    create_topics(&tansu.brokers(), &InputTopic::ALL.map(|topic| (topics.name(topic), PARTITIONS)));
    let generator = GeneratorConfig {
        tenants: 16,
        partitions: 16,
        records_per_second: None,
        max_records: Some(records),
        ..GeneratorConfig::default()
    };
    let produced = produce_workload(&tansu.brokers(), &registry, &generator);
    println!("pre-filled {} records on 4 topics x {PARTITIONS} partitions", produced.count);

    let kafka = || -> Arc<dyn Source> {
        Arc::new(KafkaSource::new(
            KafkaSourceConfig {
                brokers: tansu.brokers(),
                group_id: "bench-scale-out".into(),
                topics: Topics::default(),
                start: StartFrom::Earliest,
                resume: SourceProgress::default(),
                on_offset_out_of_range: OnOffsetOutOfRange::Earliest,
                // Tansu holds a fetch for the whole wait when a partition has nothing new.
                properties: [("fetch.wait.max.ms".to_string(), "10".to_string())].into_iter().collect(),
            },
            Arc::new(WriterSchemas::new(Box::new(Registry::new(&registry.config()).expect("a registry client")))),
        ))
    };
    compare("kafka -> queryable", &kafka, produced.count as u64, false);
    let generated = || -> Arc<dyn Source> { Arc::new(Generator::new(generator.clone())) };
    let generated_records = (0..generator.partitions)
        .map(|partition| {
            let mut workload = PartitionWorkload::new(&generator, partition);
            std::iter::from_fn(|| workload.next()).count() as u64
        })
        .sum();
    compare("generator -> queryable", &generated, generated_records, false);
    compare("generator -> queryable, capturing what a database stores", &generated, generated_records, true);
    routed_against_local(env("REQUESTS", 4_000) as usize);
}
