//! Alert changes for the live sessions: each change encoded once, gathered per tenant for
//! [`BATCH_EVERY`], and handed to every session of the tenant as one shared `Bytes`.
//!
//! One task reads the index's alert changes (all tenants) and appends each change's event to its
//! tenant's pending batch; every [`BATCH_EVERY`] it sends each tenant's batch on the tenant's
//! channel. A session so wakes, and writes, once per batch with every change in it, and wakes only
//! for its own tenant: what a change costs per session is a reference to bytes made once, not an
//! encoding, a wake and a write of its own (at 60 changes a second per tenant, a write per change
//! to each of tens of thousands of sessions is more than two cores do). The price is up to
//! [`BATCH_EVERY`] of latency, more while the sessions' runtime is busy (the task runs there).
//!
//! Each tenant's channel keeps its last [`SESSION_BUFFER`] batches for all its sessions together
//! (a ring, not a queue per session): a session that falls further behind is told `lagged`, then
//! `reset`, and goes on from the newest batch — a slow reader never holds more. Only tenants with
//! a session have a channel.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use flowmart_schemas::Id;
use flowmart_serving::{AlertEvent, ServingIndex};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use super::body::frame;

/// Why a session that missed changes must re-read the list.
const RESET: &str = "changes were missed; re-read /v1/reorder-alerts";

/// The change as its event: `reorder-alert`, with its [`number`] as the id.
pub(crate) fn encode(event: &AlertEvent) -> Bytes {
    frame("reorder-alert", number(event), &event.to_json())
}

/// The change's number, a session's `Last-Event-ID`: none for an annotation.
fn number(event: &AlertEvent) -> Option<u64> {
    event.annotation.is_none().then_some(event.sequence)
}

/// `lagged`: how many changes the session missed (of all tenants, when the fan-out fell behind).
pub(crate) fn lagged(missed: u64) -> Bytes {
    frame("lagged", None, &format!("{{\"missed\":{missed}}}"))
}

/// `reset`, saying `why`.
pub(crate) fn reset(why: &str) -> Bytes {
    frame("reset", None, &serde_json::json!({ "error": why }).to_string())
}

/// How long changes gather before they are sent to the sessions.
pub(crate) const BATCH_EVERY: Duration = Duration::from_millis(25);

/// How many batches a session may fall behind its tenant's before it is told it lagged (at
/// [`BATCH_EVERY`], 512 batches are about 13 s).
pub(crate) const SESSION_BUFFER: usize = 512;

/// A tenant's alert changes gathered over [`BATCH_EVERY`], as every session of the tenant sends
/// them.
#[derive(Debug)]
pub(crate) struct AlertBatch {
    /// Each change's event (`reorder-alert`, its number as the id unless an annotation), one
    /// after another.
    pub(crate) bytes: Bytes,
    /// Each change's number (`None` for an annotation, which has none) and where its event ends
    /// in `bytes`.
    pub(crate) changes: Vec<(Option<u64>, usize)>,
}

impl AlertBatch {
    /// The events of the changes numbered after `after`, and of the annotations (a session that
    /// resumed got those up to `after` already).
    pub(crate) fn after(&self, after: u64) -> Bytes {
        if self.changes.iter().all(|(sequence, _)| sequence.is_none_or(|sequence| sequence > after)) {
            return self.bytes.clone();
        }
        let mut kept = BytesMut::new();
        let mut start = 0;
        for (sequence, end) in &self.changes {
            if sequence.is_none_or(|sequence| sequence > after) {
                kept.extend_from_slice(&self.bytes[start..*end]);
            }
            start = *end;
        }
        kept.freeze()
    }
}

/// A tenant's channel, and how many of its changes have been sent on it.
struct TenantChannel {
    batches: broadcast::Sender<Arc<AlertBatch>>,
    sent: Arc<AtomicU64>,
}

type Tenants = Arc<Mutex<HashMap<Id, TenantChannel>>>;

/// Every tenant's alert changes, for its sessions.
pub(crate) struct AlertFanOut {
    tenants: Tenants,
}

/// A session's subscription to its tenant's batches.
pub(crate) struct Subscription {
    /// The batches from now on.
    pub(crate) batches: broadcast::Receiver<Arc<AlertBatch>>,
    /// The channel, to subscribe to again from the newest batch after falling behind.
    pub(crate) channel: broadcast::Sender<Arc<AlertBatch>>,
    /// How many of the tenant's changes have been sent so far (a session that lagged is told how
    /// many it missed).
    pub(crate) sent: Arc<AtomicU64>,
    /// How many had been sent when the session subscribed.
    pub(crate) seen: u64,
}

impl AlertFanOut {
    /// Starts reading the index's alert changes, on the current runtime (the sessions'): while
    /// it is busy writing one batch to every session, the next gathers longer, so batches grow
    /// with the load rather than the wakes (a thread of its own, sending every 25 ms whatever
    /// the load, measured worse: BENCHMARKS.md "Live sessions").
    pub(crate) fn start(index: &ServingIndex) -> AlertFanOut {
        let tenants = Tenants::default();
        tokio::spawn(forward(index.subscribe_alerts(), Arc::clone(&tenants)));
        AlertFanOut { tenants }
    }

    /// The tenant's batches from now on.
    pub(crate) fn subscribe(&self, tenant_id: &Id) -> Subscription {
        let mut tenants = lock(&self.tenants);
        let tenant = tenants
            .entry(tenant_id.clone())
            .or_insert_with(|| TenantChannel { batches: broadcast::channel(SESSION_BUFFER).0, sent: Arc::default() });
        // Subscribed under the lock: a channel is dropped only once it has no receiver.
        let batches = tenant.batches.subscribe();
        let seen = tenant.sent.load(Ordering::Relaxed);
        Subscription { batches, channel: tenant.batches.clone(), sent: Arc::clone(&tenant.sent), seen }
    }
}

fn lock(tenants: &Tenants) -> MutexGuard<'_, HashMap<Id, TenantChannel>> {
    tenants.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A tenant's changes not yet sent.
#[derive(Default)]
struct Pending {
    bytes: BytesMut,
    changes: Vec<(Option<u64>, usize)>,
}

/// Gathers each tenant's changes, encoded once, and sends them every [`BATCH_EVERY`], until the
/// index is gone.
async fn forward(mut changes: broadcast::Receiver<Arc<AlertEvent>>, tenants: Tenants) {
    let mut pending = HashMap::<Id, Pending>::new();
    let mut ticker = tokio::time::interval(BATCH_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            change = changes.recv() => match change {
                Ok(event) => {
                    if !lock(&tenants).contains_key(&event.alert.tenant_id) {
                        continue;
                    }
                    let batch = pending.entry(event.alert.tenant_id.clone()).or_default();
                    batch.bytes.extend_from_slice(&encode(&event));
                    batch.changes.push((number(&event), batch.bytes.len()));
                }
                // The sessions missed changes while this task fell behind the index: each is told
                // (`lagged`, then `reset`), as if it had fallen behind itself.
                Err(RecvError::Lagged(missed)) => {
                    for (tenant_id, tenant) in lock(&tenants).iter() {
                        let sessions = tenant.batches.receiver_count() as u64;
                        metrics::counter!("flowmart_api_stream_resets_total", "stream" => "reorder-alert").increment(sessions);
                        let batch = pending.entry(tenant_id.clone()).or_default();
                        batch.bytes.extend_from_slice(&lagged(missed));
                        batch.bytes.extend_from_slice(&reset(RESET));
                        batch.changes.push((None, batch.bytes.len()));
                    }
                }
                Err(RecvError::Closed) => return,
            },
            _ = ticker.tick() => send(&mut pending, &tenants),
        }
    }
}

/// Sends every tenant's pending changes to its sessions; forgets tenants without a session.
fn send(pending: &mut HashMap<Id, Pending>, tenants: &Tenants) {
    let mut ready = Vec::with_capacity(pending.len());
    {
        let mut tenants = lock(tenants);
        tenants.retain(|_, tenant| tenant.batches.receiver_count() > 0);
        for (tenant_id, batch) in pending.drain() {
            let Some(tenant) = tenants.get(&tenant_id) else { continue };
            let batch = AlertBatch { bytes: batch.bytes.freeze(), changes: batch.changes };
            ready.push((tenant.batches.clone(), Arc::clone(&tenant.sent), batch));
        }
    }
    // Sent outside the lock: waking thousands of sessions must not hold up a new one subscribing.
    // Counted once sent, so a session subscribing meanwhile never counts a batch it also receives.
    for (channel, sent, batch) in ready {
        let changes = batch.changes.len() as u64;
        // A session that went away in the meantime is not an error.
        let _ = channel.send(Arc::new(batch));
        sent.fetch_add(changes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_after_a_number_keeps_the_later_changes_and_every_annotation() {
        let events = ["e7\n\n", "a\n\n", "e8\n\n", "e9\n\n"];
        let bytes = Bytes::from(events.concat());
        let mut end = 0;
        let numbers = [Some(7), None, Some(8), Some(9)];
        let changes = numbers
            .iter()
            .zip(events)
            .map(|(number, event)| {
                end += event.len();
                (*number, end)
            })
            .collect();
        let batch = AlertBatch { bytes, changes };
        assert_eq!(batch.after(6), batch.bytes, "all of it: the same bytes");
        assert_eq!(batch.after(7), "a\n\ne8\n\ne9\n\n");
        assert_eq!(batch.after(9), "a\n\n");
    }
}
