//! FlowMart's query API (`CONTRACT.md` §4): each tenant's live stock, reorder alerts and
//! settlements, read from the pipeline's serving index without ever waiting on a worker; the
//! live alert stream; tenant key administration; health, readiness and metrics.
//!
//! Privileged actions are appended to a hash-chained audit log ([`audit`]) when the API has a
//! database.
//!
//! Every `/v1` route but `/v1/admin/*` answers for the tenant of the bearer key only; admin
//! routes need the admin token. Every error is JSON `{"error": "…"}`.

#![warn(missing_docs)]

mod alert_annotations;
pub mod audit;
mod auth;
pub mod cluster;
mod dashboard;
mod database;
mod docs;
mod error;
pub mod history;
mod http;
mod keys;
mod limits;
mod metrics_catalogue;
mod observe;
mod outbound_tls;
mod routes;
mod sessions;
mod state;
#[cfg(test)]
mod test_receiver;
pub mod webhooks;

pub use alert_annotations::AnnotationTable;
pub use database::{Store, StoreError};
pub use error::ApiError;
pub use http::HttpSettings;
pub use keys::{AdminToken, ApiKeys, IssuedKey, KeyError, KeyInfo};
pub use limits::{MAX_BODY_BYTES, RateLimits};
pub use metrics_catalogue::describe_metrics;
pub use outbound_tls::{CaFileError, OutboundTls};
pub use routes::page::after as parse_cursor;
pub use routes::router;
pub use sessions::{SessionLimits, Sessions};
pub use state::ApiState;

/// The tokio runtime the API serves on: two threads (the timely workers have their own), each
/// marked latency-sensitive as it starts, so it preempts the pipeline's threads when a request
/// wakes it ([`flowmart_runtime::cpu_share`]).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(flowmart_runtime::cpu_share::run_latency_sensitive)
        .enable_all()
        .build()
}

/// Serves the API on `listener` until `shutdown` completes, then stops taking requests, ends the
/// live sessions and waits for the connections to close (dropping any still open 5 s later).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Exported from the start, at zero, so dashboards and alerts see the series.
    metrics::counter!("flowmart_api_rate_limited_total").increment(0);
    sessions::describe_metrics();
    // What the sessions share runs where they do, off the API's threads.
    let sessions_runtime = http::SessionsRuntime::start();
    {
        let handle = sessions_runtime.handle();
        let _on_sessions_runtime = handle.as_ref().map(tokio::runtime::Handle::enter);
        state.sessions.start(&state.index);
    }
    let sessions = std::sync::Arc::clone(&state.sessions);
    http::serve_connections(listener, router(state), shutdown, move || sessions.close(), sessions_runtime).await;
    Ok(())
}
