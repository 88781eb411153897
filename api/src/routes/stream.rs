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

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use flowmart_serving::{AlertEvent, Missed};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::{Stream, StreamExt};

use crate::auth::Tenant;
use crate::error::{ErrorBody, TenantKeyErrors};
use crate::{ApiError, ApiState};

fn change(event: &AlertEvent) -> Event {
    let published = Event::default().event("reorder-alert").data(event.to_json());
    match event.annotation {
        None => published.id(event.sequence.to_string()),
        Some(_) => published,
    }
}

/// Server-Sent Events: each alert change of the tenant, as `ReorderAlert` JSON, with its number as
/// the event id; resumes after `Last-Event-ID`.
#[utoipa::path(get, path = "/v1/alerts/stream", security(("tenant_key" = [])),
    params(("Last-Event-ID" = Option<u64>, Header, description = "resume after this change")),
    responses((status = 200, description = "an event stream: `reorder-alert`, `lagged` or `reset` events", content_type = "text/event-stream"),
        (status = 400, description = "a bad Last-Event-ID", body = ErrorBody),
        TenantKeyErrors))]
pub(super) async fn alerts(
    Tenant(tenant_id): Tenant,
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let last_seen = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::BadRequest("Last-Event-ID must be an event id of this stream".into()))?,
        ),
    };
    // Subscribe before reading what was missed: a change then comes both ways, never neither.
    let live = BroadcastStream::new(state.index.subscribe_alerts());
    let (missed, replayed_up_to) = match last_seen.map(|after| (after, state.index.alerts_after(after))) {
        None => (Vec::new(), 0),
        Some((after, Missed::Changes(changes))) => {
            let up_to = changes.last().map_or(after, |event| event.sequence);
            let mine = changes.iter().filter(|event| event.alert.tenant_id == tenant_id).map(|event| Ok(change(event)));
            (mine.collect(), up_to)
        }
        Some((after, Missed::Gone)) => {
            let data =
                format!("{{\"error\":\"changes after {after} are no longer kept; re-read /v1/reorder-alerts\"}}");
            (vec![Ok(Event::default().event("reset").data(data))], 0)
        }
    };
    let live = live.filter_map(move |received| match received {
        Ok(event)
            if event.alert.tenant_id == tenant_id
                && (event.annotation.is_some() || event.sequence > replayed_up_to) =>
        {
            Some(Ok(change(&event)))
        }
        Ok(_) => None,
        Err(BroadcastStreamRecvError::Lagged(missed)) => {
            // Tell the client it must re-read the alert list: changes were dropped for it.
            Some(Ok(Event::default().event("lagged").data(format!("{{\"missed\":{missed}}}"))))
        }
    });
    let events = tokio_stream::iter(missed).chain(live);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
