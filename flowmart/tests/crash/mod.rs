//! The crash harness shared by `tests/crash_recovery.rs`, `tests/cluster.rs` and the `crash_soak`
//! benchmark: a seeded workload is produced while `flowmart run` — one process, or a cluster of
//! several — is killed with SIGKILL at random moments (and, optionally, while its Postgres server is
//! stopped and started), or goes through a storm of mixed faults (`storm.rs`), then a last run
//! catches up, and the tables, the API of every process, the alert topic and the DLQ are compared
//! with the reference model.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flowmart_generator::{GeneratorConfig, PartitionWorkload};
use flowmart_kafka::{SchemaRegistryConfig, WorkloadProducer, split_frame};
use flowmart_operators::reference::ReferenceModel;
use flowmart_runtime::Topics;
use flowmart_schemas::{InputRecord, ReorderAlert, ReorderAlertStatus, WriterSchema, decode};
use flowmart_testkit::{PrivatePostgres, RegistryStub, Tansu, TcpProxy, consume, free_port, model_of, settlement_rows};
use serde_json::Value;

#[path = "../support/mod.rs"]
mod support;
// Each test binary uses part of the harness: the storm and its reader are crash_recovery's,
// served_ahead and stop_during_outage are cluster's.
#[allow(dead_code)]
mod as_of_watch;
mod lineage;
#[allow(dead_code)]
pub mod served_ahead;
#[allow(dead_code)]
pub mod stop_during_outage;
#[allow(dead_code)]
pub mod storm;

use support::{Http, Running, covered, create_flowmart_topics};

const ADMIN: &str = "crash-admin-token";
const SEQUENCE_HEADER: &str = "flowmart.alert.sequence";

/// What to do to the pipeline while the workload is produced.
pub struct Faults {
    /// SIGKILLs at random moments, each followed by a restart.
    pub kills: usize,
    /// Stop the Postgres server for this long once, mid-run, and start it again.
    pub postgres_outage: Option<Duration>,
    /// Seeds the workload and the moments.
    pub seed: u64,
    /// How many processes (of 2 workers each) form the pipeline: 1 is a process alone; more
    /// form one timely cluster, and each kill hits one of them.
    pub processes: usize,
}

/// Where the processes of one deployment listen: the same ports on every restart.
struct Deployment {
    api_ports: Vec<u16>,
    config: PathBuf,
    peers: PathBuf,
}

impl Deployment {
    fn new(processes: usize) -> Deployment {
        let api_ports = (0..processes).map(|_| free_port()).collect::<Vec<_>>();
        let name = format!("flowmart-crash-{}-{}", std::process::id(), api_ports[0]);
        let peers = std::env::temp_dir().join(format!("{name}.peers"));
        let lines = api_ports
            .iter()
            .map(|api| format!("127.0.0.1:{} http://127.0.0.1:{api}\n", free_port()))
            .collect::<String>();
        std::fs::write(&peers, lines).expect("a peers file");
        // Tansu holds a fetch for the whole wait when some partitions have nothing new.
        let config = std::env::temp_dir().join(format!("{name}.toml"));
        // Stalled after 2 s (not 30): the outage scenario sees `/readyz` turn within seconds.
        let settings = "[runtime]\nstall_after_ms = 2000\n[kafka.consumer]\n\"fetch.wait.max.ms\" = \"10\"\n";
        std::fs::write(&config, settings).expect("a config file");
        Deployment { api_ports, config, peers }
    }

    fn api(&self, process: usize) -> String {
        format!("http://127.0.0.1:{}", self.api_ports[process])
    }

    /// Starts every process and waits until each answers (a cluster answers once all are up).
    fn start(&self, http: &Http, brokers: &str, registry: &str, database_url: &str) -> Vec<Running> {
        let processes = self.api_ports.len();
        let running = (0..processes)
            .map(|process| {
                let mut command = Command::new(env!("CARGO_BIN_EXE_flowmart"));
                command
                    .args(["run", "--config"])
                    .arg(&self.config)
                    .args(["--brokers", brokers, "--schema-registry", registry])
                    .args(["--listen", &format!("127.0.0.1:{}", self.api_ports[process])])
                    .args(["--workers", "2", "--database-url", database_url]);
                if processes > 1 {
                    command.args(["--processes", &processes.to_string(), "--process-index", &process.to_string()]);
                    command.arg("--peers").arg(&self.peers);
                }
                let child = command
                    .env("FLOWMART_ADMIN_TOKEN", ADMIN)
                    // The webhook the routing check registers is on loopback.
                    .env("FLOWMART__WEBHOOKS__ALLOWED_NETWORKS", r#"["127.0.0.0/8"]"#)
                    .env("RUST_LOG", std::env::var("FLOWMART_TEST_LOG").unwrap_or_else(|_| "warn".into()))
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .expect("the flowmart binary starts");
                Running(child)
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        for process in 0..processes {
            while http.get(&format!("{}/healthz", self.api(process)), "").is_none() {
                assert!(Instant::now() < deadline, "process {process} did not start answering");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        running
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.config);
        let _ = std::fs::remove_file(&self.peers);
    }
}

/// `/readyz`: its status and body.
fn readiness(http: &Http, api: &str) -> (u16, Value) {
    http.get(&format!("{api}/readyz"), "").expect("the API answers")
}

/// `/readyz` once it answers `status`, or as it last answered when `timeout` passed.
fn readiness_until(http: &Http, api: &str, status: u16, timeout: Duration) -> (u16, Value) {
    let deadline = Instant::now() + timeout;
    loop {
        let answer = readiness(http, api);
        if answer.0 == status || Instant::now() > deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for a process to exit by itself; one that does not fails the test with where its
/// threads wait (their stacks' own frames, when gdb is installed).
fn exits_within(running: &mut Running, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = running.0.try_wait().expect("a child's status") {
            return status;
        }
        if Instant::now() >= deadline {
            let pid = running.0.id().to_string();
            let dump = Command::new("gdb").args(["-p", &pid, "-batch", "-ex", "thread apply all bt 16"]).output();
            let dump = dump.map(|output| String::from_utf8_lossy(&output.stdout).into_owned()).unwrap_or_default();
            let frames = dump.lines().filter(|line| line.starts_with("Thread") || line.contains(" flowmart_"));
            panic!(
                "the process did not exit within {timeout:?}; its threads:\n{}",
                frames.collect::<Vec<_>>().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A small deterministic generator of moments.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, from: u64, to: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        from + self.0 % (to - from)
    }
}

/// What a run ends with, as outside code sees it: the contract's tables and every tenant's API
/// answers, without what depends on when records happened to be read (alert ids and times, and so
/// the order of equally urgent alerts).
#[derive(Debug, PartialEq)]
pub struct Results {
    pub tables: BTreeMap<&'static str, BTreeSet<Vec<String>>>,
    pub answers: BTreeMap<String, Vec<Value>>,
}

/// How a scenario went.
pub struct Outcome {
    /// One line: kills, records, alert changes, what the last run read.
    pub summary: String,
    /// What it ended with (compared across runs by tests/cluster.rs; the others print the summary).
    #[allow(dead_code)]
    pub results: Results,
}

/// The servers a scenario runs against, and the seeded workload being produced into them.
struct Scene {
    // Fields drop in order: the proxy before the broker behind it.
    proxy: TcpProxy,
    _tansu: Tansu,
    registry: RegistryStub,
    postgres: PrivatePostgres,
    http: Http,
    /// Held by the producer while it sends a slice and by a broker outage while it lasts, so that
    /// the workload's records are each written once (the storm tests the pipeline, not producers).
    broker_gate: Arc<Mutex<()>>,
    producer: Option<JoinHandle<Vec<InputRecord>>>,
}

impl Scene {
    /// Starts Tansu behind a proxy (which a broker outage takes down), the registry stub and a
    /// private Postgres; creates the topics, migrates, and produces the workload of `seed` (that
    /// share of it breaking a rule: `rule_breakers`) in 40 slices `pause` apart.
    fn start(seed: u64, pause: Duration, rule_breakers: f64) -> Scene {
        let proxy_port = free_port();
        let tansu = Tansu::start_behind(proxy_port);
        let proxy = TcpProxy::start(proxy_port, tansu.port());
        let registry = RegistryStub::start();
        let postgres = PrivatePostgres::start();
        let brokers = format!("127.0.0.1:{proxy_port}");
        create_flowmart_topics(&brokers);
        let config = GeneratorConfig {
            seed,
            tenants: 4,
            partitions: 3,
            skus_per_tenant: 20,
            records_per_second: None,
            max_records: Some(6_000),
            fault_ratio: rule_breakers,
            ..GeneratorConfig::default()
        };
        let broker_gate = Arc::new(Mutex::new(()));
        let producer = {
            let (registry_url, gate) = (registry.url().to_string(), broker_gate.clone());
            std::thread::spawn(move || produce_in_slices(&brokers, &registry_url, &config, &gate, pause))
        };
        let migrated = Command::new(env!("CARGO_BIN_EXE_flowmart"))
            .args(["migrate", "--database-url", &postgres.url()])
            .stdout(Stdio::null())
            .status()
            .expect("flowmart migrate runs");
        assert!(migrated.success(), "flowmart migrate");
        Scene { proxy, _tansu: tansu, registry, postgres, http: Http::new(), broker_gate, producer: Some(producer) }
    }

    /// `bootstrap.servers`: the proxy.
    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.proxy.port())
    }

    /// Starts every process of `deployment`; returns once each answers.
    fn start_pipeline(&self, deployment: &Deployment) -> Vec<Running> {
        deployment.start(&self.http, &self.brokers(), self.registry.url(), &self.postgres.url())
    }
}

/// SIGKILLs process `victim`; the rest of a cluster notices and stops by itself, saying so
/// (status 1).
fn kill_one(running: &mut [Running], victim: usize) {
    running[victim].0.kill().expect("SIGKILL");
    running[victim].0.wait().expect("the killed process is reaped");
    for (process, other) in running.iter_mut().enumerate().filter(|(process, _)| *process != victim) {
        let status = exits_within(other, Duration::from_secs(30));
        assert_eq!(status.code(), Some(1), "process {process} after losing process {victim}: {status}");
    }
}

/// SIGTERMs the last process and waits for every process to exit; their statuses.
fn terminate(running: &mut Vec<Running>) -> String {
    let pid = running.last().expect("a process").0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let statuses = running
        .iter_mut()
        .map(|process| {
            let status = exits_within(process, Duration::from_secs(60));
            assert!(status.code().is_some(), "a process stopped by SIGTERM exits by itself: {status}");
            status.code().unwrap_or_default().to_string()
        })
        .collect::<Vec<_>>();
    running.clear();
    statuses.join(", ")
}

/// Runs the whole scenario and asserts what it promises.
pub fn crash_and_recover(faults: Faults) -> Outcome {
    // The workload is spread over about as long as the kills take, so each run has records to read.
    let scene = Scene::start(faults.seed, Duration::from_millis((35 * faults.kills as u64).max(150)), 0.01);
    let (http, postgres) = (&scene.http, &scene.postgres);
    let mut moments = Moments(faults.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let deployment = Deployment::new(faults.processes);
    let api = deployment.api(0);
    for kill in 0..faults.kills {
        let mut running = scene.start_pipeline(&deployment);
        std::thread::sleep(Duration::from_millis(moments.next_ms(300, 2_500)));
        let victim = moments.next_ms(0, 1 << 20) as usize % faults.processes;
        kill_one(&mut running, victim);
        eprintln!("crash harness: kill {} of {} (process {victim})", kill + 1, faults.kills);
    }

    let stored_before_last_run = stored_offsets(&postgres.url());
    let running = scene.start_pipeline(&deployment);
    if let Some(outage) = faults.postgres_outage {
        wait_for(http, &api, |progress| covered(progress) > 0, Duration::from_secs(60));
        assert_eq!(readiness(http, &api).0, 200, "ready before the outage");
        postgres.stop();
        // The API keeps serving while the database is away; the results stop moving, and
        // readiness says so, naming the sink, once the stall time (2 s here) has passed.
        std::thread::sleep(Duration::from_secs(2));
        let (status, before) = http.get(&format!("{api}/v1/admin/progress"), ADMIN).expect("the API answers");
        assert_eq!(status, 200, "the API serves during the outage");
        let (status, body) = readiness_until(http, &api, 503, Duration::from_secs(10));
        assert_eq!(status, 503, "not ready while postgres fails: {body}");
        let reason = body["error"].as_str().unwrap_or_default();
        assert!(reason.contains("sink postgres has failed") && reason.contains("transient"), "{reason}");
        std::thread::sleep(outage);
        let (_, after) = http.get(&format!("{api}/v1/admin/progress"), ADMIN).expect("the API answers");
        assert_eq!(before["sources"], after["sources"], "nothing is published while Postgres is down");
        postgres.start_again();
        let (status, body) = readiness_until(http, &api, 200, Duration::from_secs(30));
        assert_eq!(status, 200, "ready again once postgres is back: {body}");
    }
    let mut outcome = scene.check(&deployment, running, stored_before_last_run);
    outcome.summary = format!("{} kills, {}", faults.kills, outcome.summary);
    outcome
}

impl Scene {
    /// Once the workload is produced and `running` (the last run, started when the stored
    /// results covered `stored_before_last_run` records) has caught up: asserts the tables, the
    /// API of every process, the alert topic and the DLQ against the reference model, then stops
    /// the last run with SIGTERM (status 0).
    fn check(mut self, deployment: &Deployment, mut running: Vec<Running>, stored_before_last_run: u64) -> Outcome {
        let produced = self.producer.take().expect("producing").join().expect("the producer thread");
        let processes = deployment.api_ports.len();
        let (http, postgres) = (&self.http, &self.postgres);
        let api = deployment.api(0);
        let model = model_of(produced.iter().cloned());
        let refused = produced.iter().filter(|record| ReferenceModel::new().apply((*record).clone()).is_err()).count();

        let database = postgres.url();
        let total = produced.len() as u64;
        for process in 0..processes {
            wait_for(http, &deployment.api(process), |progress| covered(progress) == total, Duration::from_secs(180));
        }

        // The last run resumed where the stored results end: it read only what they did not cover
        // (in a cluster, each process reports what its own workers read).
        let scrape = || {
            let mut scraped = String::new();
            for process in 0..processes {
                scraped.push_str(&http.text(&format!("{}/metrics", deployment.api(process))));
            }
            scraped
        };
        // What Prometheus scrapes from all processes together: every series the dashboard queries
        // is there once the last run has read something (a series set on a process's first
        // report may take a moment after a start; one counting records needs a record).
        let mut scraped = scrape();
        let consumed = metric_sum(&scraped, "flowmart_records_consumed_total");
        if consumed > 0 {
            let deadline = Instant::now() + Duration::from_secs(15);
            while !dashboard_metrics_missing(&scraped).is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(250));
                scraped = scrape();
            }
            let missing = dashboard_metrics_missing(&scraped);
            assert!(missing.is_empty(), "the dashboard queries {missing:?}, not exported");
        }
        let resumed = running_total_check(stored_before_last_run, total, consumed);

        // Postgres equals the model.
        let rows = query(
            &database,
            "SELECT tenant_id, warehouse_id, sku, on_hand, reserved, on_order, available, projected FROM stock_levels",
        );
        let stored_stock = rows
            .iter()
            .map(|row| ((row[0].clone(), row[1].clone(), row[2].clone()), row[3..].to_vec()))
            .collect::<BTreeMap<_, _>>();
        let expected_stock = model
            .stock()
            .iter()
            .map(|(position, levels)| {
                let key = (position.tenant_id.to_string(), position.warehouse_id.to_string(), position.sku.to_string());
                let values = [levels.on_hand, levels.reserved, levels.on_order, levels.available(), levels.projected()];
                (key, values.iter().map(i64::to_string).collect::<Vec<_>>())
            })
            .collect::<BTreeMap<_, _>>();
        assert_eq!(stored_stock, expected_stock, "stock_levels");
        let stored_settlements = query(
            &database,
            "SELECT tenant_id, currency, date::text, captured, refunded, chargebacks, fees, payouts, net, authorized FROM settlement_totals",
        )
        .into_iter()
        .collect::<BTreeSet<_>>();
        let expected_settlements = settlement_rows(&model).into_iter().collect::<BTreeSet<_>>();
        assert_eq!(stored_settlements, expected_settlements, "settlement_totals");
        // Lineage: every contributing record once per result it changed, after every kill.
        lineage::assert_history_equals_model(&self.brokers(), &produced, &database);
        // A regulator's export of each tenant re-sums to the same figures.
        lineage::assert_export_resums(&database);
        let expected_open = model
            .open_alerts()
            .iter()
            .map(|(position, (_, check))| {
                let key = (position.tenant_id.to_string(), position.warehouse_id.to_string(), position.sku.to_string());
                (key, (check.projected, check.reorder_point, check.suggested_quantity))
            })
            .collect::<BTreeMap<_, _>>();
        assert!(!expected_open.is_empty(), "the workload leaves alerts open");
        let stored_alerts = query(
            &database,
            "SELECT alert_id, tenant_id, warehouse_id, sku, status, projected, reorder_point, suggested_quantity FROM reorder_alerts",
        );
        let stored_open = stored_alerts
            .iter()
            .filter(|row| row[4] == "OPEN")
            .map(|row| {
                let number = |column: usize| row[column].parse::<i64>().unwrap();
                ((row[1].clone(), row[2].clone(), row[3].clone()), (number(5), number(6), number(7)))
            })
            .collect::<BTreeMap<_, _>>();
        assert_eq!(stored_open, expected_open, "open reorder_alerts");

        // The API of every process answers as the model says, tenant by tenant (a key issued through
        // process 0 works on every process once each has read the keys again).
        let tenants = expected_stock.keys().map(|(tenant, _, _)| tenant.clone()).collect::<BTreeSet<_>>();
        for (tenant, process) in tenants.iter().flat_map(|tenant| (0..processes).map(move |process| (tenant, process)))
        {
            let key = http.post(&format!("{api}/v1/admin/tenants/{tenant}/api-keys"), ADMIN)["api_key"]
                .as_str()
                .unwrap()
                .to_string();
            let deadline = Instant::now() + Duration::from_secs(10);
            let served = loop {
                match http.get(&format!("{}/v1/stock", deployment.api(process)), &key).expect("the API answers") {
                    (200, served) => break served,
                    (401, _) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                    (status, body) => panic!("process {process}: {status} {body}"),
                }
            };
            let served = served["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| {
                    let key = (
                        tenant.clone(),
                        item["warehouse_id"].as_str().unwrap().into(),
                        item["sku"].as_str().unwrap().into(),
                    );
                    let values = ["on_hand", "reserved", "on_order", "available", "projected"]
                        .iter()
                        .map(|field| item[*field].as_i64().unwrap().to_string())
                        .collect::<Vec<_>>();
                    (key, values)
                })
                .collect::<BTreeMap<_, _>>();
            let expected = expected_stock
                .iter()
                .filter(|((owner, _, _), _)| owner == tenant)
                .map(|(key, values)| (key.clone(), values.clone()))
                .collect::<BTreeMap<_, _>>();
            assert_eq!(served, expected, "stock of {tenant} over HTTP from process {process}");
        }

        if processes > 1 {
            assert_tenants_are_routed_to_their_owner(http, deployment, &tenants);
            assert_one_audit_chain(&database, processes, &tenants);
        }

        // The alert topic: every committed change exactly once, replaying to the stored alerts.
        let committed = query(&database, "SELECT alert_changes FROM pipeline_frontier")[0][0].parse::<u64>().unwrap();
        let published =
            consume(&self.brokers(), "flowmart.reorder-alerts", committed as usize, Duration::from_secs(60));
        let writer = WriterSchema::own::<ReorderAlert>();
        let mut changes = published
            .iter()
            .map(|record| {
                let (_, sequence) = record.headers.iter().find(|(key, _)| key == SEQUENCE_HEADER).expect("numbered");
                let change = decode::<ReorderAlert>(&writer, split_frame(record.value.as_deref().unwrap()).unwrap().1);
                (sequence.parse::<u64>().unwrap(), change.unwrap())
            })
            .collect::<Vec<_>>();
        changes.sort_by_key(|(sequence, _)| *sequence);
        let sequences = changes.iter().map(|(sequence, _)| *sequence).collect::<Vec<_>>();
        assert_eq!(sequences, (1..=committed).collect::<Vec<_>>(), "each committed alert change once, none missing");
        let mut replayed = BTreeMap::new();
        for (_, change) in &changes {
            let previous = replayed.insert(change.alert_id.to_string(), change.clone());
            match (previous.map(|alert| alert.status), change.status) {
                (None, ReorderAlertStatus::Opened) => {}
                (
                    Some(ReorderAlertStatus::Opened | ReorderAlertStatus::Updated),
                    ReorderAlertStatus::Updated | ReorderAlertStatus::Resolved,
                ) => {}
                (before, now) => panic!("alert {} went from {before:?} to {now:?}", change.alert_id),
            }
        }
        let replayed = replayed
            .values()
            .map(|alert| {
                let status = if alert.status == ReorderAlertStatus::Resolved { "RESOLVED" } else { "OPEN" };
                let values = [alert.projected, alert.reorder_point, alert.suggested_quantity];
                let mut row = vec![
                    alert.alert_id.to_string(),
                    alert.tenant_id.to_string(),
                    alert.warehouse_id.to_string(),
                    alert.sku.to_string(),
                    status.to_string(),
                ];
                row.extend(values.iter().map(i64::to_string));
                row
            })
            .collect::<BTreeSet<_>>();
        assert_eq!(replayed, stored_alerts.into_iter().collect::<BTreeSet<_>>(), "the topic replays to reorder_alerts");

        // Every bad record reached the DLQ (at least once: a crash between the two may repeat it).
        let dead = consume(&self.brokers(), "flowmart.dlq", refused, Duration::from_secs(60));
        let distinct = dead
            .iter()
            .map(|record| {
                record.headers.iter().filter(|(key, _)| key.starts_with("source.")).cloned().collect::<Vec<_>>()
            })
            .collect::<BTreeSet<_>>();
        assert_eq!(distinct.len(), refused, "every bad record set aside");

        let results = results(http, &api, &database, &tenants);

        // SIGTERM to the last process: the whole last run finishes and exits 0.
        let pid = running.last().expect("a process").0.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        for (process, running) in running.iter_mut().enumerate() {
            let status = exits_within(running, Duration::from_secs(60));
            assert_eq!(status.code(), Some(0), "process {process} after SIGTERM: {status}");
        }
        let summary = format!(
            "{total} records, {committed} alert changes each published once, {refused} bad records in the DLQ \
             ({} repeats), last run read {resumed} records ({stored_before_last_run} were stored)",
            dead.len() - refused
        );
        Outcome { summary, results }
    }
}

/// The tables and every tenant's answers (through process 0, which routes where it must).
fn results(http: &Http, api: &str, database: &str, tenants: &BTreeSet<String>) -> Results {
    let tables = [
        ("stock_levels", "SELECT tenant_id, warehouse_id, sku, on_hand, reserved, on_order, available, projected FROM stock_levels"),
        ("settlement_totals", "SELECT tenant_id, currency, date::text, captured, refunded, chargebacks, fees, payouts, net, authorized FROM settlement_totals"),
        ("open reorder_alerts", "SELECT tenant_id, warehouse_id, sku, projected, reorder_point, suggested_quantity FROM reorder_alerts WHERE status = 'OPEN'"),
    ]
    .into_iter()
    .map(|(table, sql)| (table, query(database, sql).into_iter().collect()))
    .collect();
    let answers = tenants
        .iter()
        .map(|tenant| {
            let key = http.post(&format!("{api}/v1/admin/tenants/{tenant}/api-keys"), ADMIN)["api_key"]
                .as_str()
                .unwrap()
                .to_string();
            let answers = ["/v1/stock", "/v1/settlements", "/v1/reorder-alerts?status=open"]
                .iter()
                .map(|route| {
                    // A new key reaches the other processes within a second.
                    let deadline = Instant::now() + Duration::from_secs(10);
                    let mut items = loop {
                        match http.get(&format!("{api}{route}"), &key) {
                            Some((200, body)) => break body["items"].clone(),
                            Some((401, _)) if Instant::now() < deadline => {
                                std::thread::sleep(Duration::from_millis(50))
                            }
                            answer => panic!("{route} of {tenant}: {answer:?}"),
                        }
                    };
                    let items = items.as_array_mut().expect("a list");
                    for item in items.iter_mut() {
                        let item = item.as_object_mut().unwrap();
                        item.remove("alert_id");
                        item.remove("opened_at");
                    }
                    // Alerts equally urgent are listed oldest first: without their times, in any order.
                    items.sort_by_key(Value::to_string);
                    Value::from(items.clone())
                })
                .collect();
            (tenant.clone(), answers)
        })
        .collect();
    Results { tables, answers }
}

/// In a cluster, each tenant is served by one process, whichever process is asked: its answers
/// (data, webhooks) come from that owner, and the tenant list gathers every process's tenants.
fn assert_tenants_are_routed_to_their_owner(http: &Http, deployment: &Deployment, tenants: &BTreeSet<String>) {
    let processes = deployment.api_ports.len();
    let mut owners = BTreeSet::new();
    for tenant in tenants {
        let key = http.post(&format!("{}/v1/admin/tenants/{tenant}/api-keys", deployment.api(0)), ADMIN)["api_key"]
            .as_str()
            .unwrap()
            .to_string();
        // Issued through process 0, the key works at once through every process.
        let answers = (0..processes)
            .map(|process| http.get_from(&format!("{}/v1/settlements", deployment.api(process)), &key))
            .collect::<Vec<_>>();
        let owner = answers[0].1.clone().expect("the answering process is named");
        for (process, (status, answered_by, body)) in answers.iter().enumerate() {
            assert_eq!(*status, 200, "process {process}: {body}");
            assert_eq!(answered_by.as_ref(), Some(&owner), "{tenant} asked through process {process}");
            assert_eq!(body["items"], answers[0].2["items"], "{tenant} through process {process}");
        }
        owners.insert(owner.clone());

        // The live alert stream, resumed from the start, comes from the owner too; so do the
        // change streams, which begin with the tenant's current items.
        for process in 0..processes {
            let (event, answered_by) =
                http.first_event(&format!("{}/v1/alerts/stream", deployment.api(process)), &key, Some(0));
            assert_eq!(answered_by.as_ref(), Some(&owner), "stream of {tenant} through process {process}");
            let event = event.expect("the tenant's kept alert changes are replayed");
            assert!(event.contains(&format!("\"tenant_id\":\"{tenant}\"")), "{event}");
            let (event, answered_by) =
                http.first_event(&format!("{}/v1/settlements/stream", deployment.api(process)), &key, None);
            assert_eq!(answered_by.as_ref(), Some(&owner), "settlement stream of {tenant} through process {process}");
            let event = event.expect("the tenant's settlement rows come first");
            let first_row = &answers[0].2["items"][0];
            assert!(event.starts_with("event: settlement\n"), "{event}");
            assert!(event.contains(&format!("\"date\":{}", first_row["date"])), "{event} vs {first_row}");
        }

        // A stream routed to the owner is a live session on both processes, each counting it.
        let owner_index = owner.parse::<usize>().unwrap();
        let router = (owner_index + 1) % processes;
        let routed = http.open_stream(&format!("{}/v1/alerts/stream", deployment.api(router)), &key);
        assert_eq!(routed.status(), 200);
        for process in [router, owner_index] {
            let metrics = http.text(&format!("{}/metrics", deployment.api(process)));
            let open: f64 = metrics
                .lines()
                .filter(|line| line.starts_with("flowmart_api_sessions ") || line.starts_with("flowmart_api_sessions{"))
                .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
                .sum();
            assert!(open >= 1.0, "process {process} counts the routed session: {open}");
        }
        drop(routed);

        // A webhook registered through any process lives with the owner, listed the same everywhere.
        let url = serde_json::json!({ "url": "http://127.0.0.1:9/hook" });
        let last = processes - 1;
        let (status, answered_by, registered) =
            http.post_json(&format!("{}/v1/webhooks", deployment.api(last)), &key, &url);
        assert_eq!((status, answered_by.as_ref()), (201, Some(&owner)), "registered: {registered}");
        for process in 0..processes {
            let (_, answered_by, listed) = http.get_from(&format!("{}/v1/webhooks", deployment.api(process)), &key);
            assert_eq!(answered_by.as_ref(), Some(&owner));
            assert_eq!(listed["items"][0]["webhook_id"], registered["webhook_id"], "through process {process}");
        }
    }
    assert_eq!(owners.len(), processes, "the workload's tenants are spread over every process: {owners:?}");
    for process in 0..processes {
        let listed = http.json(&format!("{}/v1/admin/tenants", deployment.api(process)), ADMIN);
        let listed = listed["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tenant| tenant["tenant_id"].as_str().unwrap().to_string())
            .collect::<BTreeSet<_>>();
        assert_eq!(&listed, tenants, "every tenant listed through process {process}");
    }
}

/// Every process of the cluster appended to one intact audit chain: each one's configuration at
/// start, and each tenant's webhook registered (through the process that does not own it, above)
/// naming the tenant key that registered it.
fn assert_one_audit_chain(database: &str, processes: usize, tenants: &BTreeSet<String>) {
    let verified = Command::new(env!("CARGO_BIN_EXE_flowmart"))
        .args(["audit", "verify", "--database-url", database])
        .output()
        .expect("flowmart audit verify runs");
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    let started = query(
        database,
        "SELECT DISTINCT details->>'process' AS process FROM audit_log WHERE action = 'configuration.at_start' ORDER BY 1",
    );
    let expected = (0..processes).map(|process| vec![process.to_string()]).collect::<Vec<_>>();
    assert_eq!(started, expected, "each process recorded its configuration");
    for tenant in tenants {
        let registered = query(
            database,
            &format!("SELECT actor FROM audit_log WHERE action = 'webhook.registered' AND tenant_id = '{tenant}'"),
        );
        assert!(
            !registered.is_empty() && registered.iter().all(|row| row[0].starts_with("key_")),
            "{tenant}: {registered:?}"
        );
    }
}

/// The metrics the Grafana dashboard queries that `metrics` does not hold.
fn dashboard_metrics_missing(metrics: &str) -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/grafana/dashboards/flowmart.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("the dashboard")).unwrap();
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for (at, _) in expr.match_indices("flowmart_") {
                let name = expr[at..].split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap();
                queried.insert(name.trim_end_matches("_bucket").trim_end_matches("_count").to_string());
            }
        }
    }
    assert!(queried.len() >= 10, "{queried:?}");
    queried.into_iter().filter(|name| !metrics.lines().any(|line| line.starts_with(name))).collect()
}

/// Produces the generator's workload in 40 slices, `pause` apart, each while holding `gate`;
/// returns the records in order.
fn produce_in_slices(
    brokers: &str,
    registry_url: &str,
    config: &GeneratorConfig,
    gate: &Mutex<()>,
    pause: Duration,
) -> Vec<InputRecord> {
    let producer =
        WorkloadProducer::connect(&brokers.into(), &SchemaRegistryConfig::new(registry_url), Topics::default())
            .expect("a workload producer");
    let mut records = Vec::new();
    for generator_partition in 0..config.partitions {
        let mut workload = PartitionWorkload::new(config, generator_partition);
        while let Some(record) = workload.next() {
            records.push(record);
        }
    }
    let slice = records.len().div_ceil(40);
    let mut produced = Vec::with_capacity(records.len());
    for chunk in records.chunks(slice) {
        let gate = gate.lock().expect("the broker gate");
        for record in chunk {
            producer.send(record).expect("queued");
            produced.push(record.decoded.clone().expect("generated"));
        }
        producer.flush().expect("acknowledged");
        drop(gate);
        std::thread::sleep(pause);
    }
    produced
}

/// Waits until the admin progress report satisfies `done`.
fn wait_for(http: &Http, api: &str, done: impl Fn(&Value) -> bool, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let answer = http.get(&format!("{api}/v1/admin/progress"), ADMIN);
        if let Some((200, progress)) = &answer
            && done(progress)
        {
            return;
        }
        assert!(Instant::now() < deadline, "{api} did not get there in {timeout:?}; last progress: {answer:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The offsets the stored results cover, once no session of a killed run is left: a commit it
/// sent before dying may still be landing.
fn stored_offsets(database: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let others =
        "SELECT count(*)::text FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()";
    while query(database, others)[0][0] != "0" {
        assert!(Instant::now() < deadline, "sessions of a killed run did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
    query(database, "SELECT COALESCE(SUM(next_offset), 0)::text FROM pipeline_progress")
        .first()
        .map_or(0, |row| row[0].parse().unwrap())
}

/// Asserts the last run read exactly what the stored progress did not cover; returns that.
fn running_total_check(stored: u64, total: u64, consumed: u64) -> u64 {
    assert_eq!(consumed, total - stored, "the last run resumed at the stored offsets, replaying nothing");
    consumed
}

fn metric_sum(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .filter(|line| line.starts_with(name) && !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Runs `sql` on `database`, every column as text.
fn query(database: &str, sql: &str) -> Vec<Vec<String>> {
    use sqlx::{Connection, Row};
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut connection = sqlx::PgConnection::connect(database).await.unwrap();
        // Every column as text, in the query's order.
        let text = format!("SELECT ARRAY(SELECT value FROM json_each_text(row_to_json(q))) FROM ({sql}) q");
        sqlx::query(sqlx::AssertSqlSafe(text))
            .fetch_all(&mut connection)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<Vec<Option<String>>, _>(0).into_iter().map(Option::unwrap_or_default).collect())
            .collect()
    })
}
