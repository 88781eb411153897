use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use flowmart_runtime::{ChangeBatch, Sink, SinkError, SourceProgress};
use flowmart_schemas::{
    AlertState, AlertView, Currency, Id, Outputs, PositionKey, ReorderAlert, ReorderAlertStatus, ReorderPolicy,
    SettlementDate, SettlementKey, SettlementTotals, StockLevels, Time,
};
use imbl::OrdMap;
use tokio::sync::{broadcast, watch};

use crate::annotations::Annotations;
use crate::{AlertAnnotation, ChangeFeed, PolicyTerms, TenantView};

/// The index as of one frontier.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Pipeline time the snapshot is complete up to: every input record read before it counts.
    pub as_of: Time,
    /// Every tenant seen, by id.
    pub tenants: OrdMap<Id, Arc<TenantView>>,
    /// The next offset per input partition that the snapshot covers.
    pub progress: SourceProgress,
    /// How many alert changes the results hold (the number of the last one).
    pub alerts_published: u64,
}

impl Snapshot {
    /// A snapshot of stored results: stock levels, settlement totals, reorder policies and alerts
    /// (with their tenant), complete up to `as_of`, covering `progress`, after
    /// `alerts_published` changes.
    pub fn restored(
        as_of: Time,
        progress: SourceProgress,
        alerts_published: u64,
        stock: impl IntoIterator<Item = (PositionKey, StockLevels)>,
        settlements: impl IntoIterator<Item = (SettlementKey, SettlementTotals)>,
        policies: impl IntoIterator<Item = (PositionKey, ReorderPolicy)>,
        alerts: impl IntoIterator<Item = (Id, AlertView)>,
    ) -> Snapshot {
        let mut tenants = OrdMap::new();
        for (position, levels) in stock {
            IndexWriter::tenant(&mut tenants, &position.tenant_id)
                .stock
                .insert((position.warehouse_id, position.sku), levels);
        }
        for (key, totals) in settlements {
            IndexWriter::tenant(&mut tenants, &key.tenant_id)
                .settlements
                .insert((key.settlement_date, key.currency), totals);
        }
        for (position, policy) in policies {
            IndexWriter::tenant(&mut tenants, &position.tenant_id)
                .policies
                .insert((position.warehouse_id, position.sku), PolicyTerms::from(&policy));
        }
        for (tenant_id, alert) in alerts {
            IndexWriter::tenant(&mut tenants, &tenant_id).restore_alert(alert);
        }
        Snapshot { as_of, tenants, progress, alerts_published }
    }

    /// The tenant's view, if the tenant has been seen.
    pub fn tenant(&self, tenant_id: &str) -> Option<&TenantView> {
        self.tenants.get(tenant_id).map(Arc::as_ref)
    }
}

/// One alert change as live subscribers receive it, numbered in publication order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertEvent {
    /// The change's number ([`ChangeBatch::numbered_alerts`]): increases by one per change, and
    /// goes on across restarts of a pipeline that recovers from stored results. For an
    /// annotation, the number of the last change before it.
    pub sequence: u64,
    /// The change.
    pub alert: ReorderAlert,
    /// Set when the change is an acknowledgement or a snooze ([`ServingIndex::annotate`]): an
    /// `UPDATED` of the alert as it stands, not a change of the pipeline's, so not numbered and
    /// not kept for resuming (the alert list shows it).
    pub annotation: Option<AlertAnnotation>,
}

impl AlertEvent {
    /// The change as JSON: the `ReorderAlert` record, with the annotation's fields
    /// (`acknowledged_at`, `acknowledged_by`, `note`, `snoozed_until`) when it is one.
    pub fn to_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Published<'a> {
            #[serde(flatten)]
            alert: &'a ReorderAlert,
            #[serde(flatten)]
            annotation: Option<&'a AlertAnnotation>,
        }
        let published = Published { alert: &self.alert, annotation: self.annotation.as_ref() };
        serde_json::to_string(&published).expect("alert changes serialize")
    }
}

/// A stock position as it changed: what `/v1/stock/stream` sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StockChange {
    /// The warehouse.
    pub warehouse_id: Id,
    /// The sku.
    pub sku: Id,
    /// The levels now (all zeros for a position no current record touches any more).
    pub levels: StockLevels,
    /// The pipeline time the change is complete up to.
    pub as_of: Time,
}

/// A settlement row as it changed: what `/v1/settlements/stream` sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementChange {
    /// The settlement date.
    pub date: SettlementDate,
    /// The currency.
    pub currency: Currency,
    /// The totals now (all zeros for a row no current record counts in any more).
    pub totals: SettlementTotals,
    /// The pipeline time the change is complete up to.
    pub as_of: Time,
}

/// How many recent alert changes the index keeps for subscribers that resume.
const ALERT_HISTORY: usize = 65_536;

/// The read side of the serving index: cheap to clone, never blocks (except
/// [`fresh`](ServingIndex::fresh), which waits when asked to).
#[derive(Clone)]
pub struct ServingIndex {
    current: Arc<ArcSwap<Snapshot>>,
    alerts: broadcast::Sender<Arc<AlertEvent>>,
    as_of: watch::Receiver<Time>,
    history: Arc<Mutex<History>>,
    annotations: Arc<Annotations>,
    feeds: Arc<Feeds>,
}

/// The change feeds of stock and settlements.
struct Feeds {
    stock: ChangeFeed<StockChange>,
    settlements: ChangeFeed<SettlementChange>,
}

/// Recent alert changes, for subscribers that resume.
struct History {
    /// Every change numbered above this that the index serves is in `events`.
    floor: u64,
    events: VecDeque<Arc<AlertEvent>>,
}

/// The alert changes a resuming subscriber missed, or why they cannot be given.
#[derive(Debug)]
pub enum Missed {
    /// Every change after the one asked for, in order (perhaps none).
    Changes(Vec<Arc<AlertEvent>>),
    /// Changes after the one asked for are no longer kept, up to `up_to` (those after it are): a
    /// stream's subscriber must re-read the list.
    Gone {
        /// The last change no longer kept.
        up_to: u64,
    },
}

impl ServingIndex {
    /// An empty index and its single writer, which keeps resolved alerts for
    /// `resolved_alert_retention_ms` of pipeline time.
    pub fn new(resolved_alert_retention_ms: Time) -> (ServingIndex, IndexWriter) {
        ServingIndex::starting_from(Snapshot::default(), [], resolved_alert_retention_ms)
    }

    /// An index holding `snapshot` (e.g. [`Snapshot::restored`]) until its writer applies the
    /// batches after it, and keeping `recent` (numbered alert changes, in order, the last up to
    /// the snapshot's) for subscribers that resume.
    pub fn starting_from(
        snapshot: Snapshot,
        recent: impl IntoIterator<Item = (u64, ReorderAlert)>,
        resolved_alert_retention_ms: Time,
    ) -> (ServingIndex, IndexWriter) {
        let (as_of_sender, as_of) = watch::channel(snapshot.as_of);
        let published = snapshot.alerts_published;
        let current = Arc::new(ArcSwap::from_pointee(snapshot));
        let (alerts, _) = broadcast::channel(16_384);
        let mut kept = recent
            .into_iter()
            .map(|(sequence, alert)| Arc::new(AlertEvent { sequence, alert, annotation: None }))
            .collect::<VecDeque<_>>();
        while kept.len() > ALERT_HISTORY {
            kept.pop_front();
        }
        let floor = kept.front().map_or(published, |oldest| oldest.sequence - 1);
        let history = Arc::new(Mutex::new(History { floor, events: kept }));
        let annotations = Arc::new(Annotations::default());
        let feeds = Arc::new(Feeds { stock: ChangeFeed::new(), settlements: ChangeFeed::new() });
        let index = ServingIndex {
            current: Arc::clone(&current),
            alerts: alerts.clone(),
            as_of,
            history: Arc::clone(&history),
            annotations: Arc::clone(&annotations),
            feeds: Arc::clone(&feeds),
        };
        let writer = IndexWriter {
            current,
            alerts,
            as_of: as_of_sender,
            history,
            annotations,
            feeds,
            resolved_alert_retention_ms,
            serves: None,
        };
        (index, writer)
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// A snapshot complete up to at least `min_as_of`, waiting up to `patience` for one; `None`
    /// when none came in time.
    pub async fn fresh(&self, min_as_of: Time, patience: Duration) -> Option<Arc<Snapshot>> {
        let mut as_of = self.as_of.clone();
        let reached = tokio::time::timeout(patience, as_of.wait_for(|as_of| *as_of >= min_as_of)).await;
        matches!(reached, Ok(Ok(_))).then(|| self.snapshot()).filter(|snapshot| snapshot.as_of >= min_as_of)
    }

    /// Every alert change published from now on, all tenants (subscribers filter). A subscriber
    /// that falls more than 16,384 changes behind is told how many it missed.
    pub fn subscribe_alerts(&self) -> broadcast::Receiver<Arc<AlertEvent>> {
        self.alerts.subscribe()
    }

    /// The changes published after change number `after`, from the last 65,536 kept (all
    /// tenants). Subscribe first, then ask: a change may then come both ways, never neither.
    pub fn alerts_after(&self, after: u64) -> Missed {
        let history = self.history.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if after < history.floor {
            Missed::Gone { up_to: history.floor }
        } else {
            Missed::Changes(history.events.iter().filter(|event| event.sequence > after).cloned().collect())
        }
    }

    /// The feed of stock position changes.
    pub fn stock_changes(&self) -> &ChangeFeed<StockChange> {
        &self.feeds.stock
    }

    /// The feed of settlement row changes.
    pub fn settlement_changes(&self) -> &ChangeFeed<SettlementChange> {
        &self.feeds.settlements
    }

    /// The tenant's annotation of an alert, if it has one.
    pub fn annotation(&self, tenant_id: &str, alert_id: &str) -> Option<AlertAnnotation> {
        self.annotations.get(tenant_id, alert_id)
    }

    /// The tenant's annotations, by alert id.
    pub fn annotations_of(&self, tenant_id: &str) -> std::collections::HashMap<Id, AlertAnnotation> {
        self.annotations.of_tenant(tenant_id)
    }

    /// Held by whoever changes an annotation, from reading it to publishing it (and storing it,
    /// for an API with a database): changes of one alert then never overwrite each other.
    pub async fn annotating(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.annotations.writing.lock().await
    }

    /// Sets the annotation of the tenant's open alert `alert_id` and publishes it to live
    /// subscribers as an `UPDATED` of the alert (changed at `now`, ms since the epoch), after
    /// every numbered change before it; returns the alert as it stands. Nothing is kept or sent
    /// when the index does not hold the alert open.
    pub fn annotate(
        &self,
        tenant_id: &Id,
        alert_id: &Id,
        annotation: AlertAnnotation,
        now: i64,
    ) -> Result<AlertView, NotAnnotated> {
        // Under the lock the writer numbers and sends changes with: this update follows every
        // change sent before it, and the alert's state is read after the last of them.
        let history = self.history.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let held = || {
            let snapshot = self.current.load();
            snapshot.tenant(tenant_id).and_then(|view| view.alerts.get(alert_id)).cloned()
        };
        match held() {
            None => return Err(NotAnnotated::NotHeld),
            Some(alert) if alert.state == AlertState::Resolved => return Err(NotAnnotated::Resolved),
            Some(_) => {}
        }
        self.annotations.set(tenant_id, alert_id, annotation.clone());
        // Checked again after setting: the writer forgets an alert's annotation after it drops
        // the alert, so one of the two always sees the other.
        let Some(alert) = held() else {
            self.annotations.forget(tenant_id, std::slice::from_ref(alert_id));
            return Err(NotAnnotated::NotHeld);
        };
        let change = ReorderAlert {
            alert_id: alert.alert_id.clone(),
            tenant_id: tenant_id.clone(),
            warehouse_id: alert.warehouse_id.clone(),
            sku: alert.sku.clone(),
            status: ReorderAlertStatus::Updated,
            projected: alert.projected,
            reorder_point: alert.reorder_point,
            suggested_quantity: alert.suggested_quantity,
            changed_at: now,
        };
        let sequence = history.events.back().map_or(history.floor, |last| last.sequence);
        let _ = self.alerts.send(Arc::new(AlertEvent { sequence, alert: change, annotation: Some(annotation) }));
        Ok(alert)
    }

    /// Keeps annotations as stored (a restarted API), for the alerts the index holds.
    pub fn restore_annotations(&self, stored: impl IntoIterator<Item = (Id, Id, AlertAnnotation)>) {
        let held = |tenant_id: &Id, alert_id: &Id| {
            self.current.load().tenant(tenant_id).is_some_and(|view| view.alerts.contains_key(alert_id))
        };
        for (tenant_id, alert_id, annotation) in stored {
            if held(&tenant_id, &alert_id) {
                self.annotations.set(&tenant_id, &alert_id, annotation);
                // As in `annotate`: an alert the writer dropped meanwhile keeps nothing.
                if !held(&tenant_id, &alert_id) {
                    self.annotations.forget(&tenant_id, std::slice::from_ref(&alert_id));
                }
            }
        }
    }
}

/// Why an annotation was not made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotAnnotated {
    /// The index does not hold the tenant's alert (never seen, another tenant's, or expired).
    NotHeld,
    /// The alert is resolved: a new crossing will be a new alert.
    Resolved,
}

/// The write side of the serving index: a [`Sink`] that turns each batch into a new snapshot.
pub struct IndexWriter {
    current: Arc<ArcSwap<Snapshot>>,
    alerts: broadcast::Sender<Arc<AlertEvent>>,
    as_of: watch::Sender<Time>,
    history: Arc<Mutex<History>>,
    annotations: Arc<Annotations>,
    feeds: Arc<Feeds>,
    resolved_alert_retention_ms: Time,
    /// Which tenants this index serves; `None`: all.
    serves: Option<TenantFilter>,
}

/// Whether an index serves a tenant.
pub type TenantFilter = Box<dyn Fn(&str) -> bool + Send>;

impl IndexWriter {
    /// Keeps only the tenants `serves` accepts (in a cluster, those this process answers for):
    /// drops the others from the index as it starts, and skips their changes from then on. Alert
    /// changes keep their numbers.
    pub fn serving_only(mut self, serves: TenantFilter) -> IndexWriter {
        let mut snapshot = Snapshot::clone(&self.current.load());
        snapshot.tenants = snapshot.tenants.into_iter().filter(|(tenant_id, _)| serves(tenant_id)).collect();
        self.current.store(Arc::new(snapshot));
        let mut history = self.history.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        history.events.retain(|event| serves(&event.alert.tenant_id));
        drop(history);
        self.serves = Some(serves);
        self
    }

    fn serves(&self, tenant_id: &str) -> bool {
        self.serves.as_ref().is_none_or(|serves| serves(tenant_id))
    }

    fn tenant<'a>(tenants: &'a mut OrdMap<Id, Arc<TenantView>>, tenant_id: &Id) -> &'a mut TenantView {
        Arc::make_mut(tenants.entry(tenant_id.clone()).or_default())
    }
}

impl Sink for IndexWriter {
    fn name(&self) -> &'static str {
        "serving-index"
    }

    fn apply(&mut self, batch: &ChangeBatch) -> Result<(), SinkError> {
        // Every output named, so a new one is a compile error here until the index decides on it.
        // (Refused records reach sinks as dead letters: the index keeps none.)
        let Outputs {
            stock,
            settlements,
            alerts,
            policies,
            orders: _,
            inventory_ids: _,
            payment_ids: _,
            // Lineage is read from Postgres by the history routes.
            stock_history: _,
            settlement_history: _,
            refused: _,
        } = &batch.changes;
        let previous = self.current.load();
        let mut tenants = previous.tenants.clone();
        let as_of = batch.upper;
        let mut stock_changes = HashMap::<&Id, Vec<StockChange>>::new();
        for (position, levels) in stock.iter().filter(|(position, _)| self.serves(&position.tenant_id)) {
            let tenant = Self::tenant(&mut tenants, &position.tenant_id);
            let key = (position.warehouse_id.clone(), position.sku.clone());
            match levels {
                Some(levels) => tenant.stock.insert(key, *levels),
                None => tenant.stock.remove(&key),
            };
            stock_changes.entry(&position.tenant_id).or_default().push(StockChange {
                warehouse_id: position.warehouse_id.clone(),
                sku: position.sku.clone(),
                levels: levels.unwrap_or_default(),
                as_of,
            });
        }
        let mut settlement_changes = HashMap::<&Id, Vec<SettlementChange>>::new();
        for (key, totals) in settlements.iter().filter(|(key, _)| self.serves(&key.tenant_id)) {
            let tenant = Self::tenant(&mut tenants, &key.tenant_id);
            let row = (key.settlement_date, key.currency);
            match totals {
                Some(totals) => tenant.settlements.insert(row, *totals),
                None => tenant.settlements.remove(&row),
            };
            settlement_changes.entry(&key.tenant_id).or_default().push(SettlementChange {
                date: key.settlement_date,
                currency: key.currency,
                totals: totals.unwrap_or_default(),
                as_of,
            });
        }
        for (position, policy) in policies.iter().filter(|(position, _)| self.serves(&position.tenant_id)) {
            let tenant = Self::tenant(&mut tenants, &position.tenant_id);
            let key = (position.warehouse_id.clone(), position.sku.clone());
            match policy {
                Some(policy) => tenant.policies.insert(key, PolicyTerms::from(policy)),
                None => tenant.policies.remove(&key),
            };
        }
        for alert in alerts.iter().filter(|alert| self.serves(&alert.tenant_id)) {
            Self::tenant(&mut tenants, &alert.tenant_id).apply_alert(alert);
        }
        let horizon = batch.upper.saturating_sub(self.resolved_alert_retention_ms);
        let mut expired = Vec::new();
        if !alerts.is_empty() || batch.upper / 60_000 != batch.lower / 60_000 {
            // Expire on change, and at least once a minute.
            let expiring = tenants
                .iter()
                .filter(|(_, tenant)| tenant.has_resolved_before(horizon))
                .map(|(tenant_id, _)| tenant_id.clone())
                .collect::<Vec<_>>();
            for tenant_id in expiring {
                let gone = Self::tenant(&mut tenants, &tenant_id).expire_resolved(horizon);
                expired.push((tenant_id, gone));
            }
        }
        let mut progress = previous.progress.clone();
        progress.merge(&batch.progress);
        if let Some(oldest) = batch.oldest_record {
            // Record in → visible to the API: the batch's oldest record, now queryable.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_millis() as Time);
            metrics::histogram!("flowmart_freshness_seconds").record(now.saturating_sub(oldest) as f64 / 1000.0);
        }
        let alerts_published = batch.alerts_before + alerts.len() as u64;
        self.current.store(Arc::new(Snapshot { as_of: batch.upper, tenants, progress, alerts_published }));
        self.as_of.send_replace(batch.upper);
        for (tenant_id, alert_ids) in expired {
            self.annotations.forget(&tenant_id, &alert_ids);
        }
        // After the snapshot: a subscriber that reads the snapshot after subscribing finds every
        // change numbered before its subscription there.
        for (tenant_id, changes) in stock_changes {
            self.feeds.stock.publish(tenant_id, changes);
        }
        for (tenant_id, changes) in settlement_changes {
            self.feeds.settlements.publish(tenant_id, changes);
        }
        let mut history = self.history.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (sequence, alert) in batch.numbered_alerts().filter(|(_, alert)| self.serves(&alert.tenant_id)) {
            let event = Arc::new(AlertEvent { sequence, alert: alert.clone(), annotation: None });
            if history.events.len() == ALERT_HISTORY
                && let Some(evicted) = history.events.pop_front()
            {
                history.floor = evicted.sequence;
            }
            history.events.push_back(Arc::clone(&event));
            // No subscriber is not an error: live delivery is best effort, the index is the record.
            let _ = self.alerts.send(event);
        }
        Ok(())
    }
}
