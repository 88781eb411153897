//! The API's metrics, described (Prometheus `# HELP` and unit).

use metrics::{Unit, describe_counter, describe_histogram};

/// Describes every metric the API exports.
pub fn describe_metrics() {
    describe_histogram!(
        "flowmart_api_request_seconds",
        Unit::Seconds,
        "Time to answer a request, by route and status."
    );
    describe_counter!(
        "flowmart_api_rate_limited_total",
        Unit::Count,
        "Requests refused with 429 because their tenant was over its rate limit."
    );
    describe_counter!(
        "flowmart_api_key_lookups_refused_total",
        Unit::Count,
        "Unknown keys answered 401 without a look-up because every look-up slot was taken."
    );
    describe_counter!(
        "flowmart_api_routed_total",
        Unit::Count,
        "Requests forwarded to the process that owns their tenant, by that process."
    );
    describe_counter!(
        "flowmart_webhook_deliveries_total",
        Unit::Count,
        "Webhook deliveries, by outcome (delivered, retried, failed, skipped)."
    );
}
