//! `flowmart audit verify` and `flowmart audit export`, the real binary against a real Postgres:
//! verify names the first broken `seq` of a tampered chain (a changed field, a deleted record,
//! two records swapped) and passes an untouched one; export writes a tenant's lineage and audit
//! records, and re-summing the exported lineage gives the tenant's figures.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use flowmart_api::Store;
use flowmart_api::audit::{Action, Actor, AuditEntry, AuditLog};
use flowmart_testkit::TestDatabase;
use serde_json::{Value, json};

fn flowmart(database: &TestDatabase, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowmart"))
        .args(["audit", "--database-url", &database.url()])
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("the binary runs")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A database whose audit log holds `records` records, alternating between two tenants.
fn database_with_chain(records: usize) -> TestDatabase {
    let database = TestDatabase::create();
    runtime().block_on(async {
        let log = AuditLog::new(&Store::open(&database.url()).await.unwrap());
        for n in 0..records {
            let tenant = if n % 2 == 0 { "acme" } else { "globex" };
            let entry = AuditEntry::new(Actor::Admin, Action::AdminRead, Some(tenant), json!({ "n": n }));
            log.append(&entry).await.unwrap();
        }
    });
    database
}

/// Runs `statements` as the superuser with the append-only trigger off, as a tamperer would.
fn tamper(database: &TestDatabase, statements: &str) {
    database.rows(&format!(
        "DO $$ BEGIN
           ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
           {statements}
           ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only;
         END $$"
    ));
}

/// The exit status and stderr of `flowmart audit verify`.
fn verify(database: &TestDatabase) -> (Option<i32>, String) {
    let output = flowmart(database, &["verify"]);
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn an_untouched_chain_verifies() {
    let database = database_with_chain(5);
    let output = flowmart(&database, &["verify"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("intact: 5 records"));
}

#[test]
fn a_changed_field_is_named_by_its_seq() {
    let database = database_with_chain(5);
    tamper(&database, "UPDATE audit_log SET actor = 'key_forged' WHERE seq = 3;");
    let (status, stderr) = verify(&database);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(stderr.contains("broken at seq 3") && stderr.contains("hash mismatch"), "{stderr}");
}

#[test]
fn a_deleted_record_is_named_by_its_seq() {
    let database = database_with_chain(5);
    tamper(&database, "DELETE FROM audit_log WHERE seq = 2;");
    let (status, stderr) = verify(&database);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(stderr.contains("broken at seq 2") && stderr.contains("missing"), "{stderr}");
}

#[test]
fn two_swapped_records_are_named_by_the_first_of_them() {
    let database = database_with_chain(5);
    // Every column but seq exchanged between records 3 and 4: the log reordered.
    tamper(
        &database,
        "UPDATE audit_log a SET at = b.at, actor = b.actor, action = b.action, tenant_id = b.tenant_id,
             details = b.details, prev_hash = b.prev_hash, hash = b.hash
           FROM audit_log b WHERE (a.seq, b.seq) IN ((3, 4), (4, 3));",
    );
    let (status, stderr) = verify(&database);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(stderr.contains("broken at seq 3") && stderr.contains("prev_hash"), "{stderr}");
}

#[test]
fn the_log_refuses_updates_and_deletes_while_its_trigger_is_on() {
    let database = database_with_chain(2);
    let runtime = runtime();
    runtime.block_on(async {
        use sqlx::Connection;
        let mut connection = sqlx::PgConnection::connect(&database.url()).await.unwrap();
        for statement in [
            "UPDATE audit_log SET actor = 'x' WHERE seq = 1",
            "DELETE FROM audit_log WHERE seq = 2",
            "TRUNCATE audit_log",
        ] {
            let refused = sqlx::query(statement).execute(&mut connection).await.unwrap_err();
            assert!(refused.to_string().contains("append-only"), "{statement}: {refused}");
        }
    });
    assert_eq!(verify(&database).0, Some(0));
}

/// The lineage tables as the sink's migration 0007 makes them, or — on a branch without it — plain
/// tables with its columns; a default partition when they are partitioned.
fn lineage_tables(database: &TestDatabase) {
    runtime().block_on(flowmart_postgres::migrate(&database.url())).unwrap();
    database.rows(
        "CREATE TABLE IF NOT EXISTS stock_history (tenant_id text NOT NULL, warehouse_id text NOT NULL,
           sku text NOT NULL, event_id text NOT NULL, topic text NOT NULL, partition integer NOT NULL,
           \"offset\" bigint NOT NULL, kind text NOT NULL, on_hand_delta bigint NOT NULL,
           reserved_delta bigint NOT NULL, on_order_delta bigint NOT NULL, occurred_at bigint NOT NULL,
           applied_at bigint NOT NULL, applied_day date NOT NULL)",
    );
    database.rows(
        "CREATE TABLE IF NOT EXISTS settlement_history (tenant_id text NOT NULL, currency text NOT NULL,
           settlement_date date NOT NULL, event_id text NOT NULL, topic text NOT NULL,
           partition integer NOT NULL, \"offset\" bigint NOT NULL, kind text NOT NULL,
           amount_minor bigint NOT NULL, occurred_at bigint NOT NULL, applied_at bigint NOT NULL,
           applied_day date NOT NULL)",
    );
    for table in ["stock_history", "settlement_history"] {
        let partitioned =
            database.rows(&format!("SELECT (relkind = 'p')::text FROM pg_class WHERE relname = '{table}'"));
        if partitioned[0][0] == "true" {
            database.rows(&format!("CREATE TABLE IF NOT EXISTS {table}_test_default PARTITION OF {table} DEFAULT"));
        }
    }
}

const DAY_MS: i64 = 86_400_000;
/// 2026-01-10T00:00Z.
const JANUARY_10: i64 = 1_768_003_200_000;

/// Stock figures: (warehouse, sku) → (on_hand, reserved, on_order); settlement figures:
/// (currency, date) → amount.
type Figures = (BTreeMap<(String, String), (i64, i64, i64)>, BTreeMap<(String, String), i64>);

/// Synthetic lineage over five days (January 10–14) for two tenants; returns acme's figures from
/// the rows applied January 11–13, the days exported.
fn seed_lineage(database: &TestDatabase) -> Figures {
    let mut figures = Figures::default();
    let mut offset = 0;
    for day in 0..5 {
        for tenant in ["acme", "globex"] {
            for n in 0..7_i64 {
                offset += 1;
                let applied_at = JANUARY_10 + day * DAY_MS + n * 1_000;
                let (warehouse, sku) = (format!("w{}", n % 2), format!("SKU-{}", n % 3));
                let deltas = (n * 3 - 7 + day, n % 4 - 1, (day + n) % 5);
                database.rows(&format!(
                    "INSERT INTO stock_history VALUES ('{tenant}', '{warehouse}', '{sku}', 'ev-{offset}',
                       'flowmart.inventory', {p}, {offset}, 'received', {}, {}, {}, {applied_at} - 5,
                       {applied_at}, (to_timestamp({applied_at} / 1000.0) AT TIME ZONE 'UTC')::date)",
                    deltas.0,
                    deltas.1,
                    deltas.2,
                    p = n % 3,
                ));
                let (currency, date) = (if n % 2 == 0 { "EUR" } else { "USD" }, format!("2026-01-{:02}", 9 + day));
                let amount = 1_000 * n - 2_500 + day;
                database.rows(&format!(
                    "INSERT INTO settlement_history VALUES ('{tenant}', '{currency}', '{date}', 'pay-{offset}',
                       'flowmart.payments', 0, {offset}, 'captured', {amount}, {applied_at} - 5, {applied_at},
                       (to_timestamp({applied_at} / 1000.0) AT TIME ZONE 'UTC')::date)"
                ));
                if tenant == "acme" && (1..=3).contains(&day) {
                    let position = figures.0.entry((warehouse, sku)).or_default();
                    *position = (position.0 + deltas.0, position.1 + deltas.1, position.2 + deltas.2);
                    *figures.1.entry((currency.to_string(), date)).or_default() += amount;
                }
            }
        }
    }
    figures
}

fn export(database: &TestDatabase, format: &str) -> (String, String) {
    let output = flowmart(
        database,
        &["export", "--tenant", "acme", "--from", "2026-01-11", "--to", "2026-01-13", "--format", format],
    );
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    (String::from_utf8(output.stdout).unwrap(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Figures re-summed from exported lines (each a map of column → value), and the kinds seen.
fn resum(lines: &[BTreeMap<String, Value>]) -> (Figures, BTreeMap<String, usize>) {
    let mut figures = Figures::default();
    let mut kinds = BTreeMap::new();
    let int = |line: &BTreeMap<String, Value>, column: &str| match &line[column] {
        Value::Number(number) => number.as_i64().unwrap(),
        Value::String(text) => text.parse().unwrap(),
        other => panic!("{column}: {other}"),
    };
    let text = |line: &BTreeMap<String, Value>, column: &str| line[column].as_str().unwrap().to_string();
    for line in lines {
        assert_eq!(line["tenant_id"], "acme", "only the tenant's records: {line:?}");
        let kind = text(line, "record");
        *kinds.entry(kind.clone()).or_default() += 1;
        match kind.as_str() {
            "stock_history" => {
                let position = figures.0.entry((text(line, "warehouse_id"), text(line, "sku"))).or_default();
                position.0 += int(line, "on_hand_delta");
                position.1 += int(line, "reserved_delta");
                position.2 += int(line, "on_order_delta");
            }
            "settlement_history" => {
                *figures.1.entry((text(line, "currency"), text(line, "settlement_date"))).or_default() +=
                    int(line, "amount_minor")
            }
            "audit" => assert!(line["hash"].as_str().is_some_and(|hash| hash.len() == 64)),
            other => panic!("unknown record kind {other}"),
        }
    }
    (figures, kinds)
}

fn csv_lines(text: &str) -> Vec<BTreeMap<String, Value>> {
    // The seeded values hold no separators, so a plain split reads this CSV.
    let mut rows = text.split("\r\n").filter(|row| !row.is_empty());
    let header = rows.next().unwrap().split(',').map(str::to_string).collect::<Vec<_>>();
    rows.map(|row| {
        let cells = row.split(',').collect::<Vec<_>>();
        assert_eq!(cells.len(), header.len(), "{row}");
        header.iter().zip(cells).map(|(name, cell)| (name.clone(), Value::String(cell.to_string()))).collect()
    })
    .collect()
}

#[test]
fn an_exported_tenant_re_sums_to_its_figures_in_json_lines_and_csv() {
    let database = TestDatabase::create();
    lineage_tables(&database);
    let expected = seed_lineage(&database);
    runtime().block_on(async {
        let log = AuditLog::new(&Store::open(&database.url()).await.unwrap());
        for tenant in ["acme", "globex", "acme"] {
            let entry = AuditEntry::new(Actor::Admin, Action::ApiKeyIssued, Some(tenant), json!({ "key_id": "key_1" }));
            log.append(&entry).await.unwrap();
        }
    });
    assert!(!expected.0.is_empty() && !expected.1.is_empty());

    let (jsonl, _) = export(&database, "jsonl");
    let lines = jsonl.lines().map(|line| serde_json::from_str(line).unwrap()).collect::<Vec<_>>();
    let (figures, kinds) = resum(&lines);
    assert_eq!(figures, expected, "json lines");
    assert_eq!(kinds["stock_history"], 21);
    assert_eq!(kinds["settlement_history"], 21);
    // The audit records are appended now, not in January: none fall in the range exported.
    assert_eq!(kinds.get("audit"), None);

    let (csv, _) = export(&database, "csv");
    let (figures, kinds_in_csv) = resum(&csv_lines(&csv));
    assert_eq!(figures, expected, "csv");
    assert_eq!(kinds_in_csv, kinds);
}

#[test]
fn without_lineage_tables_the_export_holds_the_audit_records_and_says_so() {
    let database = database_with_chain(4);
    let today = database.rows("SELECT (now() AT TIME ZONE 'UTC')::date::text")[0][0].clone();
    let output =
        flowmart(&database, &["export", "--tenant", "acme", "--from", &today, "--to", &today, "--format", "jsonl"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no lineage tables"));
    let lines = String::from_utf8(output.stdout).unwrap();
    let seqs = lines
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .map(|line| (line["record"].as_str().unwrap().to_string(), line["seq"].as_i64().unwrap()))
        .collect::<Vec<_>>();
    assert_eq!(seqs, vec![("audit".to_string(), 1), ("audit".to_string(), 3)], "acme's records only");
}

#[test]
fn a_bad_date_is_refused_before_anything_is_written() {
    let database = database_with_chain(1);
    let output = flowmart(&database, &["export", "--tenant", "acme", "--from", "2026-13-01", "--to", "2026-01-02"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--from must be a date"));
    assert!(output.stdout.is_empty());
}
