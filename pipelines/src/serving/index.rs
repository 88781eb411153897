use std::sync::Arc;

use arc_swap::ArcSwap;
use flowmart_operators::Time;
use flowmart_operators::settlement_totals::{SettlementKey, SettlementTotals};
use flowmart_operators::stock_positions::StockLevels;
use flowmart_schemas::{Id, PositionKey, ReorderAlert};
use imbl::OrdMap;
use tokio::sync::broadcast;

use super::{AlertView, TenantView};
use crate::{ChangeBatch, Sink, SinkError, SourceProgress};

/// The index as of one frontier.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Pipeline time the snapshot is complete up to: every input record read before it counts.
    pub as_of: Time,
    /// Every tenant seen, by id.
    pub tenants: OrdMap<Id, Arc<TenantView>>,
    /// The next offset per input partition that the snapshot covers.
    pub progress: SourceProgress,
}

impl Snapshot {
    /// A snapshot of stored results: stock levels, settlement totals and alerts (with their
    /// tenant), complete up to `as_of` and covering `progress`.
    pub fn restored(
        as_of: Time,
        progress: SourceProgress,
        stock: impl IntoIterator<Item = (PositionKey, StockLevels)>,
        settlements: impl IntoIterator<Item = (SettlementKey, SettlementTotals)>,
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
        for (tenant_id, alert) in alerts {
            IndexWriter::tenant(&mut tenants, &tenant_id).restore_alert(alert);
        }
        Snapshot { as_of, tenants, progress }
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
    /// goes on across restarts of a pipeline that recovers from stored results.
    pub sequence: u64,
    /// The change.
    pub alert: ReorderAlert,
}

/// The read side of the serving index: cheap to clone, never blocks.
#[derive(Clone)]
pub struct ServingIndex {
    current: Arc<ArcSwap<Snapshot>>,
    alerts: broadcast::Sender<Arc<AlertEvent>>,
}

impl ServingIndex {
    /// An empty index and its single writer, which keeps resolved alerts for
    /// `resolved_alert_retention_ms` of pipeline time.
    pub fn new(resolved_alert_retention_ms: Time) -> (ServingIndex, IndexWriter) {
        ServingIndex::starting_from(Snapshot::default(), resolved_alert_retention_ms)
    }

    /// An index holding `snapshot` (e.g. [`Snapshot::restored`]) until its writer applies the
    /// batches after it.
    pub fn starting_from(snapshot: Snapshot, resolved_alert_retention_ms: Time) -> (ServingIndex, IndexWriter) {
        let current = Arc::new(ArcSwap::from_pointee(snapshot));
        let (alerts, _) = broadcast::channel(16_384);
        let index = ServingIndex { current: Arc::clone(&current), alerts: alerts.clone() };
        (index, IndexWriter { current, alerts, resolved_alert_retention_ms })
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Every alert change published from now on, all tenants (subscribers filter). A subscriber
    /// that falls more than 16,384 changes behind is told how many it missed.
    pub fn subscribe_alerts(&self) -> broadcast::Receiver<Arc<AlertEvent>> {
        self.alerts.subscribe()
    }
}

/// The write side of the serving index: a [`Sink`] that turns each batch into a new snapshot.
pub struct IndexWriter {
    current: Arc<ArcSwap<Snapshot>>,
    alerts: broadcast::Sender<Arc<AlertEvent>>,
    resolved_alert_retention_ms: Time,
}

impl IndexWriter {
    fn tenant<'a>(tenants: &'a mut OrdMap<Id, Arc<TenantView>>, tenant_id: &Id) -> &'a mut TenantView {
        Arc::make_mut(tenants.entry(tenant_id.clone()).or_default())
    }
}

impl Sink for IndexWriter {
    fn name(&self) -> &'static str {
        "serving-index"
    }

    fn apply(&mut self, batch: &ChangeBatch) -> Result<(), SinkError> {
        let previous = self.current.load();
        let mut tenants = previous.tenants.clone();
        for (position, levels) in &batch.stock {
            let tenant = Self::tenant(&mut tenants, &position.tenant_id);
            let key = (position.warehouse_id.clone(), position.sku.clone());
            match levels {
                Some(levels) => tenant.stock.insert(key, *levels),
                None => tenant.stock.remove(&key),
            };
        }
        for (key, totals) in &batch.settlements {
            let tenant = Self::tenant(&mut tenants, &key.tenant_id);
            let key = (key.settlement_date, key.currency);
            match totals {
                Some(totals) => tenant.settlements.insert(key, *totals),
                None => tenant.settlements.remove(&key),
            };
        }
        for alert in &batch.alerts {
            Self::tenant(&mut tenants, &alert.tenant_id).apply_alert(alert);
        }
        let horizon = batch.upper.saturating_sub(self.resolved_alert_retention_ms);
        if !batch.alerts.is_empty() || batch.upper / 60_000 != batch.lower / 60_000 {
            // Expire on change, and at least once a minute.
            let expiring = tenants
                .iter()
                .filter(|(_, tenant)| tenant.has_resolved_before(horizon))
                .map(|(tenant_id, _)| tenant_id.clone())
                .collect::<Vec<_>>();
            for tenant_id in expiring {
                Self::tenant(&mut tenants, &tenant_id).expire_resolved(horizon);
            }
        }
        let mut progress = previous.progress.clone();
        progress.merge(&batch.progress);
        self.current.store(Arc::new(Snapshot { as_of: batch.upper, tenants, progress }));
        for (sequence, alert) in batch.numbered_alerts() {
            let event = AlertEvent { sequence, alert: alert.clone() };
            // No subscriber is not an error: live delivery is best effort, the index is the record.
            let _ = self.alerts.send(Arc::new(event));
        }
        Ok(())
    }
}
