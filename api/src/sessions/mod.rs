//! Live sessions: the Server-Sent Event streams (`/v1/alerts/stream`, `/v1/stock/stream`,
//! `/v1/settlements/stream`) held open, and what they share so that one costs little.
//!
//! - [`limits`]: how many sessions may be open, in all (503 beyond) and per tenant (429 beyond);
//!   each open session holds a [`SessionPermit`].
//! - [`alert_fan_out`]: each alert change encoded once, gathered per tenant for 25 ms and handed
//!   to every session of its tenant as one reference-counted `Bytes` (not a copy, an encoding, a
//!   wake and a write per session per change), through a bounded channel per tenant. The change
//!   streams share each change's encoding the same way (`FeedEvent::encoded`).
//! - [`body`]: a session's response body: the frames it is sent, and a keep-alive comment every
//!   15 s from one shared ticker (no timer per session).
//!
//! What one session costs is measured by `benches/benches/sessions.rs` (BENCHMARKS.md, "Live
//! sessions").

pub(crate) mod alert_fan_out;
pub(crate) mod body;
pub(crate) mod limits;

use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::response::Response;
use flowmart_serving::ServingIndex;
use tokio::runtime::Handle;
use tokio_stream::Stream;

pub use limits::SessionLimits;
pub(crate) use limits::SessionPermit;

use self::alert_fan_out::AlertFanOut;
use self::body::{KeepAlive, SessionBody};

/// What the API's live sessions share: their count against the limits, the alert fan-out and
/// the keep-alive ticker (both started with the server, on the sessions' runtime; else by the
/// first session that needs them, on its own).
#[derive(Default)]
pub struct Sessions {
    counts: limits::SessionCounts,
    alerts: OnceLock<AlertFanOut>,
    keep_alive: OnceLock<KeepAlive>,
    /// Where the sessions run.
    runtime: OnceLock<Handle>,
}

impl Sessions {
    /// No session open yet, at most `limits`.
    pub fn new(limits: SessionLimits) -> Sessions {
        Sessions { counts: limits::SessionCounts::new(limits), ..Sessions::default() }
    }

    /// The limits sessions are held to.
    pub fn limits(&self) -> SessionLimits {
        self.counts.limits()
    }

    /// Sessions open now.
    pub fn open(&self) -> usize {
        self.counts.open()
    }

    /// A new session of `tenant_id`, counted until the permit is dropped; refused over a limit.
    pub(crate) fn admit(self: &Arc<Self>, tenant_id: &flowmart_schemas::Id) -> Result<SessionPermit, limits::Refused> {
        limits::SessionCounts::admit(self, tenant_id)
    }

    /// Starts the alert fan-out and the keep-alive ticker on the current runtime (the sessions'),
    /// where every session's events are then produced.
    pub(crate) fn start(&self, index: &ServingIndex) {
        let _ = self.runtime.set(Handle::current());
        self.alerts(index);
        self.keep_alive();
    }

    /// The `200 text/event-stream` answer of an admitted session that sends `events`.
    pub(crate) fn respond<S>(&self, permit: SessionPermit, events: S) -> Response
    where
        S: Stream<Item = Bytes> + Send + Unpin + 'static,
    {
        SessionBody::new(permit, self.keep_alive(), events).into_response(self.runtime.get())
    }

    /// The alert changes of `index`, per tenant, gathered and encoded once.
    pub(crate) fn alerts(&self, index: &ServingIndex) -> &AlertFanOut {
        self.alerts.get_or_init(|| AlertFanOut::start(index))
    }

    /// The shared keep-alive ticker.
    pub(crate) fn keep_alive(&self) -> &KeepAlive {
        self.keep_alive.get_or_init(KeepAlive::start)
    }

    /// Ends every live session, and any that starts later (the server is closing: a session
    /// would otherwise hold its connection open for ever).
    pub(crate) fn close(&self) {
        self.keep_alive().close();
    }
}

/// The session metrics, described (Prometheus `# HELP` and unit), and exported from the start.
pub(crate) fn describe_metrics() {
    metrics::describe_gauge!("flowmart_api_sessions", metrics::Unit::Count, "Live event-stream sessions open now.");
    metrics::describe_counter!(
        "flowmart_api_sessions_refused_total",
        metrics::Unit::Count,
        "Event-stream sessions refused, by the limit they were over: `total` (503) or `tenant` (429)."
    );
    metrics::describe_counter!(
        "flowmart_api_stream_resets_total",
        metrics::Unit::Count,
        "Event-stream sessions sent `reset` (changes they missed are no longer kept), by stream."
    );
    metrics::gauge!("flowmart_api_sessions").set(0.0);
    for limit in ["total", "tenant"] {
        metrics::counter!("flowmart_api_sessions_refused_total", "limit" => limit).increment(0);
    }
    for stream in ["reorder-alert", "stock", "settlement"] {
        metrics::counter!("flowmart_api_stream_resets_total", "stream" => stream).increment(0);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::task::Poll;

    use futures_util::StreamExt;

    use super::*;

    #[test]
    fn a_session_answered_on_another_runtime_has_its_events_made_on_the_sessions_runtime() {
        let on_sessions = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let on_api = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let sessions = Arc::new(Sessions::default());
        let (index, _writer) = ServingIndex::new(u64::MAX);
        on_sessions.block_on(async { sessions.start(&index) });

        let made_on = Arc::new(Mutex::new(Vec::new()));
        let mut left = 3;
        let events = {
            let made_on = Arc::clone(&made_on);
            futures_util::stream::poll_fn(move |_| {
                made_on.lock().unwrap().push(Handle::current().id());
                left -= 1;
                Poll::Ready((left > 0).then(|| Bytes::from(format!("event {left}\n\n"))))
            })
        };
        let received = on_api.block_on(async {
            let permit = sessions.admit(&"acme".into()).unwrap();
            let response = sessions.respond(permit, events);
            assert_eq!(response.headers()["content-type"], "text/event-stream");
            response.into_body().into_data_stream().map(|frame| frame.unwrap()).collect::<Vec<_>>().await
        });
        assert_eq!(received, ["event 2\n\n", "event 1\n\n"]);
        let made_on = made_on.lock().unwrap();
        assert!(made_on.iter().all(|runtime| *runtime == on_sessions.handle().id()), "made on the API's runtime");
        let ended = std::time::Instant::now();
        while sessions.open() != 0 {
            assert!(ended.elapsed().as_secs() < 5, "the session's permit outlived its events");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
