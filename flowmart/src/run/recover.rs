//! Where `run` starts from: what the database stored (or nothing, without one), and the serving
//! index built from it.

use flowmart_postgres::{PostgresError, PostgresSink, Recovered, WriterLockError, read_stored};
use flowmart_serving::{IndexWriter, ServingIndex, Snapshot};

use super::{with_backoff, with_backoff_saying};
use crate::config::PipelineConfig;

/// The opened Postgres sink (with a database, in the process that writes the results) and what it
/// read back; `None` when Ctrl-C or SIGTERM came before the database could be reached, or — for
/// the writer — before the pipeline writing it now went.
pub(super) fn open_database(
    tokio: &tokio::runtime::Runtime,
    config: &PipelineConfig,
    writes_results: bool,
) -> Option<(Option<PostgresSink>, Recovered)> {
    let Some(database_url) = &config.postgres.database_url else { return Some((None, Recovered::default())) };
    let (url, topics, retention) = (database_url.clone(), config.topics.inputs(), config.retention.operators());
    let resolved_alert_retention = config.retention.resolved_alerts_ms();
    let address = redacted(database_url);
    let (postgres, recovered) = match writes_results {
        // Only one writer: while another pipeline holds the database's writer lock, wait for it.
        true => {
            let (postgres, recovered) = tokio.block_on(with_backoff_saying(
                "postgres",
                &address,
                move || PostgresSink::open(&url, topics.clone(), retention, resolved_alert_retention),
                |error| match error {
                    PostgresError::WriterLock(WriterLockError::Held(_)) => {
                        format!("is refused: {error}; waiting for it to stop")
                    }
                    error => format!("is unreachable ({error})"),
                },
            ))?;
            (Some(postgres), recovered)
        }
        // The other processes of a cluster read what process 0 stores, without the writer lock
        // (process 0 holds it, and waits for them to start).
        false => (
            None,
            tokio.block_on(with_backoff("postgres", &address, move || {
                read_stored(&url, &topics, retention, resolved_alert_retention)
            }))?,
        ),
    };
    let resume = &recovered.resume;
    if resume.as_of > 0 {
        println!(
            "  resuming from the database: {} positions, {} open alerts, results as of {} ms",
            resume.state.stock.len(),
            resume.state.alerts.len(),
            resume.as_of
        );
    }
    Some((postgres, recovered))
}

/// The serving index as the stored results leave it: their stock, settlements and alerts, and
/// the recent alert changes for streams and webhooks to resume from.
pub(super) fn index_from(recovered: &Recovered, resolved_alert_retention_ms: u64) -> (ServingIndex, IndexWriter) {
    let resume = &recovered.resume;
    let snapshot = Snapshot::restored(
        resume.as_of,
        resume.progress.clone(),
        resume.alerts_before,
        resume.state.stock.iter().cloned(),
        resume.state.settlements.iter().cloned(),
        resume.state.policies.iter().cloned(),
        recovered.alerts.iter().cloned(),
    );
    ServingIndex::starting_from(snapshot, recovered.recent_alerts.iter().cloned(), resolved_alert_retention_ms)
}

/// A database URL without its password, for messages.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    match rest.rsplit_once('@') {
        Some((credentials, host)) => format!("{scheme}://{}@{host}", credentials.split(':').next().unwrap_or_default()),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn database_urls_are_shown_without_their_password() {
        assert_eq!(redacted("postgres://flowmart:s3cret@db:5432/flowmart"), "postgres://flowmart@db:5432/flowmart");
        assert_eq!(redacted("postgres://postgres@127.0.0.1/test"), "postgres://postgres@127.0.0.1/test");
        assert_eq!(redacted("postgres://127.0.0.1/test"), "postgres://127.0.0.1/test");
    }
}
