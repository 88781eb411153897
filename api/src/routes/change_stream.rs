//! `GET /v1/stock/stream` and `GET /v1/settlements/stream`: Server-Sent Events, one event per
//! changed item (as the list routes show it, with `as_of`), for the key's tenant.
//!
//! A new session first receives the current items (the last carrying the id of the last change
//! they include), then every change. Each change's id is its number; a client that reconnects
//! with `Last-Event-ID: n` receives the changes after `n` if they are still kept (the last 65,536
//! of the process, all tenants), else a `reset` event followed by the current items. A session
//! that falls more than 1,024 changes behind gets the same `reset` and current items, so a slow
//! reader never holds more than that.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use flowmart_schemas::{Currency, Id, SettlementDate, SettlementTotals, StockLevels};
use flowmart_serving::{ChangeFeed, FeedEvent, FeedMissed, ServingIndex, SettlementChange, Snapshot, StockChange};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio_stream::Stream;
use utoipa::IntoParams;

use super::settlements::SettlementItem;
use super::stock::StockItem;
use crate::auth::Tenant;
use crate::error::{ErrorBody, TenantKeyErrors};
use crate::{ApiError, ApiState};

/// Filters of the stock stream.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct StockStreamFilter {
    /// Only this warehouse.
    #[param(min_length = 1)]
    warehouse_id: Option<String>,
    /// Only this sku.
    #[param(min_length = 1)]
    sku: Option<String>,
}

/// Filters of the settlement stream.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct SettlementStreamFilter {
    /// Only this ISO 4217 currency.
    #[param(pattern = "^[A-Z]{3}$")]
    currency: Option<String>,
}

/// A kind of item a change stream sends.
trait Streamed: Sized + Send + Sync + 'static {
    /// The SSE event name of a change.
    const EVENT: &'static str;
    fn feed(index: &ServingIndex) -> &ChangeFeed<Self>;
    /// The tenant's current items, as changes complete up to the snapshot's `as_of`.
    fn current(snapshot: &Snapshot, tenant_id: &Id) -> Vec<Self>;
    /// The item's JSON, as the list route shows it, with `as_of`.
    fn json(&self) -> String;
}

#[derive(Serialize)]
struct WithAsOf<T> {
    as_of: u64,
    #[serde(flatten)]
    item: T,
}

impl Streamed for StockChange {
    const EVENT: &'static str = "stock";
    fn feed(index: &ServingIndex) -> &ChangeFeed<Self> {
        index.stock_changes()
    }
    fn current(snapshot: &Snapshot, tenant_id: &Id) -> Vec<Self> {
        let Some(view) = snapshot.tenant(tenant_id) else { return Vec::new() };
        let position = |((warehouse_id, sku), levels): (&(Id, Id), &StockLevels)| StockChange {
            warehouse_id: warehouse_id.clone(),
            sku: sku.clone(),
            levels: *levels,
            as_of: snapshot.as_of,
        };
        view.stock.iter().map(position).collect()
    }
    fn json(&self) -> String {
        let item = StockItem::new(&self.warehouse_id, &self.sku, &self.levels);
        serde_json::to_string(&WithAsOf { as_of: self.as_of, item }).expect("stock items serialize")
    }
}

impl Streamed for SettlementChange {
    const EVENT: &'static str = "settlement";
    fn feed(index: &ServingIndex) -> &ChangeFeed<Self> {
        index.settlement_changes()
    }
    fn current(snapshot: &Snapshot, tenant_id: &Id) -> Vec<Self> {
        let Some(view) = snapshot.tenant(tenant_id) else { return Vec::new() };
        let row = |((date, currency), totals): (&(SettlementDate, Currency), &SettlementTotals)| SettlementChange {
            date: *date,
            currency: *currency,
            totals: *totals,
            as_of: snapshot.as_of,
        };
        view.settlements.iter().map(row).collect()
    }
    fn json(&self) -> String {
        let item = SettlementItem::new(self.date, self.currency, &self.totals);
        serde_json::to_string(&WithAsOf { as_of: self.as_of, item }).expect("settlement items serialize")
    }
}

/// The `Last-Event-ID` a client resumes after, if it sent one.
pub(super) fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get("last-event-id") else { return Ok(None) };
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| ApiError::BadRequest("Last-Event-ID must be an event id of this stream".into()))
}

/// One client's change stream.
struct Session<T> {
    index: ServingIndex,
    tenant_id: Id,
    wanted: Box<dyn Fn(&T) -> bool + Send + Sync>,
    live: broadcast::Receiver<Arc<FeedEvent<T>>>,
    /// Live changes numbered up to this are already in what was sent.
    covered: u64,
    pending: VecDeque<Event>,
}

impl<T: Streamed> Session<T> {
    fn start(
        index: ServingIndex,
        tenant_id: Id,
        wanted: Box<dyn Fn(&T) -> bool + Send + Sync>,
        after: Option<u64>,
    ) -> Self {
        // Subscribe before reading what was missed or the items: a change then comes both ways,
        // never neither.
        let (live, floor) = T::feed(&index).subscribe(&tenant_id);
        let mut session = Session { index, tenant_id, wanted, live, covered: floor, pending: VecDeque::new() };
        match after.map(|after| T::feed(&session.index).after(&session.tenant_id, after)) {
            None => session.send_current(floor),
            Some(FeedMissed::Changes(changes)) => {
                for event in changes.iter().filter(|event| (session.wanted)(&event.item)) {
                    session.pending.push_back(change(event));
                }
                session.covered = changes.last().map_or(floor, |event| event.sequence.max(floor));
            }
            Some(FeedMissed::Gone) => session.reset(floor, "the changes after Last-Event-ID are no longer kept"),
        }
        session
    }

    /// Queues the current items; the last carries `floor`, the last change they include.
    fn send_current(&mut self, floor: u64) {
        let snapshot = self.index.snapshot();
        let items = T::current(&snapshot, &self.tenant_id);
        let mut items = items.iter().filter(|item| (self.wanted)(item)).peekable();
        while let Some(item) = items.next() {
            let event = Event::default().event(T::EVENT).data(item.json());
            self.pending.push_back(if items.peek().is_none() { event.id(floor.to_string()) } else { event });
        }
        self.covered = floor;
    }

    fn reset(&mut self, floor: u64, why: &str) {
        let data = serde_json::json!({ "error": format!("{why}; the current items follow") }).to_string();
        self.pending.push_back(Event::default().event("reset").data(data));
        self.send_current(floor);
    }

    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((Ok(event), self));
            }
            match self.live.recv().await {
                Ok(event) if event.sequence > self.covered && (self.wanted)(&event.item) => {
                    return Some((Ok(change(&event)), self));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {
                    let (live, floor) = T::feed(&self.index).subscribe(&self.tenant_id);
                    self.live = live;
                    metrics::counter!("flowmart_api_stream_resets_total", "stream" => T::EVENT).increment(1);
                    self.reset(floor, "this session fell more than 1,024 changes behind");
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// A numbered change as an event; its JSON made once for every session that sends it.
fn change<T: Streamed>(event: &FeedEvent<T>) -> Event {
    let json = event.encoded.get_or_init(|| event.item.json().into());
    let text = std::str::from_utf8(json).expect("JSON is UTF-8");
    Event::default().event(T::EVENT).id(event.sequence.to_string()).data(text)
}

fn sse<T: Streamed>(session: Session<T>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = futures_util::stream::unfold(session, Session::next);
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// Server-Sent Events: the tenant's stock positions (`stock` events, as `GET /v1/stock` shows
/// them, with `as_of`): the current ones, then one per change; resumes after `Last-Event-ID`.
#[utoipa::path(get, path = "/v1/stock/stream", params(StockStreamFilter,
        ("Last-Event-ID" = Option<u64>, Header, description = "resume after this change")),
    security(("tenant_key" = [])),
    responses((status = 200, description = "an event stream: `stock` and `reset` events", content_type = "text/event-stream"),
        (status = 400, description = "a bad filter or Last-Event-ID", body = ErrorBody),
        TenantKeyErrors))]
pub(super) async fn stock(
    Tenant(tenant_id): Tenant,
    State(state): State<ApiState>,
    filter: Result<Query<StockStreamFilter>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Query(filter) = filter?;
    let after = last_event_id(&headers)?;
    let wanted = move |change: &StockChange| {
        filter.warehouse_id.as_deref().is_none_or(|wanted| wanted == change.warehouse_id.as_str())
            && filter.sku.as_deref().is_none_or(|wanted| wanted == change.sku.as_str())
    };
    Ok(sse(Session::start(state.index.clone(), tenant_id, Box::new(wanted), after)))
}

/// Server-Sent Events: the tenant's settlement totals (`settlement` events, as
/// `GET /v1/settlements` shows them, with `as_of`): the current ones, then one per change;
/// resumes after `Last-Event-ID`.
#[utoipa::path(get, path = "/v1/settlements/stream", params(SettlementStreamFilter,
        ("Last-Event-ID" = Option<u64>, Header, description = "resume after this change")),
    security(("tenant_key" = [])),
    responses((status = 200, description = "an event stream: `settlement` and `reset` events", content_type = "text/event-stream"),
        (status = 400, description = "a bad filter or Last-Event-ID", body = ErrorBody),
        TenantKeyErrors))]
pub(super) async fn settlements(
    Tenant(tenant_id): Tenant,
    State(state): State<ApiState>,
    filter: Result<Query<SettlementStreamFilter>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Query(filter) = filter?;
    let currency = filter.currency.as_deref().map(super::settlements::currency).transpose()?;
    let after = last_event_id(&headers)?;
    let wanted = move |change: &SettlementChange| currency.is_none_or(|wanted| wanted == change.currency);
    Ok(sse(Session::start(state.index.clone(), tenant_id, Box::new(wanted), after)))
}
