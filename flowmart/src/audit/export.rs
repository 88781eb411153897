//! `flowmart audit export`: a tenant's lineage (`stock_history`, `settlement_history`, by
//! `applied_day`) and audit records (by `at`) between two UTC dates, inclusive, for a regulator —
//! streamed from the database to JSON lines or CSV, with a progress spinner on a terminal.
//!
//! Every line (JSON: its `record` member; CSV: its first column) says which kind of record it
//! is: `stock_history`, `settlement_history` or `audit`. The CSV has one header, the union of the
//! three kinds' columns; a row leaves the others' empty.

use std::io::{IsTerminal, Write};

use anyhow::Context;
use flowmart_api::audit::{RECORD_COLUMNS, canonical_json, hex, record_from_row};
use flowmart_schemas::SettlementDate;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value, json};
use sqlx::postgres::PgRow;
use sqlx::{Connection, PgConnection, Row};
use tokio_stream::StreamExt;

use super::csv_row::csv_row;
use crate::cli::{ExportArgs, ExportFormat};

/// The CSV header: the record kind, then every column of the three kinds.
const CSV_COLUMNS: &[&str] = &[
    "record",
    "tenant_id",
    "warehouse_id",
    "sku",
    "currency",
    "settlement_date",
    "event_id",
    "topic",
    "partition",
    "offset",
    "kind",
    "on_hand_delta",
    "reserved_delta",
    "on_order_delta",
    "amount_minor",
    "occurred_at",
    "applied_at",
    "seq",
    "at",
    "actor",
    "action",
    "details",
    "prev_hash",
    "hash",
];

const STOCK_HISTORY: &str = "SELECT tenant_id, warehouse_id, sku, event_id, topic, partition, \"offset\", kind,
        on_hand_delta, reserved_delta, on_order_delta, occurred_at, applied_at
    FROM stock_history WHERE tenant_id = $1 AND applied_day BETWEEN $2::date AND $3::date
    ORDER BY applied_at, topic, partition, \"offset\", warehouse_id, sku";

const SETTLEMENT_HISTORY: &str = "SELECT tenant_id, currency, settlement_date::text, event_id, topic, partition,
        \"offset\", kind, amount_minor, occurred_at, applied_at
    FROM settlement_history WHERE tenant_id = $1 AND applied_day BETWEEN $2::date AND $3::date
    ORDER BY applied_at, topic, partition, \"offset\", currency, settlement_date";

/// Writes the export; `Err` names what failed (a bad date, the database, the output).
pub(super) async fn export(database_url: &str, args: &ExportArgs) -> anyhow::Result<()> {
    for (flag, date) in [("--from", &args.from), ("--to", &args.to)] {
        SettlementDate::parse(date).with_context(|| format!("{flag} must be a date YYYY-MM-DD, got {date:?}"))?;
    }
    let mut connection = PgConnection::connect(database_url).await.context("cannot connect to the database")?;
    let output: Box<dyn Write> = match &args.output {
        Some(path) => {
            Box::new(std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = Output { writer: std::io::BufWriter::new(output), format: args.format, progress: progress() };
    if args.format == ExportFormat::Csv {
        out.write_raw(&csv_row(CSV_COLUMNS.iter().copied()))?;
    }
    let lineage = lineage_present(&mut connection).await?;
    if lineage {
        let dates = [&args.tenant, &args.from, &args.to];
        out.stream(&mut connection, STOCK_HISTORY, &dates, stock_line).await?;
        out.stream(&mut connection, SETTLEMENT_HISTORY, &dates, settlement_line).await?;
    } else {
        eprintln!(
            "flowmart: this database has no lineage tables (stock_history, settlement_history): exporting the audit records only"
        );
    }
    let audit = format!(
        "SELECT {RECORD_COLUMNS} FROM audit_log WHERE tenant_id = $1
           AND at >= (extract(epoch FROM $2::date) * 1000)::int8
           AND at < (extract(epoch FROM ($3::date + 1)) * 1000)::int8
         ORDER BY seq"
    );
    out.stream(&mut connection, &audit, &[&args.tenant, &args.from, &args.to], audit_line).await?;
    out.writer.flush().context("cannot write the export")?;
    out.progress.finish_and_clear();
    Ok(())
}

/// Whether both lineage tables exist (the sink's migration 0007).
async fn lineage_present(connection: &mut PgConnection) -> anyhow::Result<bool> {
    let (present,): (bool,) = sqlx::query_as(
        "SELECT to_regclass('stock_history') IS NOT NULL AND to_regclass('settlement_history') IS NOT NULL",
    )
    .fetch_one(connection)
    .await
    .context("cannot read the database's tables")?;
    Ok(present)
}

/// A spinner with the lines written and their rate, on stderr when it is a terminal; hidden
/// otherwise (a pipe or a log gets no escape codes).
fn progress() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} records exported  {per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar
}

/// One exported line: its fields in CSV order (`None` for a column of another kind).
type Line = Vec<(&'static str, Value)>;

struct Output {
    writer: std::io::BufWriter<Box<dyn Write>>,
    format: ExportFormat,
    progress: ProgressBar,
}

impl Output {
    /// Runs `query` with the text parameters `binds`, writing each row as `line` makes it.
    async fn stream(
        &mut self,
        connection: &mut PgConnection,
        query: &str,
        binds: &[&String],
        line: fn(&PgRow) -> anyhow::Result<Line>,
    ) -> anyhow::Result<()> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(query.to_owned()));
        for bind in binds {
            query = query.bind(bind.as_str());
        }
        let mut rows = query.fetch(connection);
        while let Some(row) = rows.next().await {
            let row = row.context("cannot read the export's rows")?;
            self.write_line(line(&row)?)?;
            self.progress.inc(1);
        }
        Ok(())
    }

    fn write_line(&mut self, line: Line) -> anyhow::Result<()> {
        match self.format {
            ExportFormat::Jsonl => {
                let object = line.into_iter().map(|(name, value)| (name.to_string(), value)).collect::<Map<_, _>>();
                let mut text = serde_json::to_string(&object).context("an export line")?;
                text.push('\n');
                self.write_raw(&text)
            }
            ExportFormat::Csv => {
                let cells = CSV_COLUMNS
                    .iter()
                    .map(|column| match line.iter().find(|(name, _)| name == column).map(|(_, value)| value) {
                        None | Some(Value::Null) => String::new(),
                        Some(Value::String(text)) => text.clone(),
                        Some(other) => canonical_json(other).unwrap_or_else(|_| other.to_string()),
                    })
                    .collect::<Vec<_>>();
                self.write_raw(&csv_row(cells.iter().map(String::as_str)))
            }
        }
    }

    fn write_raw(&mut self, text: &str) -> anyhow::Result<()> {
        self.writer.write_all(text.as_bytes()).context("cannot write the export")
    }
}

fn stock_line(row: &PgRow) -> anyhow::Result<Line> {
    Ok(vec![
        ("record", json!("stock_history")),
        ("tenant_id", json!(row.try_get::<String, _>(0)?)),
        ("warehouse_id", json!(row.try_get::<String, _>(1)?)),
        ("sku", json!(row.try_get::<String, _>(2)?)),
        ("event_id", json!(row.try_get::<String, _>(3)?)),
        ("topic", json!(row.try_get::<String, _>(4)?)),
        ("partition", json!(row.try_get::<i32, _>(5)?)),
        ("offset", json!(row.try_get::<i64, _>(6)?)),
        ("kind", json!(row.try_get::<String, _>(7)?)),
        ("on_hand_delta", json!(row.try_get::<i64, _>(8)?)),
        ("reserved_delta", json!(row.try_get::<i64, _>(9)?)),
        ("on_order_delta", json!(row.try_get::<i64, _>(10)?)),
        ("occurred_at", json!(row.try_get::<i64, _>(11)?)),
        ("applied_at", json!(row.try_get::<i64, _>(12)?)),
    ])
}

fn settlement_line(row: &PgRow) -> anyhow::Result<Line> {
    Ok(vec![
        ("record", json!("settlement_history")),
        ("tenant_id", json!(row.try_get::<String, _>(0)?)),
        ("currency", json!(row.try_get::<String, _>(1)?)),
        ("settlement_date", json!(row.try_get::<String, _>(2)?)),
        ("event_id", json!(row.try_get::<String, _>(3)?)),
        ("topic", json!(row.try_get::<String, _>(4)?)),
        ("partition", json!(row.try_get::<i32, _>(5)?)),
        ("offset", json!(row.try_get::<i64, _>(6)?)),
        ("kind", json!(row.try_get::<String, _>(7)?)),
        ("amount_minor", json!(row.try_get::<i64, _>(8)?)),
        ("occurred_at", json!(row.try_get::<i64, _>(9)?)),
        ("applied_at", json!(row.try_get::<i64, _>(10)?)),
    ])
}

fn audit_line(row: &PgRow) -> anyhow::Result<Line> {
    let record = record_from_row(row)?;
    Ok(vec![
        ("record", json!("audit")),
        ("tenant_id", json!(record.tenant_id)),
        ("seq", json!(record.seq)),
        ("at", json!(record.at)),
        ("actor", json!(record.actor)),
        ("action", json!(record.action)),
        ("details", record.details),
        ("prev_hash", json!(hex(&record.prev_hash))),
        ("hash", json!(hex(&record.hash))),
    ])
}
