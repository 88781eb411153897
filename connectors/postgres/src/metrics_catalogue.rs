//! The Postgres connector's metrics, described (Prometheus `# HELP` and unit).

use metrics::{Unit, describe_counter, describe_histogram};

/// Describes every metric the Postgres connector exports.
pub fn describe_metrics() {
    describe_histogram!(
        "flowmart_postgres_commit_seconds",
        Unit::Seconds,
        "Time one batch's transaction took (results, recovery state, outbox, offsets)."
    );
    describe_counter!(
        "flowmart_postgres_rows_written_total",
        Unit::Count,
        "Result rows written (stock levels, settlement totals, reorder alerts)."
    );
}
