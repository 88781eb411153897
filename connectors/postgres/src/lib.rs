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
//! `recover.rs` call them in turn.

#![warn(missing_docs)]

mod commit;
mod copy_text;
mod metrics_catalogue;
mod recover;
mod tables;

use flowmart_runtime::{ChangeBatch, ErrorClass, Sink, SinkError, Topics};
use flowmart_schemas::{Retention, Time};
use sqlx::{Connection, PgConnection};

pub use metrics_catalogue::describe_metrics;

pub use recover::{RecoverError, Recovered};

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

/// Writes every batch to Postgres in one transaction.
pub struct PostgresSink {
    runtime: tokio::runtime::Runtime,
    url: String,
    connection: Option<PgConnection>,
    topics: Topics,
    retention: Retention,
}

impl PostgresSink {
    /// Connects to `url`, applies the migrations, and reads back what earlier runs stored, for
    /// the pipeline to resume from (nothing, for a new database). Input topics are named as
    /// `topics` does in the tables; `retention` is the pipeline's (the sink forgets what the
    /// operators forget); resolved alerts older than `resolved_alert_retention_ms` are left out
    /// of the recovered index.
    pub fn open(
        url: &str,
        topics: Topics,
        retention: Retention,
        resolved_alert_retention_ms: Time,
    ) -> Result<(Self, Recovered), PostgresError> {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(PostgresError::Runtime)?;
        runtime.block_on(migrate(url))?;
        let mut connection = runtime.block_on(PgConnection::connect(url)).map_err(PostgresError::Connect)?;
        let started = std::time::Instant::now();
        let recovered =
            runtime.block_on(recover::recover(&mut connection, &topics, retention, resolved_alert_retention_ms))?;
        let (as_of, state) = (recovered.resume.as_of, &recovered.resume.state);
        tracing::info!(
            as_of,
            positions = state.stock.len(),
            orders = state.orders.len(),
            event_ids = state.inventory_ids.len() + state.payment_ids.len(),
            seconds = started.elapsed().as_secs_f64(),
            "read the stored state"
        );
        let sink = PostgresSink { runtime, url: url.to_string(), connection: Some(connection), topics, retention };
        Ok((sink, recovered))
    }
}

impl Sink for PostgresSink {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn stores_recovery_state(&self) -> bool {
        true
    }

    fn apply(&mut self, batch: &ChangeBatch) -> Result<(), SinkError> {
        let started = std::time::Instant::now();
        let result = self.runtime.block_on(async {
            if self.connection.is_none() {
                self.connection = Some(PgConnection::connect(&self.url).await?);
            }
            let connection = self.connection.as_mut().expect("connected above");
            commit::commit(connection, batch, &self.topics, self.retention).await
        });
        match result {
            Ok(rows) => {
                metrics::histogram!("flowmart_postgres_commit_seconds").record(started.elapsed().as_secs_f64());
                metrics::counter!("flowmart_postgres_rows_written_total").increment(rows as u64);
                Ok(())
            }
            Err(error) => {
                // The connection may be broken: take a new one for the retry.
                self.connection = None;
                Err(SinkError { sink: "postgres", class: class_of(&error), message: error.to_string() })
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
