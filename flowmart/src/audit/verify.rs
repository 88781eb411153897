//! `flowmart audit verify`: reads `audit_log` in `seq` order, one row at a time (never the whole
//! log in memory), and checks each record against the one before it.

use std::process::ExitCode;

use anyhow::Context;
use flowmart_api::audit::{ChainBreak, ChainCheck, RECORD_COLUMNS, hex, record_from_row};
use sqlx::{Connection, PgConnection};
use tokio_stream::StreamExt;

/// Exit 0 with a summary when the chain is intact; exit 1 naming the first broken `seq` and why.
/// `Err` when the log cannot be read at all.
pub(super) async fn verify(database_url: &str) -> anyhow::Result<ExitCode> {
    let mut connection = PgConnection::connect(database_url).await.context("cannot connect to the database")?;
    let query = format!("SELECT {RECORD_COLUMNS} FROM audit_log ORDER BY seq");
    let mut check = ChainCheck::new();
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(query)).fetch(&mut connection);
    while let Some(row) = rows.next().await {
        let row = row.context("cannot read audit_log (has `flowmart migrate` been run?)")?;
        let checked = match record_from_row(&row) {
            Ok(record) => check.check(&record),
            Err(flowmart_api::audit::AuditError::Malformed { seq, problem }) => {
                eprintln!("flowmart: the audit log is broken at seq {seq}: {problem}");
                return Ok(ExitCode::FAILURE);
            }
            Err(error) => return Err(error.into()),
        };
        if let Err(broken) = checked {
            report(&broken);
            return Ok(ExitCode::FAILURE);
        }
    }
    println!("the audit log is intact: {} records, the last hash {}", check.checked(), hex(&check.last_hash()));
    Ok(ExitCode::SUCCESS)
}

fn report(broken: &ChainBreak) {
    eprintln!("flowmart: the audit log is broken at seq {}: {broken}", broken.seq());
}
