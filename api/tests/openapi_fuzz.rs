//! The API fuzzed from its own OpenAPI document by schemathesis (property-based, from PyPI;
//! `scripts/test.sh` installs it into `target/schemathesis`): a server with every part — a live
//! pipeline writing Postgres, stored keys, the audit log — fuzzed once with a tenant key (every
//! tenant route but the streams, which never end; `live_routes.rs` covers those) and once with
//! the admin token (the admin routes). Every check schemathesis has must pass: no server error,
//! no answer the document does not describe, every schema-valid request accepted, every
//! schema-violating one refused.
//!
//! `FUZZ_EXAMPLES` sets the test cases per operation (default 40).

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowmart_api::audit::AuditLog;
use flowmart_api::{AnnotationTable, ApiKeys, Store};
use flowmart_generator::{Generator, GeneratorConfig};
use flowmart_postgres::PostgresSink;
use flowmart_runtime::{Pipeline, RuntimeConfig, Sink, Topics};
use flowmart_schemas::Retention;
use flowmart_serving::ServingIndex;
use flowmart_testkit::TestDatabase;

mod support;
use support::{ADMIN_TOKEN, Api, State};

fn schemathesis() -> PathBuf {
    let installed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/schemathesis/bin/schemathesis");
    let path = std::env::var_os("FLOWMART_SCHEMATHESIS").map_or(installed, PathBuf::from);
    assert!(path.exists(), "{} is missing: scripts/test.sh installs schemathesis there", path.display());
    path
}

#[test]
fn schemathesis_finds_no_server_error_and_no_request_the_document_misjudges() {
    let database = TestDatabase::create();
    let runtime = support::runtime();
    let (index, writer) = ServingIndex::new(u64::MAX);
    let (sink, _) =
        PostgresSink::open(&database.url(), Topics::default(), Retention::default(), u64::MAX).expect("postgres");
    let generator = GeneratorConfig {
        seed: 19,
        tenants: 3,
        partitions: 3,
        skus_per_tenant: 20,
        records_per_second: Some(300),
        ..GeneratorConfig::default()
    };
    let tenant = Generator::new(generator.clone()).tenant_ids()[0].clone();
    let sinks: Vec<Box<dyn Sink>> = vec![Box::new(sink), Box::new(writer)];
    let pipeline = Pipeline::start(
        RuntimeConfig { workers: 1, ..RuntimeConfig::default() },
        Arc::new(Generator::new(generator)),
        sinks,
    )
    .expect("pipeline starts");
    let store = runtime.block_on(Store::open(&database.url())).expect("the api's store");
    runtime.block_on(AnnotationTable::new(&store).restore(&index, u64::MAX)).unwrap();
    let keys = runtime.block_on(ApiKeys::stored(&store)).unwrap();
    let state = State::new(index.clone()).pipeline(pipeline).keys(keys).audit(Some(AuditLog::new(&store)));
    let api = Api::serve(runtime, state.database(Some(store)));
    let url = &api.url;

    // A key of a tenant with stock and alerts by now.
    let deadline = Instant::now() + Duration::from_secs(60);
    while index.snapshot().tenant(&tenant).is_none_or(|view| view.stock.is_empty() || view.alerts.is_empty()) {
        assert!(Instant::now() < deadline, "no stock and alerts for {tenant} yet");
        std::thread::sleep(Duration::from_millis(100));
    }
    let key = api.issue_key(&tenant);

    let examples = std::env::var("FUZZ_EXAMPLES").unwrap_or_else(|_| "40".into());
    let fuzz = |bearer: &str, filter: [&str; 2]| {
        let output = Command::new(schemathesis())
            .args(["run", &format!("{url}/openapi.json"), "--checks", "all", "--max-examples", &examples])
            .args(["--seed", "19", "--request-timeout", "10", "--workers", "1", "--no-color"])
            .args(["--suppress-health-check", "all", "--generation-database", "none"])
            .args(["--header", &format!("Authorization: Bearer {bearer}")])
            .args(filter)
            .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
            .env("PYTHONPATH", concat!(env!("CARGO_MANIFEST_DIR"), "/tests"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            // Its caches (`.schemathesis/`) go under target/, not into the source tree.
            .current_dir(env!("CARGO_TARGET_TMPDIR"))
            .output()
            .expect("schemathesis runs");
        let report = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "schemathesis {filter:?} failed:\n{report}");
        assert!(report.contains("passed"), "schemathesis {filter:?} tested nothing:\n{report}");
    };
    fuzz(&key, ["--exclude-path-regex", "^/v1/admin/|/stream$"]);
    fuzz(ADMIN_TOKEN, ["--include-path-regex", "^/v1/admin/"]);
}
