//! Freshness through the broker: one inventory record produced → its effect visible in the API of
//! `flowmart run` (2 workers, no database), and → its change event on the stock change stream
//! (`/v1/stock/stream`, one session open throughout), beside a bare produce → consume round trip
//! on the same broker (their ceiling), interleaved in one run; first idle, then while a background
//! producer writes the generator's workload at `LOAD` events/s (default 50,000).
//!
//! `cargo bench -p flowmart --bench freshness`; `PROBES` (default 300 per path and phase),
//! `LOAD`, `FETCH_WAIT_MS` (default 10, on both consumers: Tansu holds a fetch that names an
//! empty partition for the whole wait). Both paths produce with `linger.ms = 0`; the API is polled
//! every 0.25 ms. Prints p50 / p99 / max per path and phase and the ratio of the p50s, e.g.
//! `idle: bare p50 3.1 ms p99 12.0 ms; flowmart p50 5.0 ms p99 14.2 ms; p50 ratio 1.6`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use flowmart_generator::{GeneratorConfig, PartitionWorkload};
use flowmart_kafka::{KafkaConnection, WorkloadProducer};
use flowmart_runtime::{InputTopic, Rejection, SourceRecord, Topics};
use flowmart_schemas::{InputRecord, InventoryEvent, InventoryKind};
use flowmart_testkit::{RegistryStub, Tansu, free_port, in_own_session};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use support::{Http, Running, create_flowmart_topics};

const PROBE_TENANT: &str = "probe-tenant";
const ADMIN: &str = "bench-admin";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|text| text.parse().ok()).unwrap_or(default)
}

/// A probe: one unit received at the probe position, keyed by its tenant.
fn probe(sequence: u64, warehouse: &str) -> SourceRecord {
    let event = InventoryEvent {
        event_id: format!("probe-{warehouse}-{sequence}").into(),
        tenant_id: PROBE_TENANT.into(),
        warehouse_id: warehouse.into(),
        sku: "PROBE".into(),
        kind: InventoryKind::Received,
        quantity: 1,
        occurred_at: 1_767_571_200_000,
        purchase_order_id: None,
    };
    SourceRecord {
        topic: InputTopic::Inventory,
        partition: 0,
        offset: 0,
        key: Some(PROBE_TENANT.as_bytes().to_vec()),
        raw_value: None,
        decoded: Ok::<_, Rejection>(InputRecord::Inventory(event)),
    }
}

/// Latencies in ms, sorted.
struct Latencies(Vec<f64>);

impl Latencies {
    fn quantile(&self, q: f64) -> f64 {
        self.0[((self.0.len() - 1) as f64 * q).round() as usize]
    }

    fn summary(&self) -> String {
        format!(
            "p50 {:.1} ms p99 {:.1} ms max {:.1} ms",
            self.quantile(0.5),
            self.quantile(0.99),
            self.0.last().copied().unwrap_or(0.0)
        )
    }
}

struct Probes {
    producer: WorkloadProducer,
    bare: BaseConsumer,
    http: Http,
    stock_url: String,
    key: String,
    sent: u64,
    /// `on_hand` of each `stock` event of the change stream session, as it arrives.
    stream: mpsc::Receiver<i64>,
}

/// Opens `/v1/stock/stream?warehouse_id=stream` and sends the `on_hand` of each event it carries.
fn stream_session(address: &str, key: &str) -> mpsc::Receiver<i64> {
    let mut connection = std::net::TcpStream::connect(address).expect("the API accepts");
    connection.set_nodelay(true).expect("no delay");
    let request = format!(
        "GET /v1/stock/stream?warehouse_id=stream HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\r\n"
    );
    connection.write_all(request.as_bytes()).expect("sent");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        // One SSE event per chunk of the chunked body: its `data:` line is whole.
        for line in BufReader::new(connection).lines() {
            let Ok(line) = line else { return };
            if let Some(data) = line.strip_prefix("data:")
                && let Ok(item) = serde_json::from_str::<serde_json::Value>(data.trim())
                && let Some(on_hand) = item["on_hand"].as_i64()
                && sender.send(on_hand).is_err()
            {
                return;
            }
        }
    });
    receiver
}

impl Probes {
    /// Produce → read by the bare consumer (which reads the probe partition from its end).
    fn bare_round_trip(&mut self) -> f64 {
        self.sent += 1;
        let started = Instant::now();
        let record = probe(self.sent, "bare");
        let event_id = format!("probe-bare-{}", self.sent).into_bytes();
        self.producer.send(&record).expect("queued");
        loop {
            // The partition carries the load and the API's probes too: wait for this one.
            if let Some(Ok(message)) = self.bare.poll(Duration::from_secs(5))
                && message
                    .payload()
                    .is_some_and(|payload| payload.windows(event_id.len()).any(|bytes| bytes == event_id))
            {
                return started.elapsed().as_secs_f64() * 1e3;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "the bare consumer did not see its probe");
        }
    }

    /// Produce → the probe position's `on_hand` counts it in the API; `None` when that took over
    /// 10 s (the pipeline is behind the load).
    fn flowmart_round_trip(&mut self, expected_on_hand: i64) -> Option<f64> {
        self.sent += 1;
        let started = Instant::now();
        self.producer.send(&probe(self.sent, "api")).expect("queued");
        loop {
            if let Some((200, body)) = self.http.get(&self.stock_url, &self.key)
                && body["on_hand"].as_i64() >= Some(expected_on_hand)
            {
                return Some(started.elapsed().as_secs_f64() * 1e3);
            }
            if started.elapsed() > Duration::from_secs(10) {
                return None;
            }
            std::thread::sleep(Duration::from_micros(250));
        }
    }

    /// Produce → the change stream session receives the probe position's event counting it;
    /// `None` when that took over 10 s.
    fn stream_round_trip(&mut self, expected_on_hand: i64) -> Option<f64> {
        self.sent += 1;
        let started = Instant::now();
        self.producer.send(&probe(self.sent, "stream")).expect("queued");
        while let Ok(on_hand) = self.stream.recv_timeout(Duration::from_secs(10).saturating_sub(started.elapsed())) {
            if on_hand >= expected_on_hand {
                return Some(started.elapsed().as_secs_f64() * 1e3);
            }
        }
        None
    }
}

/// A background producer writing the generator's workload (its own tenants) at `rate` events/s.
fn start_load(
    connection: &KafkaConnection,
    registry: &RegistryStub,
    rate: u64,
    stop: Arc<AtomicBool>,
) -> Arc<AtomicU64> {
    let producer = WorkloadProducer::connect(connection, &registry.config(), Topics::default()).expect("a producer");
    let sent = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&sent);
    std::thread::spawn(move || {
        let config = GeneratorConfig { records_per_second: None, ..GeneratorConfig::default() };
        let mut workloads =
            (0..config.partitions).map(|partition| PartitionWorkload::new(&config, partition)).collect::<Vec<_>>();
        let started = Instant::now();
        let mut next = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
            while counter.load(Ordering::Relaxed) < due {
                let count = workloads.len();
                let workload = &mut workloads[next % count];
                next += 1;
                if let Some(record) = workload.next() {
                    producer.send(&record).expect("queued");
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        producer.flush().expect("flushed");
    });
    sent
}

fn phase(name: &str, probes: &mut Probes, count: usize, on_hand: &mut i64, streamed: &mut i64) {
    let (mut bare, mut pipeline, mut stream) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..count {
        bare.push(probes.bare_round_trip());
        std::thread::sleep(Duration::from_millis(10));
        *on_hand += 1;
        let Some(latency) = probes.flowmart_round_trip(*on_hand) else {
            println!(
                "{name}: a probe took over 10 s to show in the API: the pipeline is behind the load; stopping the phase"
            );
            return;
        };
        pipeline.push(latency);
        std::thread::sleep(Duration::from_millis(10));
        *streamed += 1;
        let Some(latency) = probes.stream_round_trip(*streamed) else {
            println!("{name}: a probe took over 10 s to come on the change stream; stopping the phase");
            return;
        };
        stream.push(latency);
        std::thread::sleep(Duration::from_millis(10));
    }
    for latencies in [&mut bare, &mut pipeline, &mut stream] {
        latencies.sort_by(f64::total_cmp);
    }
    let (bare, pipeline, stream) = (Latencies(bare), Latencies(pipeline), Latencies(stream));
    println!(
        "{name}: bare produce → consume {}; flowmart produce → API {}; p50 ratio {:.1}",
        bare.summary(),
        pipeline.summary(),
        pipeline.quantile(0.5) / bare.quantile(0.5)
    );
    println!(
        "{name}: flowmart produce → change stream {}; p50 ratio {:.1}; p99 beyond the bare p99 {:.1} ms",
        stream.summary(),
        stream.quantile(0.5) / bare.quantile(0.5),
        stream.quantile(0.99) - bare.quantile(0.99)
    );
}

fn main() {
    let count = env_or("PROBES", 300usize);
    let load = env_or("LOAD", 50_000u64);
    let fetch_wait = env_or("FETCH_WAIT_MS", 10u64).to_string();
    let tansu = Tansu::start();
    let registry = RegistryStub::start();
    create_flowmart_topics(&tansu.brokers());
    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let _flowmart = Running(
        // As a service of its own: its threads' `nice` ranks them against its own only.
        in_own_session(&mut std::process::Command::new(env!("CARGO_BIN_EXE_flowmart")))
            .args(["run", "--brokers", &tansu.brokers(), "--schema-registry", registry.url(), "--workers", "2"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("FLOWMART_ADMIN_TOKEN", ADMIN)
            .env("FLOWMART__KAFKA__CONSUMER__FETCH_WAIT_MAX_MS", &fetch_wait)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("the flowmart binary starts"),
    );
    let http = Http::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let key = loop {
        let issued = http.get(&format!("{api}/healthz"), ADMIN).map(|_| {
            http.post(&format!("{api}/v1/admin/tenants/{PROBE_TENANT}/api-keys"), ADMIN)["api_key"]
                .as_str()
                .map(String::from)
        });
        if let Some(Some(key)) = issued {
            break key;
        }
        assert!(Instant::now() < deadline, "flowmart's API did not come up");
        std::thread::sleep(Duration::from_millis(50));
    };
    let probe_connection = KafkaConnection {
        brokers: tansu.brokers(),
        properties: BTreeMap::from([("linger.ms".to_string(), "0".to_string())]),
    };
    let producer =
        WorkloadProducer::connect(&probe_connection, &registry.config(), Topics::default()).expect("a probe producer");
    let bare: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", tansu.brokers())
        .set("group.id", "bench-bare-probe")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", &fetch_wait)
        .create()
        .expect("a consumer");
    let mut assignment = TopicPartitionList::new();
    // The probe tenant's records go to partition 0 of the inventory topic (the generator
    // partition the probe names).
    assignment
        .add_partition_offset(Topics::default().name(InputTopic::Inventory), 0, Offset::End)
        .expect("a partition");
    bare.assign(&assignment).expect("assigned");
    let stream = stream_session(&format!("127.0.0.1:{port}"), &key);
    let mut probes =
        Probes { producer, bare, http, stock_url: format!("{api}/v1/stock/api/PROBE"), key, sent: 0, stream };
    // Warm every path (connections, the registry look-up, the first snapshot of the position).
    let (mut on_hand, mut streamed) = (0, 0);
    for _ in 0..10 {
        probes.bare_round_trip();
        on_hand += 1;
        probes.flowmart_round_trip(on_hand).expect("flowmart shows a probe while idle");
        streamed += 1;
        probes.stream_round_trip(streamed).expect("the change stream sends a probe while idle");
    }
    phase("idle", &mut probes, count, &mut on_hand, &mut streamed);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = start_load(&tansu.brokers().as_str().into(), &registry, load, Arc::clone(&stop));
    std::thread::sleep(Duration::from_secs(3));
    let started = (Instant::now(), sent.load(Ordering::Relaxed));
    phase(&format!("while producing {load} events/s"), &mut probes, count, &mut on_hand, &mut streamed);
    let achieved = (sent.load(Ordering::Relaxed) - started.1) as f64 / started.0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    println!("(the background producer achieved {achieved:.0} events/s during the loaded phase)");
}
