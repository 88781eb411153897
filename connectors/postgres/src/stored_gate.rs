//! The gate of a cluster's processes that serve but do not write: a batch passes on only once the
//! writer (process 0) has stored it.
//!
//! Every process's collector completes the same frontiers, but only process 0 commits them. A
//! process that served a frontier Postgres does not hold yet would, if process 0 died before
//! storing it, show the restarted cluster's `as_of` going back — and its alert streams and
//! webhooks would number changes the writer never stored, to be numbered again with other alert
//! ids. Before its index, such a process polls `pipeline_frontier` until it covers the batch.

use std::time::{Duration, Instant};

use flowmart_runtime::{ChangeBatch, ErrorClass, Sink, SinkError};
use flowmart_schemas::Time;
use sqlx::{Connection, PgConnection};

use crate::tables::progress;

/// How often the gate looks at what the writer stored.
const POLL: Duration = Duration::from_millis(5);
/// How long one apply waits before it says the writer has not stored the batch yet (the runtime
/// then retries it, and shows a writer that stays behind in `/readyz`).
const PATIENCE: Duration = Duration::from_secs(2);

/// Passes a batch to the sinks after it only once the writer has stored it.
pub struct StoredGate {
    runtime: tokio::runtime::Runtime,
    url: String,
    connection: Option<PgConnection>,
    /// The frontier the writer was last seen to have stored.
    stored: Time,
}

impl StoredGate {
    /// A gate on what the writer stores in the database at `url`.
    pub fn new(url: &str) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        Ok(StoredGate { runtime, url: url.to_string(), connection: None, stored: 0 })
    }

    /// What the writer has stored now.
    async fn read_stored(url: &str, connection: &mut Option<PgConnection>) -> Result<Time, sqlx::Error> {
        let connection = match connection {
            Some(connection) => connection,
            None => connection.insert(PgConnection::connect(url).await?),
        };
        Ok(progress::read_frontier(connection).await?.map_or(0, |frontier| frontier.as_of))
    }
}

impl Sink for StoredGate {
    fn name(&self) -> &'static str {
        "stored-by-the-writer"
    }

    fn apply(&mut self, batch: &ChangeBatch) -> Result<(), SinkError> {
        let started = Instant::now();
        while self.stored < batch.upper {
            let StoredGate { runtime, url, connection, .. } = self;
            match runtime.block_on(Self::read_stored(url, connection)) {
                Ok(stored) => self.stored = stored,
                Err(error) => {
                    self.connection = None;
                    return Err(SinkError::new("stored-by-the-writer", ErrorClass::Transient, error.to_string()));
                }
            }
            if self.stored >= batch.upper {
                break;
            }
            if started.elapsed() > PATIENCE {
                let message = format!(
                    "the writer (process 0) has stored results up to {}, not yet to {}",
                    self.stored, batch.upper
                );
                return Err(SinkError::new("stored-by-the-writer", ErrorClass::Transient, message));
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }
}
