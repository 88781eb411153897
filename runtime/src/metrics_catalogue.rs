//! The runtime's metrics, described (Prometheus `# HELP` and unit) once the recorder is installed.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

/// Describes every metric the runtime exports.
pub fn describe_metrics() {
    describe_counter!(
        "flowmart_records_consumed_total",
        Unit::Count,
        "Input records read, by topic and partition (dead letters included)."
    );
    describe_counter!(
        "flowmart_dead_letters_total",
        Unit::Count,
        "Records that could not be used, by input topic and error.kind (the rule broken)."
    );
    describe_counter!(
        "flowmart_sink_retries_total",
        Unit::Count,
        "Failed sink applies, each retried with the same batch, by sink and class (transient: unreachable, \
         restarting, serialization failure; data: a value the sink refuses)."
    );
    describe_counter!(
        "flowmart_rewinds_total",
        Unit::Count,
        "Times the pipeline read again from the stored results to dead-letter records a sink refused (sink_rejected)."
    );
    describe_gauge!(
        "flowmart_seconds_since_last_commit",
        Unit::Seconds,
        "Time since the last batch passed every sink; /readyz turns 503 past runtime.stall_after_ms."
    );
    describe_gauge!(
        "flowmart_as_of_ms",
        Unit::Milliseconds,
        "The pipeline time the published results are complete up to (ms since the epoch)."
    );
    describe_histogram!("flowmart_sink_apply_seconds", Unit::Seconds, "Time a sink took to take one batch, by sink.");
}
