//! The Postgres sink (`CONTRACT.md` §5): tables `stock_levels`, `reorder_alerts`,
//! `settlement_totals` hold the API's rows, and `pipeline_progress` the source offsets they are
//! consistent with, written in the same transaction — one per batch.
//!
//! Applying a batch is idempotent (upserts of final values, deletes, offsets that only move
//! forward), so a batch whose commit outcome is unknown can be applied again safely: the runtime
//! retries a failed batch until it lands.

mod commit;

use sqlx::{Connection, PgConnection};

use flowmart_pipelines::{ChangeBatch, Sink, SinkError, Topics};

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
}

/// The schema's migrations (`sinks/migrations/`), embedded.
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

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
}

impl PostgresSink {
    /// Connects to `url`, applies the migrations, and clears the results and progress of an
    /// earlier run: the pipeline does not yet recover its state from the database, so it rebuilds
    /// the tables from its start position instead of mixing old rows with new. Input topics are
    /// named as `topics` does in `pipeline_progress`.
    pub fn connect(url: &str, topics: Topics) -> Result<Self, PostgresError> {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(PostgresError::Runtime)?;
        runtime.block_on(migrate(url))?;
        let mut connection = runtime.block_on(PgConnection::connect(url)).map_err(PostgresError::Connect)?;
        runtime
            .block_on(
                sqlx::query(
                    "TRUNCATE stock_levels, reorder_alerts, settlement_totals, pipeline_progress, pipeline_frontier",
                )
                .execute(&mut connection),
            )
            .map_err(PostgresError::Connect)?;
        Ok(PostgresSink { runtime, url: url.to_string(), connection: Some(connection), topics })
    }
}

impl Sink for PostgresSink {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn apply(&mut self, batch: &ChangeBatch) -> Result<(), SinkError> {
        let failed = |message: String| SinkError { sink: "postgres", message };
        let started = std::time::Instant::now();
        let result = self.runtime.block_on(async {
            if self.connection.is_none() {
                self.connection = Some(PgConnection::connect(&self.url).await?);
            }
            let connection = self.connection.as_mut().expect("connected above");
            commit::commit(connection, batch, &self.topics).await
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
                Err(failed(error.to_string()))
            }
        }
    }
}
