//! The serving index's metrics, described (Prometheus `# HELP` and unit).

use metrics::{Unit, describe_histogram};

/// Describes every metric the serving index exports.
pub fn describe_metrics() {
    describe_histogram!(
        "flowmart_freshness_seconds",
        Unit::Seconds,
        "Time from a batch's oldest record being read to its results being visible to the API."
    );
}
