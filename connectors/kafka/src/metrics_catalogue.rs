//! The Kafka connector's metrics, described (Prometheus `# HELP` and unit).

use metrics::{Unit, describe_counter, describe_gauge};

/// Describes every metric the Kafka connector exports.
pub fn describe_metrics() {
    describe_gauge!(
        "flowmart_consumer_lag_records",
        Unit::Count,
        "Records on the broker not yet read, by topic and partition (high watermark less the next offset; Tansu's \
         high watermark counts batches, so it reads low there)."
    );
    describe_counter!(
        "flowmart_offset_out_of_range_total",
        Unit::Count,
        "Stored offsets the broker no longer (or not yet) holds, by topic and partition: each is applied per \
         kafka.on_offset_out_of_range (earliest, or fail)."
    );
    describe_counter!(
        "flowmart_alert_changes_published_total",
        Unit::Count,
        "Reorder alert changes published to the alerts topic (each numbered change once)."
    );
}
