//! The `audit_log` table (`api/migrations/1003_audit_log.sql`): appending to the one chain, and
//! reading it back.
//!
//! Appends are serialized by a transaction-scoped advisory lock ([`AUDIT_LOCK_KEY`]) taken before
//! the last record is read, so two appends — from two requests, or two processes of a cluster
//! sharing the database — never both follow the same record: the log stays one chain. An action
//! that is itself a database write appends its record in the same transaction
//! ([`append_in`]): either both are stored or neither.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};

use super::canonical_json::{NotCanonical, canonical_json};
use super::record::{AuditEntry, AuditRecord, FIRST_PREV_HASH, Hash};
use crate::Store;

/// The advisory lock appends hold until their transaction ends: "FMAudit!" in ASCII
/// (`pg_locks`: `locktype = 'advisory'`, `classid = 1179468149`, `objid = 1684632609`).
pub const AUDIT_LOCK_KEY: i64 = 5_065_777_128_313_287_713;

/// The columns of a record, in the order [`record_from_row`] reads them.
pub const RECORD_COLUMNS: &str = "seq, at, actor, action, tenant_id, details::text, prev_hash, hash";

/// Why the audit log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database failed or is unreachable.
    #[error("audit log: {0}")]
    Database(#[from] sqlx::Error),
    /// The record's details hold a value with no canonical JSON.
    #[error("audit record: {0}")]
    NotCanonical(#[from] NotCanonical),
    /// A stored record cannot be read as one (a hash not 32 bytes, details not JSON).
    #[error("audit log seq {seq}: {problem}")]
    Malformed {
        /// The record.
        seq: i64,
        /// What is wrong with it.
        problem: String,
    },
}

/// Which records to read.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only this tenant's records; `None`: every record.
    pub tenant_id: Option<String>,
    /// Only records at or after this time (ms).
    pub from: Option<i64>,
    /// Only records before this time (ms).
    pub to: Option<i64>,
}

/// The audit log in the API's database.
#[derive(Clone)]
pub struct AuditLog(PgPool);

impl AuditLog {
    /// The log in `store`'s database (the migration made the table).
    pub fn new(store: &Store) -> AuditLog {
        AuditLog(store.0.clone())
    }

    /// Appends `entry` in a transaction of its own: for what is not itself a database write
    /// (an admin's read, the configuration at start, and an alert acknowledged or snoozed when
    /// those are not stored in this database).
    pub async fn append(&self, entry: &AuditEntry) -> Result<AuditRecord, AuditError> {
        let mut transaction = self.0.begin().await?;
        let record = append_in(&mut transaction, entry).await?;
        transaction.commit().await?;
        Ok(record)
    }

    /// Up to `limit` records matching `filter` after `seq` `after`, in `seq` order.
    pub async fn page(&self, filter: &AuditFilter, after: i64, limit: usize) -> Result<Vec<AuditRecord>, AuditError> {
        let query = format!(
            "SELECT {RECORD_COLUMNS} FROM audit_log
             WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::int8 IS NULL OR at >= $2)
               AND ($3::int8 IS NULL OR at < $3) AND seq > $4
             ORDER BY seq LIMIT $5"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(query))
            .bind(&filter.tenant_id)
            .bind(filter.from)
            .bind(filter.to)
            .bind(after)
            .bind(limit as i64)
            .fetch_all(&self.0)
            .await?;
        rows.iter().map(record_from_row).collect()
    }
}

/// Appends `entry` to the chain within the caller's transaction, which must commit for the
/// record to stay (and holds the chain's lock until it ends: keep it short).
pub async fn append_in(connection: &mut PgConnection, entry: &AuditEntry) -> Result<AuditRecord, AuditError> {
    // Refused before the lock is taken: the record must have a canonical text.
    let details = canonical_json(&entry.details)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(AUDIT_LOCK_KEY).execute(&mut *connection).await?;
    let last = sqlx::query_as::<_, (i64, Vec<u8>)>("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *connection)
        .await?;
    let (seq, prev_hash) = match last {
        None => (1, FIRST_PREV_HASH),
        Some((seq, hash)) => (seq + 1, stored_hash(seq, hash)?),
    };
    let record = AuditRecord::chained(entry, seq, now_ms(), prev_hash)?;
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, tenant_id, details, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)",
    )
    .bind(record.seq)
    .bind(record.at)
    .bind(&record.actor)
    .bind(&record.action)
    .bind(&record.tenant_id)
    .bind(details)
    .bind(record.prev_hash.as_slice())
    .bind(record.hash.as_slice())
    .execute(&mut *connection)
    .await?;
    Ok(record)
}

/// A record from a row of [`RECORD_COLUMNS`].
pub fn record_from_row(row: &PgRow) -> Result<AuditRecord, AuditError> {
    let seq: i64 = row.try_get(0)?;
    let details: String = row.try_get(5)?;
    let details = serde_json::from_str(&details)
        .map_err(|error| AuditError::Malformed { seq, problem: format!("details are not JSON: {error}") })?;
    Ok(AuditRecord {
        seq,
        at: row.try_get(1)?,
        actor: row.try_get(2)?,
        action: row.try_get(3)?,
        tenant_id: row.try_get(4)?,
        details,
        prev_hash: stored_hash(seq, row.try_get(6)?)?,
        hash: stored_hash(seq, row.try_get(7)?)?,
    })
}

fn stored_hash(seq: i64, bytes: Vec<u8>) -> Result<Hash, AuditError> {
    Hash::try_from(bytes.as_slice())
        .map_err(|_| AuditError::Malformed { seq, problem: format!("a hash of {} bytes, not 32", bytes.len()) })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_millis() as i64)
}
