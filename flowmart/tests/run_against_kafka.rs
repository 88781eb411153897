//! The `flowmart` binary end to end against a real Kafka-protocol broker (Tansu) and a Schema
//! Registry stub: `flowmart run` reads the produced workload, answers over HTTP as the reference
//! model says, sets every bad record aside on the DLQ topic with its headers, publishes alert
//! changes whose replay gives the model's open alerts, and exits 0 on SIGTERM; a second `flowmart
//! run` on the same database waits for the first and takes over. The same over secured links:
//! Kafka over TLS, an https registry behind basic auth, Postgres with `sslmode=verify-full`,
//! secrets from files. `flowmart validate` names every problem at
//! once.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flowmart_generator::GeneratorConfig;
use flowmart_kafka::{frame, split_frame};
use flowmart_operators::reference::ReferenceModel;
use flowmart_runtime::Topics;
use flowmart_schemas::{ReorderAlert, ReorderAlertStatus, WriterSchema, decode};
use flowmart_testkit::{
    Consumed, PrivatePostgres, RegistryStub, Tansu, TansuAuth, TestCertificates, TestDatabase, consume, free_port,
    model_of, produce, produce_workload,
};
use support::{Http, Running, covered, create_flowmart_topics, run_flowmart, wait_until_covered};

mod support;

const ADMIN: &str = "e2e-admin-token";

#[test]
fn flowmart_run_serves_the_model_and_publishes_dead_letters_and_alerts() {
    let tansu = Tansu::start();
    let registry = RegistryStub::start();
    let topics = Topics::default();
    create_flowmart_topics(&tansu.brokers());
    let config = GeneratorConfig {
        seed: 3,
        tenants: 3,
        partitions: 3,
        skus_per_tenant: 25,
        records_per_second: None,
        max_records: Some(4_000),
        fault_ratio: 0.01,
        ..GeneratorConfig::default()
    };
    let produced = produce_workload(&tansu.brokers(), &registry, &config);
    let garbage = vec![
        (topics.payments.clone(), 1, Some(b"acme-wholesale".to_vec()), Some(b"\x00\x00\x00".to_vec())),
        (topics.orders.clone(), 2, Some(b"acme-wholesale".to_vec()), Some(frame(4_242, b"\x02"))),
    ];
    produce(&tansu.brokers(), &garbage);
    let model = model_of(produced.records.clone());
    let refused =
        produced.records.iter().filter(|record| ReferenceModel::new().apply((*record).clone()).is_err()).count();
    let total = produced.count + garbage.len();

    let database = TestDatabase::create();
    let port = free_port();
    let mut running = run_flowmart(&tansu.brokers(), registry.url(), &database.url(), port, ADMIN);
    let http = Http::new();
    let api = format!("http://127.0.0.1:{port}");
    // Caught up when the progress report covers every produced record.
    wait_until_covered(&http, &api, ADMIN, total, Duration::from_secs(120));

    // Each tenant's stock over HTTP equals the model's.
    let stock = model.stock();
    let tenants = stock.keys().map(|position| position.tenant_id.clone()).collect::<std::collections::BTreeSet<_>>();
    for tenant in &tenants {
        let key = http.post(&format!("{api}/v1/admin/tenants/{tenant}/api-keys"), ADMIN)["api_key"]
            .as_str()
            .unwrap()
            .to_string();
        let served = http.json(&format!("{api}/v1/stock"), &key);
        let served = served["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                let field = |name: &str| item[name].as_i64().unwrap();
                (
                    (item["warehouse_id"].as_str().unwrap().to_string(), item["sku"].as_str().unwrap().to_string()),
                    (field("on_hand"), field("reserved"), field("on_order")),
                )
            })
            .collect::<BTreeMap<_, _>>();
        let expected = stock
            .iter()
            .filter(|(position, _)| position.tenant_id == *tenant)
            .map(|(position, levels)| {
                (
                    (position.warehouse_id.to_string(), position.sku.to_string()),
                    (levels.on_hand, levels.reserved, levels.on_order),
                )
            })
            .collect::<BTreeMap<_, _>>();
        assert_eq!(served, expected, "stock of {tenant}");
    }

    // Postgres holds the same stock, and the offsets it covers.
    let stored = database.rows("SELECT tenant_id, warehouse_id, sku, on_hand::text FROM stock_levels ORDER BY 1, 2, 3");
    let mut expected_stored = stock
        .iter()
        .map(|(position, levels)| {
            vec![
                position.tenant_id.to_string(),
                position.warehouse_id.to_string(),
                position.sku.to_string(),
                levels.on_hand.to_string(),
            ]
        })
        .collect::<Vec<_>>();
    expected_stored.sort();
    assert_eq!(stored, expected_stored, "stock_levels");
    let stored_next_offsets: i64 = database
        .rows("SELECT next_offset::text FROM pipeline_progress")
        .iter()
        .map(|row| row[0].parse::<i64>().unwrap())
        .sum();
    assert_eq!(stored_next_offsets as usize, total, "pipeline_progress covers every record");

    // Every bad record is on the DLQ, once, with the contract's headers.
    let dead = consume(&tansu.brokers(), "flowmart.dlq", refused + garbage.len(), Duration::from_secs(60));
    assert_eq!(dead.len(), refused + garbage.len(), "each bad record set aside once");
    for record in &dead {
        let names = record.headers.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>();
        assert_eq!(names, ["error.kind", "error.message", "source.topic", "source.partition", "source.offset"]);
    }
    let kinds = dead.iter().map(|record| record.headers[0].1.clone()).collect::<Vec<_>>();
    assert!(
        kinds.contains(&"bad_wire_format".to_string()) && kinds.contains(&"unknown_schema_id".to_string()),
        "{kinds:?}"
    );
    let metrics = http.text(&format!("{api}/metrics"));
    assert!(
        metrics.contains("flowmart_dead_letters_total{topic=\"flowmart.payments\",kind=\"bad_wire_format\"} 1"),
        "{metrics}"
    );
    // Every series says what it is: a `# HELP` for every `# TYPE`, and the catalogue in the README
    // names every one.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let typed = metrics.lines().filter_map(|line| line.strip_prefix("# TYPE ")?.split(' ').next()).collect::<Vec<_>>();
    assert!(typed.len() >= 12, "{metrics}");
    for name in typed {
        assert!(metrics.contains(&format!("# HELP {name} ")), "{name} has no HELP: {metrics}");
        assert!(readme.contains(&format!("`{name}`")), "{name} is not in the README's metrics catalogue");
    }

    // Replaying the alert topic gives the model's open alerts.
    let published =
        consume(&tansu.brokers(), "flowmart.reorder-alerts", model.open_alerts().len(), Duration::from_secs(60));
    let expected_open = open_alerts_of(&model);
    assert!(!expected_open.is_empty());
    assert_eq!(replayed_open_alerts(&published), expected_open, "the alert topic replays to the open alerts");

    // SIGTERM: finish, exit 0.
    let pid = running.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = running.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM exits 0");
}

#[test]
fn validate_names_every_bad_key_and_exits_78() {
    let dir = std::env::temp_dir().join(format!("flowmart-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[kafka]\nbrokers = \"\"\nschema_registry_url = \"registry:8081\"\n[runtime]\nworkers = 0\n")
        .unwrap();
    let output =
        Command::new(env!("CARGO_BIN_EXE_flowmart")).args(["validate", bad.to_str().unwrap()]).output().unwrap();
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines = stderr.lines().collect::<Vec<_>>();
    assert_eq!(lines.len(), 3, "one line per problem: {stderr}");
    for key in ["kafka.brokers", "kafka.schema_registry_url", "runtime.workers"] {
        assert!(lines.iter().any(|line| line.contains(key) && line.contains("bad.toml")), "{key} in {stderr}");
    }
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("flowmart.toml");
    let output =
        Command::new(env!("CARGO_BIN_EXE_flowmart")).args(["validate", example.to_str().unwrap()]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let output = Command::new(env!("CARGO_BIN_EXE_flowmart"))
        .args(["validate", example.to_str().unwrap()])
        .env("FLOWMART_WORKERS", "lots")
        .env("FLOWMART__API__LISTEN", "nowhere")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("FLOWMART_WORKERS") || stderr.contains("FLOWMART__API__LISTEN"),
        "the variable is named: {stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn validate_names_an_unknown_key_a_bad_type_and_a_bad_address_at_once() {
    let dir = std::env::temp_dir().join(format!("flowmart-validate-all-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    let text = "[kafka]\nbrokers = \"kafka:9092\"\nschema_registry_url = \"http://registry:8081\"\ncolour = \"blue\"\n\
                [runtime]\nworkers = \"many\"\n[api]\nlisten = \"nowhere:port\"\n";
    std::fs::write(&bad, text).unwrap();
    let output =
        Command::new(env!("CARGO_BIN_EXE_flowmart")).args(["validate", bad.to_str().unwrap()]).output().unwrap();
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines = stderr.lines().collect::<Vec<_>>();
    assert_eq!(lines.len(), 3, "one line per problem: {stderr}");
    for (key, says) in [("kafka.colour", "unknown key"), ("runtime.workers", "many"), ("api.listen", "socket address")]
    {
        assert!(
            lines.iter().any(|line| line.contains("bad.toml") && line.contains(key) && line.contains(says)),
            "{key} ({says}) in {stderr}"
        );
    }

    // A librdkafka property from the environment (`_` for `.`) and a secret file, named as set.
    let output = Command::new(env!("CARGO_BIN_EXE_flowmart"))
        .args(["validate", concat!(env!("CARGO_MANIFEST_DIR"), "/flowmart.toml")])
        .env("FLOWMART__KAFKA__PRODUCER__COMPRESSION_TYPE", "brotli")
        .env("FLOWMART__KAFKA__SASL_PASSWORD_FILE", dir.join("missing"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.lines().any(|line| line.starts_with("flowmart: bad configuration: FLOWMART__KAFKA__PRODUCER__COMPRESSION_TYPE (kafka.producer.\"compression.type\")")
            && line.contains("brotli")),
        "{stderr}"
    );
    assert!(
        stderr.lines().any(|line| line.contains("FLOWMART__KAFKA__SASL_PASSWORD_FILE") && line.contains("missing")),
        "{stderr}"
    );
    let help = Command::new(env!("CARGO_BIN_EXE_flowmart")).args(["validate", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("every") && help.contains("at once") && help.contains("78"), "{help}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Each tenant's stock as the API serves it: (tenant, warehouse, sku) → (on_hand, reserved, on_order).
fn served_stock(http: &Http, api: &str, tenants: &[String]) -> BTreeMap<(String, String, String), (i64, i64, i64)> {
    let mut stock = BTreeMap::new();
    for tenant in tenants {
        let key = http.post(&format!("{api}/v1/admin/tenants/{tenant}/api-keys"), ADMIN)["api_key"]
            .as_str()
            .unwrap()
            .to_string();
        for item in http.json(&format!("{api}/v1/stock"), &key)["items"].as_array().unwrap() {
            let field = |name: &str| item[name].as_i64().unwrap();
            let text = |name: &str| item[name].as_str().unwrap().to_string();
            stock.insert(
                (tenant.clone(), text("warehouse_id"), text("sku")),
                (field("on_hand"), field("reserved"), field("on_order")),
            );
        }
    }
    stock
}

#[test]
fn flowmart_run_over_tls_an_https_registry_and_verify_full_postgres_serves_and_stores_the_model() {
    let certificates = TestCertificates::generate();
    let tansu = Tansu::start_secured(&certificates, TansuAuth::Tls);
    let kafka = tansu.connection();
    let registry = RegistryStub::start_https(&certificates, "registry-user", "registry-secret");
    let postgres = PrivatePostgres::start_tls_only(&certificates);
    create_flowmart_topics(&kafka);
    let config = GeneratorConfig {
        seed: 11,
        tenants: 2,
        partitions: 3,
        skus_per_tenant: 15,
        records_per_second: None,
        max_records: Some(1_500),
        fault_ratio: 0.0,
        ..GeneratorConfig::default()
    };
    let produced = produce_workload(&kafka, &registry, &config);
    let model = model_of(produced.records.clone());

    // Every secret from a file, as mounted secrets are.
    let secret = |name: &str, value: &str| {
        let path = certificates.dir().join(name);
        std::fs::write(&path, format!("{value}\n")).unwrap();
        path
    };
    let database_url = postgres.tls_url(&certificates.ca_file());
    let ca = certificates.ca_file();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_flowmart"))
        .args(["run", "--listen", &format!("127.0.0.1:{port}"), "--workers", "2"])
        .env_remove("DATABASE_URL")
        .env("FLOWMART_BROKERS", &kafka.brokers)
        .env("FLOWMART__KAFKA__SECURITY_PROTOCOL", "SSL")
        .env("FLOWMART__KAFKA__SSL_CA_FILE", &ca)
        .env("FLOWMART__KAFKA__PRODUCER__COMPRESSION_TYPE", "zstd")
        .env("FLOWMART_SCHEMA_REGISTRY_URL", registry.url())
        .env("FLOWMART__KAFKA__SCHEMA_REGISTRY_USERNAME", "registry-user")
        .env("FLOWMART__KAFKA__SCHEMA_REGISTRY_PASSWORD_FILE", secret("registry-password", "registry-secret"))
        .env("FLOWMART__KAFKA__SCHEMA_REGISTRY_CA_FILE", &ca)
        .env("DATABASE_URL_FILE", secret("database-url", &database_url))
        .env("FLOWMART_ADMIN_TOKEN_FILE", secret("admin-token", ADMIN))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the flowmart binary starts");
    let mut running = Running(child);
    let http = Http::new();
    let api = format!("http://127.0.0.1:{port}");

    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let progress = http.get(&format!("{api}/v1/admin/progress"), ADMIN).map(|(_, body)| body);
        if progress.as_ref().is_some_and(|progress| covered(progress) as usize == produced.count) {
            break;
        }
        assert!(Instant::now() < deadline, "progress stuck: {progress:?} of {}", produced.count);
        std::thread::sleep(Duration::from_millis(50));
    }

    let expected = model
        .stock()
        .iter()
        .map(|(position, levels)| {
            (
                (position.tenant_id.to_string(), position.warehouse_id.to_string(), position.sku.to_string()),
                (levels.on_hand, levels.reserved, levels.on_order),
            )
        })
        .collect::<BTreeMap<_, _>>();
    let tenants = expected.keys().map(|(tenant, _, _)| tenant.clone()).collect::<std::collections::BTreeSet<_>>();
    assert_eq!(served_stock(&http, &api, &tenants.into_iter().collect::<Vec<_>>()), expected, "served stock");

    // Stored over TLS: the same stock, read back with verify-full.
    let stored = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        use sqlx::{Connection, Row};
        let mut connection = sqlx::PgConnection::connect(&database_url).await.expect("verify-full");
        let rows = sqlx::query(
            "SELECT tenant_id, warehouse_id, sku, on_hand::int8, reserved::int8, on_order::int8 FROM stock_levels",
        )
        .fetch_all(&mut connection)
        .await
        .unwrap();
        rows.iter()
            .map(|row| ((row.get(0), row.get(1), row.get(2)), (row.get(3), row.get(4), row.get(5))))
            .collect::<BTreeMap<(String, String, String), (i64, i64, i64)>>()
    });
    assert_eq!(stored, expected, "stock_levels");

    // Alert changes, zstd-compressed, over TLS: their replay gives the open alerts.
    let published = consume(&kafka, "flowmart.reorder-alerts", model.open_alerts().len(), Duration::from_secs(30));
    let expected_open = open_alerts_of(&model);
    assert!(!expected_open.is_empty());
    assert_eq!(replayed_open_alerts(&published), expected_open, "the alert topic replays to the open alerts");

    assert!(Command::new("kill").args(["-TERM", &running.0.id().to_string()]).status().unwrap().success());
    assert_eq!(running.0.wait().unwrap().code(), Some(0), "SIGTERM exits 0");
}

#[test]
fn flowmart_produce_writes_the_workload_as_registered_avro() {
    let tansu = Tansu::start();
    let registry = RegistryStub::start();
    let output = Command::new(env!("CARGO_BIN_EXE_flowmart"))
        .args([
            "produce",
            "--brokers",
            &tansu.brokers(),
            "--schema-registry",
            registry.url(),
            "--create-topics",
            "4",
            "--records",
            "6000",
            "--rate",
            "50000",
            "--tenants",
            "2",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("produced 6000 records"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let topics = Topics::default();
    let writer = WriterSchema::own::<flowmart_schemas::InventoryEvent>();
    let inventory = consume(&tansu.brokers(), &topics.inventory, 1, Duration::from_secs(30));
    assert!(!inventory.is_empty());
    for record in &inventory {
        let (schema_id, body) = split_frame(record.value.as_deref().unwrap()).unwrap();
        assert_eq!(Some(schema_id), registry.latest_id("flowmart.inventory-value"));
        let event = decode::<flowmart_schemas::InventoryEvent>(&writer, body).unwrap();
        assert_eq!(record.key.as_deref(), Some(event.tenant_id.as_bytes()), "keyed by tenant");
        assert!(record.partition < 4);
    }
    let per_topic = flowmart_runtime::InputTopic::ALL
        .map(|topic| consume(&tansu.brokers(), topics.name(topic), 1, Duration::from_secs(30)).len());
    assert!(per_topic.iter().all(|records| *records > 0), "every topic gets records: {per_topic:?}");
    assert_eq!(per_topic.iter().sum::<usize>(), 6000);
}

/// Runs `flowmart run` against `brokers` and `registry` for a few seconds, without a database and
/// with `environment`, then SIGTERM; returns the exit code and what it wrote to stderr.
fn run_briefly(brokers: &str, registry: &str, environment: &[(&str, &str)]) -> (Option<i32>, String) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_flowmart"))
        .args([
            "run",
            "--brokers",
            brokers,
            "--schema-registry",
            registry,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--workers",
            "1",
        ])
        .env("FLOWMART_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "warn")
        // No database: no shared database is touched.
        .env_remove("DATABASE_URL")
        .envs(environment.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let mut running = Running(child);
    assert!(running.0.try_wait().unwrap().is_none(), "still running, retrying");
    assert!(Command::new("kill").args(["-TERM", &running.0.id().to_string()]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "flowmart did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(running.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    (status.code(), stderr)
}

#[test]
fn without_a_database_alert_changes_are_not_published_unless_asked_and_it_says_so() {
    let closed = format!("127.0.0.1:{}", free_port());
    let registry = RegistryStub::start();
    let (code, stderr) = run_briefly(&closed, registry.url(), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("alert changes are not published to flowmart.reorder-alerts: without a database"),
        "{stderr}"
    );
    assert!(!stderr.contains("the schema registry at"), "no alert producer, no registry needed at start: {stderr}");
}

#[test]
fn an_unreachable_registry_or_broker_is_reported_and_retried_and_sigterm_still_exits_0() {
    let closed = format!("127.0.0.1:{}", free_port());
    // Alerts published anyway, so that the registry is needed at start.
    let publish_anyway = [("FLOWMART__KAFKA__ALERTS_WITHOUT_DATABASE", "true")];
    let (code, stderr) = run_briefly(&closed, &format!("http://{closed}"), &publish_anyway);
    assert_eq!(code, Some(0), "{stderr}");
    let retries = stderr
        .lines()
        .filter(|line| {
            line.contains("the schema registry at") && line.contains("unreachable") && line.contains("retrying in")
        })
        .count();
    assert!(retries >= 2, "one line per attempt, retried: {stderr}");
    assert!(
        stderr.contains("warning: publishing alert changes to flowmart.reorder-alerts without a database"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let registry = RegistryStub::start();
    let (code, stderr) = run_briefly(&closed, registry.url(), &publish_anyway);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.lines().any(|line| line.contains("kafka unreachable") && line.contains("retry")), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_second_flowmart_run_on_the_same_database_waits_for_the_first_and_takes_over_when_it_stops() {
    let tansu = Tansu::start();
    let registry = RegistryStub::start();
    create_flowmart_topics(&tansu.brokers());
    let database = TestDatabase::create();
    let start = |port: u16| {
        let child = Command::new(env!("CARGO_BIN_EXE_flowmart"))
            .args(["run", "--brokers", &tansu.brokers(), "--schema-registry", registry.url()])
            .args(["--listen", &format!("127.0.0.1:{port}"), "--workers", "1", "--database-url", &database.url()])
            .env("FLOWMART_ADMIN_TOKEN", ADMIN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the flowmart binary starts");
        Running(child)
    };
    let http = Http::new();
    let answers = |port: u16| http.get(&format!("http://127.0.0.1:{port}/healthz"), ADMIN).is_some();
    let wait_until = |what: &str, within: Duration, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + within;
        while !done() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    let (first_port, second_port) = (free_port(), free_port());
    let mut first = start(first_port);
    wait_until("the first pipeline serves", Duration::from_secs(60), &|| answers(first_port));
    let mut second = start(second_port);
    let stderr = second.0.stderr.take().unwrap();
    let (lines, said) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let refused = said.recv_timeout(Duration::from_secs(30)).expect("the second pipeline says why it waits");
    for part in [
        "flowmart: postgres at ".to_string(),
        "is refused: the database is being written by another pipeline (pid ".into(),
        format!(" pid {}\")", first.0.id()),
        "waiting for it to stop; retrying in ".into(),
    ] {
        assert!(refused.contains(&part), "{part:?} in {refused}");
    }
    std::thread::sleep(Duration::from_secs(2));
    assert!(!answers(second_port), "the second pipeline waits before it starts");

    assert!(Command::new("kill").args(["-TERM", &first.0.id().to_string()]).status().unwrap().success());
    let status = first.0.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    wait_until("the second pipeline takes over", Duration::from_secs(30), &|| answers(second_port));
    assert!(Command::new("kill").args(["-TERM", &second.0.id().to_string()]).status().unwrap().success());
    assert_eq!(second.0.wait().unwrap().code(), Some(0));
}

#[test]
fn flowmart_migrate_prepares_a_database_and_can_run_again() {
    let database = TestDatabase::create();
    for _ in 0..2 {
        let output = Command::new(env!("CARGO_BIN_EXE_flowmart"))
            .args(["migrate"])
            .env("DATABASE_URL", database.url())
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    assert_eq!(database.rows("SELECT count(*)::text FROM stock_levels"), vec![vec!["0".to_string()]]);
}

/// An open alert by position, with its projected stock, reorder point and suggested quantity.
type OpenAlerts = BTreeMap<(String, String, String), (i64, i64, i64)>;

/// The open alerts that replaying `published` alert changes, in the order they happened, leaves.
fn replayed_open_alerts(published: &[Consumed]) -> OpenAlerts {
    let writer = WriterSchema::own::<ReorderAlert>();
    let mut changes = published
        .iter()
        .map(|record| {
            decode::<ReorderAlert>(&writer, split_frame(record.value.as_deref().unwrap()).unwrap().1).unwrap()
        })
        .collect::<Vec<_>>();
    changes.sort_by_key(|change| change.changed_at);
    let mut open = OpenAlerts::new();
    for change in changes {
        let position = (change.tenant_id.to_string(), change.warehouse_id.to_string(), change.sku.to_string());
        match change.status {
            ReorderAlertStatus::Resolved => open.remove(&position),
            _ => open.insert(position, (change.projected, change.reorder_point, change.suggested_quantity)),
        };
    }
    open
}

/// The model's open alerts, as [`replayed_open_alerts`] gives them.
fn open_alerts_of(model: &ReferenceModel) -> OpenAlerts {
    model
        .open_alerts()
        .iter()
        .map(|(position, (_, check))| {
            (
                (position.tenant_id.to_string(), position.warehouse_id.to_string(), position.sku.to_string()),
                (check.projected, check.reorder_point, check.suggested_quantity),
            )
        })
        .collect()
}
