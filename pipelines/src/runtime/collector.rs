//! The collector: merges every worker's sealed output into complete frontiers and applies them
//! to the sinks, in order, exactly once each.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use differential_dataflow::consolidation::consolidate;
use flowmart_operators::order_upsert::{OrderKey, OrderState};
use flowmart_operators::settlement_totals::{SettlementKey, SettlementTotals};
use flowmart_operators::stock_positions::StockLevels;
use flowmart_operators::{Diff, Time};
use flowmart_schemas::{Id, PositionKey, ReorderAlert, ReorderPolicy};

use super::status::PipelineStatus;
use super::worker::WorkerBatch;
use super::{Resume, retry_delay};
use crate::{ChangeBatch, DeadLetter, InputTopic, Sink, SourceProgress};

/// Updates received from workers and not yet part of a complete frontier.
#[derive(Default)]
struct Pending {
    stock: Vec<((PositionKey, StockLevels), Time, Diff)>,
    settlements: Vec<((SettlementKey, SettlementTotals), Time, Diff)>,
    alerts: Vec<(ReorderAlert, Time, Diff)>,
    orders: Vec<((OrderKey, OrderState), Time, Diff)>,
    policies: Vec<((PositionKey, ReorderPolicy), Time, Diff)>,
    dead_letters: Vec<(Time, DeadLetter)>,
    event_ids: Vec<(Time, InputTopic, Id)>,
}

pub(super) fn run(
    workers: usize,
    receiver: Receiver<WorkerBatch>,
    mut sinks: Vec<Box<dyn Sink>>,
    status: &PipelineStatus,
    shutdown: &AtomicBool,
    resume: &Resume,
) {
    let mut uppers = vec![0; workers];
    let mut worker_progress = vec![VecDeque::<(Time, SourceProgress)>::new(); workers];
    let mut current_progress = vec![SourceProgress::default(); workers];
    let mut pending = Pending::default();
    let mut published: Time = resume.state.as_of;
    let mut alerts_before = resume.alerts_before;
    for sink in &sinks {
        // Export the error count of every sink from the start, at zero.
        metrics::counter!("flowmart_sink_errors_total", "sink" => sink.name()).increment(0);
    }
    loop {
        let batch = match receiver.recv_timeout(Duration::from_millis(100)) {
            Ok(batch) => batch,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        uppers[batch.worker] = uppers[batch.worker].max(batch.upper);
        worker_progress[batch.worker].extend(batch.progress);
        pending.stock.extend(batch.stock);
        pending.settlements.extend(batch.settlements);
        pending.alerts.extend(batch.alerts);
        pending.orders.extend(batch.orders);
        pending.policies.extend(batch.policies);
        pending.dead_letters.extend(batch.dead_letters);
        pending.event_ids.extend(batch.event_ids);

        let frontier = uppers.iter().copied().min().unwrap_or(0);
        if frontier <= published {
            continue;
        }
        let mut progress = resume.progress.clone();
        let mut oldest_record = None::<Time>;
        for (queue, current) in worker_progress.iter_mut().zip(&mut current_progress) {
            // A worker reports progress at each time it read records at.
            while queue.front().is_some_and(|(time, _)| *time < frontier) {
                let (time, reached) = queue.pop_front().expect("front was just seen");
                oldest_record = Some(oldest_record.map_or(time, |oldest| oldest.min(time)));
                *current = reached;
            }
            progress.merge(current);
        }
        let change_batch = complete(&mut pending, published, frontier, progress, alerts_before, oldest_record);
        alerts_before += change_batch.alerts.len() as u64;
        for sink in &mut sinks {
            apply_until_done(sink.as_mut(), &change_batch, shutdown);
        }
        published = frontier;
        status.published(frontier);
        metrics::gauge!("flowmart_as_of_ms").set(frontier as f64);
    }
}

/// Applies a batch, retrying with backoff until the sink takes it (or shutdown is asked).
fn apply_until_done(sink: &mut dyn Sink, batch: &ChangeBatch, shutdown: &AtomicBool) {
    let mut attempt = 0;
    loop {
        let started = Instant::now();
        match sink.apply(batch) {
            Ok(()) => {
                metrics::histogram!("flowmart_sink_apply_seconds", "sink" => sink.name())
                    .record(started.elapsed().as_secs_f64());
                return;
            }
            Err(error) => {
                metrics::counter!("flowmart_sink_errors_total", "sink" => sink.name()).increment(1);
                tracing::warn!(sink = sink.name(), %error, attempt, "sink failed; retrying the same batch");
                if shutdown.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(retry_delay(attempt));
                attempt += 1;
            }
        }
    }
}

/// Takes the pending updates before `upper` and consolidates them into a [`ChangeBatch`].
fn complete(
    pending: &mut Pending,
    lower: Time,
    upper: Time,
    progress: SourceProgress,
    alerts_before: u64,
    oldest_record: Option<Time>,
) -> ChangeBatch {
    let mut alerts = take_before(&mut pending.alerts, upper);
    alerts.sort_by(|(a, a_time, _), (b, b_time, _)| {
        (a_time, &a.tenant_id, &a.warehouse_id, &a.sku).cmp(&(b_time, &b.tenant_id, &b.warehouse_id, &b.sku))
    });
    let (dead_letters, later) =
        std::mem::take(&mut pending.dead_letters).into_iter().partition(|(time, _)| *time < upper);
    pending.dead_letters = later;
    let (event_ids, later): (Vec<_>, Vec<_>) =
        std::mem::take(&mut pending.event_ids).into_iter().partition(|(time, _, _)| *time < upper);
    pending.event_ids = later;
    let mut ids_by_time = BTreeMap::<(InputTopic, Time), Vec<Id>>::new();
    for (time, topic, id) in event_ids {
        ids_by_time.entry((topic, time)).or_default().push(id);
    }
    // The upsert adds one value per order and time it changes (retracting the old one, unless
    // it had forgotten the order): the latest addition is the current state.
    let mut orders = HashMap::<OrderKey, (Time, OrderState)>::new();
    for ((key, state), time, diff) in take_before(&mut pending.orders, upper) {
        if diff > 0 && orders.get(&key).is_none_or(|(latest, _)| *latest < time) {
            orders.insert(key, (time, state));
        }
    }
    let mut orders = orders.into_iter().map(|(key, (time, state))| (key, state, time)).collect::<Vec<_>>();
    orders.sort_unstable_by(|(a, _, _), (b, _, _)| a.cmp(b));
    ChangeBatch {
        lower,
        upper,
        stock: latest_values(take_before(&mut pending.stock, upper)),
        settlements: latest_values(take_before(&mut pending.settlements, upper)),
        alerts: alerts.into_iter().map(|(alert, _, _)| alert).collect(),
        alerts_before,
        dead_letters: dead_letters.into_iter().map(|(_, dead_letter)| dead_letter).collect(),
        progress,
        oldest_record,
        orders,
        policies: latest_values(take_before(&mut pending.policies, upper)),
        event_ids: ids_by_time.into_iter().map(|((topic, time), ids)| (topic, time, ids)).collect(),
    }
}

fn take_before<D>(updates: &mut Vec<(D, Time, Diff)>, upper: Time) -> Vec<(D, Time, Diff)> {
    let (before, later) = std::mem::take(updates).into_iter().partition(|(_, time, _)| *time < upper);
    *updates = later;
    before
}

/// From updates of a collection with one value per key, the net change per key: its new value,
/// or `None` when it left the collection.
fn latest_values<K: Ord + Clone, V: Ord + Clone>(updates: Vec<((K, V), Time, Diff)>) -> Vec<(K, Option<V>)> {
    let mut net = updates.into_iter().map(|(data, _, diff)| (data, diff)).collect::<Vec<_>>();
    consolidate(&mut net);
    let mut changes: Vec<(K, Option<V>)> = Vec::new();
    for ((key, value), diff) in net {
        match changes.last_mut() {
            Some((last, current)) if *last == key => {
                if diff > 0 {
                    *current = Some(value);
                }
            }
            _ => changes.push((key, (diff > 0).then_some(value))),
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::latest_values;

    #[test]
    fn net_changes_keep_the_new_value_or_say_the_key_left() {
        let updates = vec![
            (("a", 1), 1, 1),
            (("a", 1), 2, -1),
            (("a", 2), 2, 1),
            (("b", 5), 1, -1),
            (("c", 7), 1, 1),
            (("c", 7), 3, -1),
            (("d", 1), 2, -1),
            (("d", 3), 2, 1),
            (("d", 3), 3, -1),
            (("d", 4), 3, 1),
        ];
        assert_eq!(latest_values(updates), vec![("a", Some(2)), ("b", None), ("d", Some(4))]);
    }
}
