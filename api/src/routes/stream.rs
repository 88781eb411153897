//! `GET /v1/alerts/stream`: Server-Sent Events, one `ReorderAlert` JSON per change, numbered.
//!
//! Each event's id is the change's number, which goes on across restarts of a pipeline that
//! recovers from Postgres. A client that reconnects with `Last-Event-ID: n` first receives its
//! tenant's changes after `n` (from the last 65,536 kept), then the live ones — each once. If
//! changes after `n` are no longer kept it receives a `reset` event: re-read the alert list.
//!
//! An acknowledgement or snooze comes as a `reorder-alert` event too (an `UPDATED` of the alert
//! with `acknowledged_at`, `acknowledged_by`, `note` and `snoozed_until`), without an id: it is
//! not a change of the pipeline's, and a client that resumes finds it in the alert list.
//!
//! Changes reach a session in batches, 25 ms apart when the server is not busy, each change encoded
//! once for all the tenant's sessions ([`crate::sessions::alert_fan_out`]). A session more than 512
//! batches (about 13 s) behind is sent `lagged` (how many changes it missed), then `reset`, and
//! goes on from the newest. Sessions are limited in all (503) and per tenant (429).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use flowmart_serving::Missed;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::{Stream, StreamExt};

use super::change_stream::last_event_id;
use crate::auth::Tenant;
use crate::error::{ErrorBody, TenantKeyErrors};
use crate::sessions::alert_fan_out::{AlertBatch, SESSION_BUFFER, encode, lagged, reset};
use crate::{ApiError, ApiState};

/// Server-Sent Events: each alert change of the tenant, as `ReorderAlert` JSON, with its number as
/// the event id; resumes after `Last-Event-ID`.
#[utoipa::path(get, path = "/v1/alerts/stream", security(("tenant_key" = [])),
    params(("Last-Event-ID" = Option<u64>, Header, description = "resume after this change")),
    responses((status = 200, description = "an event stream: `reorder-alert`, `lagged` or `reset` events", content_type = "text/event-stream"),
        (status = 400, description = "a bad Last-Event-ID", body = ErrorBody),
        (status = 503, description = "the server holds its limit of live sessions", body = ErrorBody),
        TenantKeyErrors,
        (status = 429, description = "over the tenant's rate limit, or the tenant holds its limit of live sessions (see Retry-After)", body = ErrorBody)))]
pub(super) async fn alerts(
    Tenant(tenant_id): Tenant,
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let last_seen = last_event_id(&headers)?;
    let permit = match state.sessions.admit(&tenant_id) {
        Ok(permit) => permit,
        Err(refused) => return Ok(refused.into_response()),
    };
    // Subscribe before reading what was missed: a change then comes both ways, never neither.
    let subscription = state.sessions.alerts(&state.index).subscribe(&tenant_id);
    // What was missed is encoded as it is sent: a thousand sessions resuming at once hold
    // references to the kept changes, not each its own copy of their events.
    let (gone, mut missed, replayed_up_to) = match last_seen.map(|after| (after, state.index.alerts_after(after))) {
        // The changes up to the snapshot's are in the list the client reads (after subscribing):
        // the fan-out may still be gathering some of them, and they are not sent again.
        None => (None, Vec::new(), state.index.snapshot().alerts_published),
        Some((after, Missed::Changes(mut changes))) => {
            let up_to = changes.last().map_or(after, |event| event.sequence);
            changes.retain(|event| event.alert.tenant_id == tenant_id);
            (None, changes, up_to)
        }
        Some((after, Missed::Gone { .. })) => {
            let why = format!("changes after {after} are no longer kept; re-read /v1/reorder-alerts");
            (Some(reset(&why)), Vec::new(), 0)
        }
    };
    missed.shrink_to_fit();
    let live = LiveAlerts {
        batches: BroadcastStream::new(subscription.batches),
        channel: subscription.channel,
        sent: subscription.sent,
        seen: subscription.seen,
        replayed_up_to,
        pending: None,
    };
    let replay = gone.into_iter().chain(missed.into_iter().map(|event| encode(&event)));
    Ok(state.sessions.respond(permit, tokio_stream::iter(replay).chain(live)))
}

/// The tenant's live changes after those replayed; `lagged` and `reset` for a session that fell
/// behind, which then goes on from the newest.
struct LiveAlerts {
    batches: BroadcastStream<Arc<AlertBatch>>,
    /// The tenant's channel, to subscribe to again at its newest batch after falling behind.
    channel: broadcast::Sender<Arc<AlertBatch>>,
    /// How many of the tenant's changes have been sent, and how many of those this session saw.
    sent: Arc<AtomicU64>,
    seen: u64,
    /// Changes numbered up to this were replayed, or published before the session subscribed; 0
    /// once no batch can hold one.
    replayed_up_to: u64,
    /// The `reset` that follows a `lagged`.
    pending: Option<Bytes>,
}

impl LiveAlerts {
    /// Tells the session how many changes it missed, and starts it again from the newest batch.
    fn lagged(&mut self) -> Bytes {
        self.batches = BroadcastStream::new(self.channel.subscribe());
        let sent = self.sent.load(Ordering::Relaxed);
        let missed = sent.saturating_sub(self.seen);
        self.seen = sent;
        metrics::counter!("flowmart_api_stream_resets_total", "stream" => "reorder-alert").increment(1);
        let why = format!(
            "this session fell more than {SESSION_BUFFER} batches of changes behind; re-read /v1/reorder-alerts"
        );
        self.pending = Some(reset(&why));
        lagged(missed)
    }
}

impl Stream for LiveAlerts {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.get_mut();
        if let Some(reset) = this.pending.take() {
            return Poll::Ready(Some(reset));
        }
        loop {
            match ready!(Pin::new(&mut this.batches).poll_next(cx)) {
                Some(Ok(batch)) => {
                    this.seen += batch.changes.len() as u64;
                    if this.replayed_up_to == 0 {
                        return Poll::Ready(Some(batch.bytes.clone()));
                    }
                    let newer = batch.after(this.replayed_up_to);
                    if batch
                        .changes
                        .iter()
                        .any(|(sequence, _)| sequence.is_some_and(|sequence| sequence > this.replayed_up_to))
                    {
                        // Later batches hold only later changes.
                        this.replayed_up_to = 0;
                    }
                    if !newer.is_empty() {
                        return Poll::Ready(Some(newer));
                    }
                }
                Some(Err(BroadcastStreamRecvError::Lagged(_))) => return Poll::Ready(Some(this.lagged())),
                None => return Poll::Ready(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;
    use crate::sessions::body::frame;

    fn batch(sequence: u64) -> Arc<AlertBatch> {
        let bytes = frame("reorder-alert", Some(sequence), "{}");
        let end = bytes.len();
        Arc::new(AlertBatch { bytes, changes: vec![(Some(sequence), end)] })
    }

    #[tokio::test]
    async fn a_session_more_than_its_buffer_behind_is_told_lagged_then_reset_and_goes_on_from_the_newest() {
        let (channel, batches) = broadcast::channel(SESSION_BUFFER);
        let sent = Arc::new(AtomicU64::new(0));
        let mut live = LiveAlerts {
            batches: BroadcastStream::new(batches),
            channel: channel.clone(),
            sent: Arc::clone(&sent),
            seen: 0,
            replayed_up_to: 0,
            pending: None,
        };
        channel.send(batch(1)).unwrap();
        assert_eq!(live.next().await.unwrap(), batch(1).bytes, "within its buffer: every batch");
        let behind = SESSION_BUFFER as u64 + 88;
        for sequence in 2..2 + behind {
            channel.send(batch(sequence)).unwrap();
        }
        sent.store(1 + behind, Ordering::Relaxed);
        assert_eq!(live.next().await.unwrap(), frame("lagged", None, &format!("{{\"missed\":{behind}}}")));
        let reset = live.next().await.unwrap();
        assert!(reset.starts_with(b"event: reset\n"), "{reset:?}");
        let newest = 2 + behind;
        channel.send(batch(newest)).unwrap();
        assert_eq!(live.next().await.unwrap(), batch(newest).bytes, "on from the newest, none of the ring replayed");
    }

    #[tokio::test]
    async fn a_resumed_session_skips_the_replayed_changes_of_the_first_live_batches() {
        let (channel, batches) = broadcast::channel(SESSION_BUFFER);
        let mut live = LiveAlerts {
            batches: BroadcastStream::new(batches),
            channel: channel.clone(),
            sent: Arc::default(),
            seen: 0,
            replayed_up_to: 7,
            pending: None,
        };
        for sequence in [6, 7, 8, 9] {
            channel.send(batch(sequence)).unwrap();
        }
        assert_eq!(live.next().await.unwrap(), batch(8).bytes, "6 and 7 were replayed already");
        assert_eq!(live.next().await.unwrap(), batch(9).bytes);
    }
}
