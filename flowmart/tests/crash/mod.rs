//! The crash harness shared by `tests/crash_recovery.rs` and the `crash_soak` benchmark: a seeded
//! workload is produced while `flowmart run` is killed with SIGKILL at random moments (and,
//! optionally, while its Postgres server is stopped and started), then a last run catches up, and
//! the tables, the API and the alert topic are compared with the reference model.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use apache_avro::Schema;
use flowmart_operators::reference::ReferenceModel;
use flowmart_pipelines::Topics;
use flowmart_pipelines::sources::generator::{GeneratorConfig, PartitionWorkload};
use flowmart_pipelines::sources::kafka::{WorkloadProducer, split_frame};
use flowmart_schemas::{AvroRecord, InputRecord, ReorderAlert, ReorderAlertStatus, decode};
use flowmart_testkit::{PrivatePostgres, RegistryStub, Tansu, consume, free_port, model_of};
use serde_json::Value;

#[path = "../support/mod.rs"]
mod support;

use support::{Http, Running, create_flowmart_topics};

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
}

fn start_flowmart(brokers: &str, registry: &str, database_url: &str, port: u16) -> Running {
    // Tansu holds a fetch for the whole wait when some partitions have nothing new.
    let config = std::env::temp_dir().join(format!("flowmart-crash-{port}.toml"));
    std::fs::write(&config, "[kafka.consumer]\n\"fetch.wait.max.ms\" = \"10\"\n").expect("a config file");
    let child = Command::new(env!("CARGO_BIN_EXE_flowmart"))
        .args(["run", "--config"])
        .arg(&config)
        .args(["--brokers", brokers, "--schema-registry", registry])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--workers", "2", "--database-url", database_url])
        .env("FLOWMART_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the flowmart binary starts");
    Running(child)
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

/// Runs the whole scenario and asserts what it promises; returns a one-line summary.
pub fn crash_and_recover(faults: Faults) -> String {
    let tansu = Tansu::start();
    let registry = RegistryStub::start();
    let postgres = PrivatePostgres::start();
    create_flowmart_topics(&tansu.brokers());
    let config = GeneratorConfig {
        seed: faults.seed,
        tenants: 4,
        partitions: 3,
        skus_per_tenant: 20,
        records_per_second: None,
        max_records: Some(6_000),
        fault_ratio: 0.01,
        ..GeneratorConfig::default()
    };

    // The workload goes out in slices while the pipeline is killed and restarted.
    let producer = {
        let (brokers, registry_url, config) = (tansu.brokers(), registry.url().to_string(), config.clone());
        // Spread over about as long as the kills take, so each run has records to read.
        let pause = Duration::from_millis((35 * faults.kills as u64).max(150));
        std::thread::spawn(move || produce_in_slices(&brokers, &registry_url, &config, 40, pause))
    };
    let migrated = Command::new(env!("CARGO_BIN_EXE_flowmart"))
        .args(["migrate", "--database-url", &postgres.url()])
        .stdout(Stdio::null())
        .status()
        .expect("flowmart migrate runs");
    assert!(migrated.success(), "flowmart migrate");
    let mut moments = Moments(faults.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let port = free_port();
    let http = Http::new();
    let api = format!("http://127.0.0.1:{port}");
    for kill in 0..faults.kills {
        let mut running = start_flowmart(&tansu.brokers(), registry.url(), &postgres.url(), port);
        std::thread::sleep(Duration::from_millis(moments.next_ms(300, 2_500)));
        running.0.kill().expect("SIGKILL");
        running.0.wait().expect("the killed process is reaped");
        eprintln!("crash harness: kill {} of {}", kill + 1, faults.kills);
    }

    let stored_before_last_run = stored_offsets(&postgres.url());
    let mut running = start_flowmart(&tansu.brokers(), registry.url(), &postgres.url(), port);
    if let Some(outage) = faults.postgres_outage {
        wait_for(&http, &api, |progress| covered(progress) > 0, Duration::from_secs(60));
        postgres.stop();
        // The API keeps serving while the database is away; the results stop moving.
        std::thread::sleep(Duration::from_secs(2));
        let (status, before) = http.get(&format!("{api}/v1/admin/progress"), ADMIN).expect("the API answers");
        assert_eq!(status, 200, "the API serves during the outage");
        std::thread::sleep(outage);
        let (_, after) = http.get(&format!("{api}/v1/admin/progress"), ADMIN).expect("the API answers");
        assert_eq!(before["sources"], after["sources"], "nothing is published while Postgres is down");
        postgres.start_again();
    }
    let produced = producer.join().expect("the producer thread");
    let model = model_of(produced.iter().cloned());
    let refused = produced.iter().filter(|record| ReferenceModel::new().apply((*record).clone()).is_err()).count();

    let database = postgres.url();
    let total = produced.len() as u64;
    wait_for(&http, &api, |progress| covered(progress) == total, Duration::from_secs(180));

    // The last run resumed where the stored results end: it read only what they did not cover.
    let metrics = http.text(&format!("{api}/metrics"));
    assert_dashboard_metrics_are_exported(&metrics);
    let consumed = metric_sum(&metrics, "flowmart_records_consumed_total");
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
    let expected_settlements = model
        .settlements()
        .iter()
        .map(|(key, totals)| {
            let mut row = vec![key.tenant_id.to_string(), key.currency.to_string(), key.settlement_date.to_string()];
            let values = [
                totals.captured,
                totals.refunded,
                totals.chargebacks,
                totals.fees,
                totals.payouts,
                totals.net(),
                totals.authorized,
            ];
            row.extend(values.iter().map(i64::to_string));
            row
        })
        .collect::<BTreeSet<_>>();
    assert_eq!(stored_settlements, expected_settlements, "settlement_totals");
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

    // The API answers as the model says, tenant by tenant.
    let tenants = expected_stock.keys().map(|(tenant, _, _)| tenant.clone()).collect::<BTreeSet<_>>();
    for tenant in &tenants {
        let key = http.post(&format!("{api}/v1/admin/tenants/{tenant}/api-keys"), ADMIN)["api_key"]
            .as_str()
            .unwrap()
            .to_string();
        let (status, served) = http.get(&format!("{api}/v1/stock"), &key).expect("the API answers");
        assert_eq!(status, 200);
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
        assert_eq!(served, expected, "stock of {tenant} over HTTP");
    }

    // The alert topic: every committed change exactly once, replaying to the stored alerts.
    let committed = query(&database, "SELECT alert_changes FROM pipeline_frontier")[0][0].parse::<u64>().unwrap();
    let published = consume(&tansu.brokers(), "flowmart.reorder-alerts", committed as usize, Duration::from_secs(60));
    let reader = Schema::parse_str(ReorderAlert::SCHEMA_TEXT).unwrap();
    let mut changes = published
        .iter()
        .map(|record| {
            let (_, sequence) = record.headers.iter().find(|(key, _)| key == SEQUENCE_HEADER).expect("numbered");
            let change = decode::<ReorderAlert>(&reader, split_frame(record.value.as_deref().unwrap()).unwrap().1);
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
    let dead = consume(&tansu.brokers(), "flowmart.dlq", refused, Duration::from_secs(60));
    let distinct = dead
        .iter()
        .map(|record| record.headers.iter().filter(|(key, _)| key.starts_with("source.")).cloned().collect::<Vec<_>>())
        .collect::<BTreeSet<_>>();
    assert_eq!(distinct.len(), refused, "every bad record set aside");

    // SIGTERM: the last run finishes and exits 0.
    let pid = running.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert_eq!(running.0.wait().unwrap().code(), Some(0), "SIGTERM exits 0");
    format!(
        "{} kills, {} records, {} alert changes, last run read {resumed} records ({} were stored)",
        faults.kills, total, committed, stored_before_last_run
    )
}

/// Every metric the Grafana dashboard queries is one the binary exports.
fn assert_dashboard_metrics_are_exported(metrics: &str) {
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
    for name in queried {
        assert!(metrics.lines().any(|line| line.starts_with(&name)), "the dashboard queries {name}, not exported");
    }
}

/// Produces the generator's workload in `slices`, `pause` apart; returns the records in order.
fn produce_in_slices(
    brokers: &str,
    registry_url: &str,
    config: &GeneratorConfig,
    slices: usize,
    pause: Duration,
) -> Vec<InputRecord> {
    let producer = WorkloadProducer::connect(brokers, registry_url, Topics::default()).expect("a workload producer");
    let mut records = Vec::new();
    for generator_partition in 0..config.partitions {
        let mut workload = PartitionWorkload::new(config, generator_partition);
        while let Some(record) = workload.next() {
            records.push(record);
        }
    }
    let slice = records.len().div_ceil(slices);
    let mut produced = Vec::with_capacity(records.len());
    for chunk in records.chunks(slice) {
        for record in chunk {
            producer.send(record).expect("queued");
            produced.push(record.decoded.clone().expect("generated"));
        }
        producer.flush().expect("acknowledged");
        std::thread::sleep(pause);
    }
    produced
}

/// Waits until the admin progress report satisfies `done`.
fn wait_for(http: &Http, api: &str, done: impl Fn(&Value) -> bool, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some((200, progress)) = http.get(&format!("{api}/v1/admin/progress"), ADMIN)
            && done(&progress)
        {
            return;
        }
        assert!(Instant::now() < deadline, "the pipeline did not get there in {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How many records the progress report covers.
fn covered(progress: &Value) -> u64 {
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
