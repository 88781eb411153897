//! `GET /v1/stock/stream` and `GET /v1/settlements/stream`: Server-Sent Events, one event per
//! changed item (as the list routes show it, with `as_of`), for the key's tenant.
//!
//! A new session first receives the current items (the last carrying the id of the last change
//! they include), then every change. Each change's id is its number; a client that reconnects
//! with `Last-Event-ID: n` receives the changes after `n` if they are still kept (the last 65,536
//! of the process, all tenants), else a `reset` event followed by the current items. A session
//! that falls more than 1,024 changes behind its live feed catches up from the kept changes the
//! same way, and gets the `reset` and current items only once they no longer reach back to it.
//! Either way a session queues 64 events at a time, read from shared state as its client reads
//! them: a slow reader holds no more. Each change's frame is encoded once for every session that
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
    /// Changes numbered up to this are already in what was sent (or not wanted).
    covered: u64,
    /// Kept changes after `covered` and up to this number (the last made before `live` was
    /// subscribed) are still to be read from the feed.
    catching_up: Option<u64>,
    pending: VecDeque<Bytes>,
    /// The current items still to send, rendered a page at a time as the client reads.
    current: Option<Current<T>>,
}

/// How many current items, or kept changes, a session queues at a time.
const PAGE: usize = 64;

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
        let mut session = Session {
            index,
            tenant_id,
            wanted,
            live,
            covered: floor,
            catching_up: None,
            pending: VecDeque::new(),
            current: None,
        };
        match after {
            None => session.send_current(floor),
            Some(after) => {
                (session.covered, session.catching_up) = (after, Some(floor));
                session.catch_up("the changes after Last-Event-ID are no longer kept");
            }
        }
        session
    }

    /// Queues the next page of the kept changes the session missed; once none are left, goes on
    /// live. If they are no longer kept, starts again from a fresh subscription: `reset` (saying
    /// `why`), then the current items.
    fn catch_up(&mut self, why: &str) {
        let Some(floor) = self.catching_up else { return };
        match T::feed(&self.index).after(&self.tenant_id, self.covered, PAGE) {
            FeedMissed::Changes(changes) => {
                for event in changes.iter().filter(|event| (self.wanted)(&event.item)) {
                    self.pending.push_back(change(event));
                }
                self.covered = changes.last().map_or(self.covered, |event| event.sequence);
                if changes.len() < PAGE || self.covered >= floor {
                    // Changes after `floor` come live; those up to `covered` were sent already.
                    (self.covered, self.catching_up) = (self.covered.max(floor), None);
                }
            }
            FeedMissed::Gone => {
                let floor = self.resubscribe();
                self.catching_up = None;
                metrics::counter!("flowmart_api_stream_resets_total", "stream" => T::EVENT).increment(1);
                self.reset(floor, why);
            }
        }
    }

    /// Subscribes to the tenant's live changes again, from now on; returns the number of the last
    /// change made before them.
    fn resubscribe(&mut self) -> u64 {
        let (live, floor) = T::feed(&self.index).subscribe(&self.tenant_id);
        self.live = live;
        floor
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
        let page = T::current(&current.view, current.as_of, current.after.as_ref(), PAGE);
        let last_page = page.len() < PAGE;
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
            if self.catching_up.is_some() {
                self.catch_up("this session fell behind the changes kept");
                continue;
            }
            match self.live.recv().await {
                Ok(event) if event.sequence > self.covered => {
                    self.covered = event.sequence;
                    if (self.wanted)(&event.item) {
                        return Some((change(&event), self));
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {
                    // Catch up from the kept changes, live again from a fresh subscription.
                    self.catching_up = Some(self.resubscribe());
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

#[cfg(test)]
mod tests {
    use flowmart_runtime::Sink;
    use flowmart_schemas::{PositionKey, StockLevels};
    use flowmart_testkit::stock_batch;

    use super::*;

    /// The next event and the session, failing the test after 10 s.
    async fn within_10_s<S>(next: impl Future<Output = Option<(Bytes, S)>>) -> (Bytes, S) {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), next).await;
        next.expect("an event within 10 s").expect("the session goes on")
    }

    /// The session's events until it has sent `changes` changes: `(event, id, on_hand)` each.
    async fn read(mut session: Session<StockChange>, changes: usize) -> Vec<(String, Option<u64>, i64)> {
        let (mut events, mut sent) = (Vec::new(), 0);
        while sent < changes {
            let (frame, next) = within_10_s(session.next()).await;
            session = next;
            let text = std::str::from_utf8(&frame).unwrap();
            let field = |name: &str| text.lines().find_map(|line| line.strip_prefix(name)).map(str::trim);
            let data: serde_json::Value = serde_json::from_str(field("data:").unwrap()).unwrap();
            let id = field("id:").map(|id| id.parse().unwrap());
            let event = field("event:").unwrap().to_string();
            sent += usize::from(event == "stock");
            events.push((event, id, data["on_hand"].as_i64().unwrap_or(-1)));
        }
        events
    }

    fn round(writer: &mut impl Sink, round: u64, positions: usize) {
        let levels = StockLevels { on_hand: round as i64, reserved: 0, on_order: 0, records: 1 };
        let stock = (0..positions)
            .map(|sku| (PositionKey::new("acme", "berlin", format!("sku-{sku:05}")), Some(levels)))
            .collect();
        writer.apply(&stock_batch(round, round + 1, stock)).unwrap();
    }

    #[tokio::test]
    async fn a_session_three_live_buffers_behind_catches_up_from_the_kept_changes_without_a_reset() {
        let (index, mut writer) = ServingIndex::new(u64::MAX);
        let everything: Box<dyn Fn(&StockChange) -> bool + Send + Sync> = Box::new(|_| true);
        let session = Session::start(index, "acme".into(), everything, None);
        // 3,000 changes while the session reads none: three times its live buffer, all kept.
        (1..=3).for_each(|number| round(&mut writer, number, 1_000));
        let events = read(session, 3_000).await;
        assert_eq!(events.len(), 3_000, "every change, and nothing else (no reset): {:?}", &events[..3]);
        let ids = events.iter().map(|(_, id, _)| id.expect("a change has its number")).collect::<Vec<_>>();
        assert!(ids.windows(2).all(|pair| pair[1] == pair[0] + 1), "in order, none twice or missed");
        let on_hand = events.iter().map(|(_, _, on_hand)| *on_hand).collect::<Vec<_>>();
        assert_eq!(on_hand, (1..=3).flat_map(|round| [round; 1_000]).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_session_caught_up_goes_on_live_and_one_behind_what_is_kept_is_reset() {
        let (index, mut writer) = ServingIndex::new(u64::MAX);
        let everything = || -> Box<dyn Fn(&StockChange) -> bool + Send + Sync> { Box::new(|_| true) };
        let session = Session::start(index.clone(), "acme".into(), everything(), None);
        round(&mut writer, 1, 2_000);
        let mut events = Vec::new();
        let mut session = Some(session);
        // Read the 2,000 caught-up changes, then one more made live.
        for (changes, then) in [(2_000, Some(2)), (1, None)] {
            let mut current = session.take().unwrap();
            let mut read_now = Vec::new();
            while read_now.len() < changes {
                let (frame, next) = within_10_s(current.next()).await;
                current = next;
                read_now.push(String::from_utf8(frame.to_vec()).unwrap());
            }
            events.extend(read_now);
            if let Some(number) = then {
                round(&mut writer, number, 1);
            }
            session = Some(current);
        }
        assert!(events.iter().all(|event| event.starts_with("event: stock")), "no reset");
        assert!(events.last().unwrap().contains("\"on_hand\":2"), "the live change: {}", events.last().unwrap());
        // A session resuming after the first change, once 65,536 later ones are kept, is reset.
        let first = events[0].lines().find_map(|line| line.strip_prefix("id: ")).unwrap().parse::<u64>().unwrap();
        (3..=70).for_each(|number| round(&mut writer, number, 1_000));
        let resumed = Session::start(index.clone(), "acme".into(), everything(), Some(first + 10_000));
        assert_eq!(read(resumed, 1).await[0].0, "stock", "kept: the change after it");
        let resumed = Session::start(index, "acme".into(), everything(), Some(first));
        let events = read(resumed, 1_000).await;
        assert_eq!(events[0].0, "reset");
        assert_eq!(events[1..].iter().map(|(_, _, on_hand)| *on_hand).collect::<Vec<_>>(), vec![70; 1_000]);
    }
}
