//! The Postgres connector (`CONTRACT.md` §5): tables `stock_levels`, `reorder_alerts`,
//! `settlement_totals` hold the API's rows, and `pipeline_progress` the source offsets they are
//! consistent with, written in the same transaction — one per batch.
//!
//! Applying a batch is idempotent (upserts of final values, deletes, offsets that only move
//! forward), so a batch whose commit outcome is unknown can be applied again safely: the runtime
//! retries a failed batch until it lands.
//!
//! The same transaction stores what a restarted pipeline needs to rebuild its operator state
//! without replaying the inputs (`migrations/0002_recovery_state.sql`), and the batch's alert
//! changes in an outbox; [`PostgresSink::open`] reads it all back as [`Recovered`].
//!
//! Each table has one module under `tables/` with its writer and its reader; `commit.rs` and
//! `recover.rs` call them in turn. The lineage tables (`stock_history`, `settlement_history`)
//! are appended in the same transaction, at most once per batch, in daily partitions
//! (`history_partitions.rs`); recovery never reads them.
//!
//! Only one pipeline writes a database at a time (`writer_lock.rs`): the sink's connection holds
//! the session advisory lock [`WRITER_LOCK_KEY`], taken before anything is read or written and
//! taken again on every new connection before anything is committed.

#![warn(missing_docs)]

mod commit;
mod copy_text;
mod history_partitions;
mod metrics_catalogue;
mod recover;
mod refused;
mod stored_gate;
mod tables;
mod writer_lock;

use flowmart_runtime::{ChangeBatch, ErrorClass, RefusedChange, Resume, Sink, SinkError, Topics};
use flowmart_schemas::{Retention, Time};
use sqlx::{Connection, PgConnection};

use crate::tables::progress;

pub use metrics_catalogue::describe_metrics;

pub use recover::{RecoverError, Recovered};
pub use stored_gate::StoredGate;
pub use writer_lock::{Session, WRITER_LOCK_KEY, WriterLockError};

/// Why the database could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    /// No connection.
    #[error("cannot connect to postgres: {0}")]
    Connect(#[source] sqlx::Error),
    /// A migration failed.
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// No async runtime for the driver.
    #[error("cannot start the database runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The stored state could not be read.
    #[error(transparent)]
    Recover(#[from] RecoverError),
    /// The writer lock was not taken: another pipeline writes the database (or the database
    /// failed).
    #[error(transparent)]
    WriterLock(#[from] WriterLockError),
}

/// The schema's migrations (`connectors/postgres/migrations/`), embedded. Other parts keep their own tables in
/// the same database (the API's keys, numbered from 1001), so entries this migrator does not know
/// are ignored.
pub static MIGRATIONS: sqlx::migrate::Migrator = {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.ignore_missing = true;
    migrator
};

/// Applies every migration not yet applied to the database at `url` (idempotent).
pub async fn migrate(url: &str) -> Result<(), PostgresError> {
    let mut connection = PgConnection::connect(url).await.map_err(PostgresError::Connect)?;
    MIGRATIONS.run(&mut connection).await.map_err(PostgresError::Migrate)?;
    Ok(())
}

/// Reads back what the writer stored, for a process that serves the results but does not write
/// them (a cluster's processes other than 0): migrates and recovers as [`PostgresSink::open`]
/// does, without the writer lock.
pub fn read_stored(
    url: &str,
    topics: &Topics,
    retention: Retention,
    resolved_alert_retention_ms: Time,
) -> Result<Recovered, PostgresError> {
    let runtime = current_thread_runtime()?;
    let mut connection = runtime.block_on(PgConnection::connect(url)).map_err(PostgresError::Connect)?;
    runtime.block_on(MIGRATIONS.run(&mut connection)).map_err(PostgresError::Migrate)?;
    runtime.block_on(read_state(&mut connection, topics, retention, resolved_alert_retention_ms))
}

fn current_thread_runtime() -> Result<tokio::runtime::Runtime, PostgresError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(PostgresError::Runtime)
}

async fn read_state(
    connection: &mut PgConnection,
    topics: &Topics,
    retention: Retention,
    resolved_alert_retention_ms: Time,
) -> Result<Recovered, PostgresError> {
    let started = std::time::Instant::now();
    let recovered = recover::recover(connection, topics, retention, resolved_alert_retention_ms).await?;
    let (as_of, state) = (recovered.resume.as_of, &recovered.resume.state);
    tracing::info!(
        as_of,
        positions = state.stock.len(),
        orders = state.orders.len(),
        event_ids = state.inventory_ids.len() + state.payment_ids.len(),
        seconds = started.elapsed().as_secs_f64(),
        "read the stored state"
    );
    Ok(recovered)
}

/// Writes every batch to Postgres in one transaction, as the database's only writer.
pub struct PostgresSink {
    runtime: tokio::runtime::Runtime,
    url: String,
    /// The connection holding the writer lock; `None` after an error, until the next batch
    /// connects and takes the lock again.
    connection: Option<PgConnection>,
    /// The session that last held the writer lock for this sink.
    session: Option<Session>,
    topics: Topics,
    retention: Retention,
    /// Resolved alerts older than this are left out of what is read back.
    resolved_alert_retention_ms: Time,
    /// Until the first commit of this run: how many alert changes are known to be on the alerts
    /// topic, when an earlier run left some unconfirmed. The alert sink sends those with the
    /// first batch, after this sink committed it, so that commit must not mark them published.
    published_before_start: Option<u64>,
    /// The stored frontier's `as_of` as this sink last knew it (read at open, or its last
    /// commit): a new connection that finds another one means another pipeline wrote meanwhile.
    stored_as_of: Time,
}

impl PostgresSink {
    /// Connects to `url`, takes the writer lock (refused with
    /// [`WriterLockError::Held`] while another pipeline holds it), applies the migrations, and
    /// reads back what earlier runs stored, for the pipeline to resume from (nothing, for a new
    /// database). Input topics are named as `topics` does in the tables; `retention` is the
    /// pipeline's (the sink forgets what the operators forget); resolved alerts older than
    /// `resolved_alert_retention_ms` are left out of the recovered index.
    pub fn open(
        url: &str,
        topics: Topics,
        retention: Retention,
        resolved_alert_retention_ms: Time,
    ) -> Result<(Self, Recovered), PostgresError> {
        let runtime = current_thread_runtime()?;
        let mut connection = runtime.block_on(writer_lock::connect(url)).map_err(PostgresError::Connect)?;
        let session = runtime.block_on(writer_lock::take(&mut connection, None))?;
        tracing::info!(%session, "took the writer lock");
        runtime.block_on(MIGRATIONS.run(&mut connection)).map_err(PostgresError::Migrate)?;
        let recovered =
            runtime.block_on(read_state(&mut connection, &topics, retention, resolved_alert_retention_ms))?;
        // Lineage past a retention shortened since the last run goes now, not at the next day.
        if let Some(history_ms) = retention.history_ms {
            let now = recovered.resume.as_of;
            runtime
                .block_on(history_partitions::expire(&mut connection, now, history_ms))
                .map_err(|error| PostgresError::Recover(RecoverError::Database(error)))?;
        }
        let sink = PostgresSink {
            runtime,
            url: url.to_string(),
            connection: Some(connection),
            session: Some(session),
            topics,
            retention,
            resolved_alert_retention_ms,
            published_before_start: recovered.unconfirmed_alerts.first().map(|(sequence, _)| sequence - 1),
            stored_as_of: recovered.resume.as_of,
        };
        Ok((sink, recovered))
    }
}

/// The connection holding the writer lock: `connection`, or after an error a new one, on which
/// the stored frontier is still `known` or `committing` (the batch whose commit may have landed).
async fn connected<'a>(
    connection: &'a mut Option<PgConnection>,
    url: &str,
    session: &mut Option<Session>,
    known: Time,
    committing: Option<Time>,
) -> Result<&'a mut PgConnection, ApplyError> {
    Ok(match connection {
        Some(connection) => connection,
        None => connection.insert(reconnect(url, session, known, committing).await?),
    })
}

/// Connects again and takes the writer lock again (`session` is the one that held it before),
/// before anything is committed on the new connection; refuses to go on if another pipeline
/// moved the stored frontier meanwhile (past `known`, and not to `committing`): this sink's state
/// is then older than the database's.
async fn reconnect(
    url: &str,
    session: &mut Option<Session>,
    known: Time,
    committing: Option<Time>,
) -> Result<PgConnection, ApplyError> {
    let mut connection = writer_lock::connect(url).await?;
    let taken = writer_lock::take(&mut connection, session.as_ref()).await?;
    tracing::info!(session = %taken, "connected again and took the writer lock again");
    *session = Some(taken);
    let stored = progress::read_frontier(&mut connection).await?.map_or(0, |frontier| frontier.as_of);
    if stored != known && Some(stored) != committing {
        let _ = writer_lock::release(&mut connection).await;
        let _ = connection.close().await;
        return Err(ApplyError::Superseded { stored, known });
    }
    Ok(connection)
}

/// Why a batch was not committed.
#[derive(Debug, thiserror::Error)]
enum ApplyError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    WriterLock(#[from] WriterLockError),
    /// The database refused data of the batch: these changes (none found when the refusal came
    /// from elsewhere, such as the progress row).
    #[error("{0}")]
    Refused(sqlx::Error, Vec<RefusedChange>),
    /// Another pipeline committed while this one was disconnected.
    #[error(
        "another pipeline stored results up to pipeline time {stored} while this one was disconnected (it had \
         stored up to {known}); stopping rather than overwrite newer results with older ones — a restart \
         resumes from what the database holds"
    )]
    Superseded { stored: Time, known: Time },
}

impl Drop for PostgresSink {
    fn drop(&mut self) {
        // Release the lock before going, so that a waiting writer need not wait until the server
        // notices the connection closed. (Not from inside an async context, where blocking on
        // the sink's runtime is not allowed; the server then releases it a moment later.)
        let Some(mut connection) = self.connection.take() else { return };
        if tokio::runtime::Handle::try_current().is_ok() {
            return;
        }
        self.runtime.block_on(async {
            let _ = writer_lock::release(&mut connection).await;
            let _ = connection.close().await;
        });
    }
}

impl Sink for PostgresSink {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn stores_recovery_state(&self) -> bool {
        true
    }

    fn stored(&mut self) -> Option<Result<Resume, SinkError>> {
        let known = self.stored_as_of;
        let PostgresSink { runtime, url, connection, session, topics, retention, resolved_alert_retention_ms, .. } =
            self;
        let result = runtime.block_on(async {
            let connection = connected(connection, url, session, known, None).await.map_err(|error| {
                let class = match error {
                    ApplyError::Superseded { .. } => ErrorClass::Fatal,
                    _ => ErrorClass::Transient,
                };
                SinkError::new("postgres", class, error.to_string())
            })?;
            read_state(connection, topics, *retention, *resolved_alert_retention_ms)
                .await
                .map_err(|error| SinkError::new("postgres", ErrorClass::Transient, error.to_string()))
        });
        if result.is_err() {
            self.connection = None;
        }
        Some(result.map(|recovered| recovered.resume))
    }

    fn apply(&mut self, batch: &ChangeBatch) -> Result<(), SinkError> {
        let started = std::time::Instant::now();
        // Every sink took the batch before this one, the alert sink included, except in the
        // first batch of a run that recovered unconfirmed changes.
        let published = self.published_before_start.map_or(batch.alerts_before, |known| known.min(batch.alerts_before));
        let known = self.stored_as_of;
        let PostgresSink { runtime, url, connection, session, topics, retention, .. } = self;
        let result = runtime.block_on(async {
            let connection = connected(connection, url, session, known, Some(batch.upper)).await?;
            match commit::commit(connection, batch, published, topics, *retention).await {
                Ok(rows) => Ok(rows),
                // Refused: find what, for the runtime to dead-letter the records behind it.
                Err(error) if class_of(&error) == ErrorClass::Data => {
                    let refused = refused::refused_changes(connection, batch, topics, *retention).await?;
                    Err(ApplyError::Refused(error, refused))
                }
                Err(error) => Err(error.into()),
            }
        });
        match result {
            Ok(rows) => {
                self.published_before_start = None;
                self.stored_as_of = batch.upper;
                metrics::histogram!("flowmart_postgres_commit_seconds").record(started.elapsed().as_secs_f64());
                metrics::counter!("flowmart_postgres_rows_written_total").increment(rows as u64);
                Ok(())
            }
            Err(ApplyError::Refused(error, refused)) => {
                // The connection is sound: the refused transaction was rolled back.
                Err(SinkError { refused, ..SinkError::new("postgres", ErrorClass::Data, error.to_string()) })
            }
            Err(error) => {
                // The connection may be broken: take a new one (and the writer lock again) for
                // the retry.
                self.connection = None;
                let class = match &error {
                    ApplyError::Database(error) | ApplyError::WriterLock(WriterLockError::Database(error)) => {
                        class_of(error)
                    }
                    // Another writer may go: waiting is all this sink can do.
                    ApplyError::WriterLock(WriterLockError::Held(_)) | ApplyError::Refused(..) => ErrorClass::Transient,
                    ApplyError::Superseded { .. } => ErrorClass::Fatal,
                };
                Err(SinkError::new("postgres", class, error.to_string()))
            }
        }
    }
}

/// Whether Postgres refused the data itself (SQLSTATE class 22, data exception: a value it cannot
/// store; class 23, a constraint) or the failure passes by itself (everything else: connection,
/// restart, serialization failure, deadlock, resources). Only the first fails the same way on
/// every retry.
fn class_of(error: &sqlx::Error) -> ErrorClass {
    match error {
        sqlx::Error::Database(database)
            if database.code().is_some_and(|code| code.starts_with("22") || code.starts_with("23")) =>
        {
            ErrorClass::Data
        }
        sqlx::Error::Encode(_) => ErrorClass::Data,
        _ => ErrorClass::Transient,
    }
}
