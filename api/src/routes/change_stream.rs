//! `GET /v1/stock/stream` and `GET /v1/settlements/stream`: Server-Sent Events, one event per
//! changed item (as the list routes show it, with `as_of`), for the key's tenant.
//!
//! A new session first receives the current items (the last carrying the id of the last change
//! they include), then every change. Each change's id is its number; a client that reconnects
//! with `Last-Event-ID: n` receives the changes after `n` if they are still kept (the last 65,536
//! of the process, all tenants), else a `reset` event followed by the current items. A session
//! that falls more than 1,024 changes behind gets the same `reset` and current items, so a slow
//! reader never holds more than that. Each change's frame is encoded once for every session that
//! sends it ([`FeedEvent::encoded`]). Sessions are limited in all (503) and per tenant (429).

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use flowmart_schemas::{Currency, Id, SettlementDate, SettlementTotals, StockLevels};
use flowmart_serving::{ChangeFeed, FeedEvent, FeedMissed, ServingIndex, SettlementChange, StockChange, TenantView};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

use super::settlements::SettlementItem;
use super::stock::StockItem;
use crate::auth::Tenant;
use crate::error::{ErrorBody, TenantKeyErrors};
use crate::sessions::body::frame;
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
    /// Where an item is in the tenant's current items.
    type Key: Clone + Send + Sync;
    fn feed(index: &ServingIndex) -> &ChangeFeed<Self>;
    /// Up to `limit` of the tenant's current items after `after` (from the first without), in
    /// key order, as changes complete up to `as_of`.
    fn current(view: &TenantView, as_of: u64, after: Option<&Self::Key>, limit: usize) -> Vec<(Self::Key, Self)>;
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
    type Key = (Id, Id);
    fn current(view: &TenantView, as_of: u64, after: Option<&Self::Key>, limit: usize) -> Vec<(Self::Key, Self)> {
        let position = |(key, levels): (&(Id, Id), &StockLevels)| {
            let (warehouse_id, sku) = key.clone();
            (key.clone(), StockChange { warehouse_id, sku, levels: *levels, as_of })
        };
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        view.stock.range::<_, (Id, Id)>((from, Bound::Unbounded)).take(limit).map(position).collect()
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
    type Key = (SettlementDate, Currency);
    fn current(view: &TenantView, as_of: u64, after: Option<&Self::Key>, limit: usize) -> Vec<(Self::Key, Self)> {
        let row = |(&(date, currency), totals): (&(SettlementDate, Currency), &SettlementTotals)| {
            ((date, currency), SettlementChange { date, currency, totals: *totals, as_of })
        };
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        view.settlements.range::<_, Self::Key>((from, Bound::Unbounded)).take(limit).map(row).collect()
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
struct Session<T: Streamed> {
    index: ServingIndex,
    tenant_id: Id,
    wanted: Box<dyn Fn(&T) -> bool + Send + Sync>,
    live: broadcast::Receiver<Arc<FeedEvent<T>>>,
    /// Live changes numbered up to this are already in what was sent.
    covered: u64,
    pending: VecDeque<Bytes>,
    /// The current items still to send, rendered a page at a time as the client reads.
    current: Option<Current<T>>,
}

/// How many current items a session renders at a time.
const CURRENT_PAGE: usize = 64;

/// The current items of a session's tenant as they stood when it started (or was reset): a
/// reference to that version of the tenant's view (shared with the index, not a copy) and how far
/// the session has sent them, so a session costs the same whatever its tenant holds.
struct Current<T: Streamed> {
    view: Arc<TenantView>,
    as_of: u64,
    /// The last item rendered.
    after: Option<T::Key>,
    /// The last wanted item, held back until it is known whether it is the last one: that one
    /// carries `floor` as its id.
    held: Option<T>,
    /// The last change the items include.
    floor: u64,
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
        let mut session =
            Session { index, tenant_id, wanted, live, covered: floor, pending: VecDeque::new(), current: None };
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

    /// Sends the current items next (the last carries `floor`, the last change they include).
    fn send_current(&mut self, floor: u64) {
        let snapshot = self.index.snapshot();
        self.current = snapshot.tenants.get(&self.tenant_id).map(|view| Current {
            view: Arc::clone(view),
            as_of: snapshot.as_of,
            after: None,
            held: None,
            floor,
        });
        self.covered = floor;
    }

    /// Queues the next page of the current items; forgets them once all are queued.
    fn render_current(&mut self) {
        let Some(current) = &mut self.current else { return };
        let page = T::current(&current.view, current.as_of, current.after.as_ref(), CURRENT_PAGE);
        let last_page = page.len() < CURRENT_PAGE;
        current.after = page.last().map(|(key, _)| key.clone()).or(current.after.take());
        for (_, item) in page.into_iter().filter(|(_, item)| (self.wanted)(item)) {
            if let Some(earlier) = current.held.replace(item) {
                self.pending.push_back(frame(T::EVENT, None, &earlier.json()));
            }
        }
        if last_page {
            if let Some(last) = current.held.take() {
                self.pending.push_back(frame(T::EVENT, Some(current.floor), &last.json()));
            }
            self.current = None;
        }
    }

    fn reset(&mut self, floor: u64, why: &str) {
        let data = serde_json::json!({ "error": format!("{why}; the current items follow") }).to_string();
        self.pending.push_back(frame("reset", None, &data));
        self.send_current(floor);
    }

    async fn next(mut self) -> Option<(Bytes, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((event, self));
            }
            if self.current.is_some() {
                self.render_current();
                continue;
            }
            match self.live.recv().await {
                Ok(event) if event.sequence > self.covered && (self.wanted)(&event.item) => {
                    return Some((change(&event), self));
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

/// A numbered change as its event, made once for every session that sends it.
fn change<T: Streamed>(event: &FeedEvent<T>) -> Bytes {
    event.encoded.get_or_init(|| frame(T::EVENT, Some(event.sequence), &event.item.json())).clone()
}

/// The session's answer, or why there is no room for it.
fn sse<T: Streamed>(
    state: &ApiState,
    tenant_id: Id,
    wanted: Box<dyn Fn(&T) -> bool + Send + Sync>,
    after: Option<u64>,
) -> Response {
    let permit = match state.sessions.admit(&tenant_id) {
        Ok(permit) => permit,
        Err(refused) => return refused.into_response(),
    };
    let session = Session::start(state.index.clone(), tenant_id, wanted, after);
    let events = Box::pin(futures_util::stream::unfold(session, Session::next));
    state.sessions.respond(permit, events)
}

/// Server-Sent Events: the tenant's stock positions (`stock` events, as `GET /v1/stock` shows
/// them, with `as_of`): the current ones, then one per change; resumes after `Last-Event-ID`.
#[utoipa::path(get, path = "/v1/stock/stream", params(StockStreamFilter,
        ("Last-Event-ID" = Option<u64>, Header, description = "resume after this change")),
    security(("tenant_key" = [])),
    responses((status = 200, description = "an event stream: `stock` and `reset` events", content_type = "text/event-stream"),
        (status = 400, description = "a bad filter or Last-Event-ID", body = ErrorBody),
        (status = 503, description = "the server holds its limit of live sessions", body = ErrorBody),
        TenantKeyErrors,
        (status = 429, description = "over the tenant's rate limit, or the tenant holds its limit of live sessions (see Retry-After)", body = ErrorBody)))]
pub(super) async fn stock(
    Tenant(tenant_id): Tenant,
    State(state): State<ApiState>,
    filter: Result<Query<StockStreamFilter>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(filter) = filter?;
    let after = last_event_id(&headers)?;
    let wanted = move |change: &StockChange| {
        filter.warehouse_id.as_deref().is_none_or(|wanted| wanted == change.warehouse_id.as_str())
            && filter.sku.as_deref().is_none_or(|wanted| wanted == change.sku.as_str())
    };
    Ok(sse(&state, tenant_id, Box::new(wanted), after))
}

/// Server-Sent Events: the tenant's settlement totals (`settlement` events, as
/// `GET /v1/settlements` shows them, with `as_of`): the current ones, then one per change;
/// resumes after `Last-Event-ID`.
#[utoipa::path(get, path = "/v1/settlements/stream", params(SettlementStreamFilter,
        ("Last-Event-ID" = Option<u64>, Header, description = "resume after this change")),
    security(("tenant_key" = [])),
    responses((status = 200, description = "an event stream: `settlement` and `reset` events", content_type = "text/event-stream"),
        (status = 400, description = "a bad filter or Last-Event-ID", body = ErrorBody),
        (status = 503, description = "the server holds its limit of live sessions", body = ErrorBody),
        TenantKeyErrors,
        (status = 429, description = "over the tenant's rate limit, or the tenant holds its limit of live sessions (see Retry-After)", body = ErrorBody)))]
pub(super) async fn settlements(
    Tenant(tenant_id): Tenant,
    State(state): State<ApiState>,
    filter: Result<Query<SettlementStreamFilter>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(filter) = filter?;
    let currency = filter.currency.as_deref().map(super::settlements::currency).transpose()?;
    let after = last_event_id(&headers)?;
    let wanted = move |change: &SettlementChange| currency.is_none_or(|wanted| wanted == change.currency);
    Ok(sse(&state, tenant_id, Box::new(wanted), after))
}
