//! `GET /v1/alerts/stream`: Server-Sent Events, one `ReorderAlert` JSON per change.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::{Stream, StreamExt};

use crate::ApiState;
use crate::auth::Tenant;

pub(super) async fn alerts(
    Tenant(tenant_id): Tenant,
    State(state): State<ApiState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let changes = BroadcastStream::new(state.index.subscribe_alerts()).filter_map(move |received| match received {
        Ok(event) if event.alert.tenant_id == tenant_id => {
            let data = serde_json::to_string(&event.alert).unwrap_or_default();
            Some(Ok(Event::default().event("reorder-alert").id(event.sequence.to_string()).data(data)))
        }
        Ok(_) => None,
        Err(BroadcastStreamRecvError::Lagged(missed)) => {
            // Tell the client it must re-read the alert list: changes were dropped for it.
            Some(Ok(Event::default().event("lagged").data(format!("{{\"missed\":{missed}}}"))))
        }
    });
    Sse::new(changes).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
