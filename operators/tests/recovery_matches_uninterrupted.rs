//! A pipeline stopped at any frontier and resumed from the state a sink stores behaves exactly
//! as one that never stopped: from the stop on, both output the same updates — stock, settlement
//! totals, every alert change with its id, and the records refused for an aggregate out of range
//! — over random event streams, with and without retention expiring state across the stop, and
//! with aggregates stored at the edge of the range.

mod support;

use std::collections::BTreeMap;

use flowmart_schemas::{OpenAlert, Outputs, PositionKey, ReorderAlertStatus, ReorderCheck, Retention, Time};
use proptest::prelude::*;
use support::{Arrival, Captured, Stored, accumulate, alert_log, arrivals, extreme_arrivals, run_dataflow_from};

/// What a sink holds after applying every output update before `as_of` (the state
/// `flowmart_postgres` stores and reads back): current values, when each order last
/// changed, alerts still open, and the event ids counted with when they were.
fn stored_state(as_of: Time, captured: &Captured) -> Stored {
    // Each order's latest addition (the upsert adds one per change; a forgotten order's old
    // value is never retracted).
    let mut orders = BTreeMap::new();
    for ((key, state), time, diff) in &captured.orders {
        if *diff > 0 && orders.get(key).is_none_or(|(_, latest)| latest < time) {
            orders.insert(key.clone(), (state.clone(), *time));
        }
    }
    let mut open = BTreeMap::new();
    for alert in alert_log(captured.alerts.iter().map(|(alert, _, _)| alert.clone()).collect()) {
        let position = PositionKey::new(alert.tenant_id.clone(), alert.warehouse_id.clone(), alert.sku.clone());
        match alert.status {
            ReorderAlertStatus::Resolved => {
                open.remove(&position);
            }
            ReorderAlertStatus::Opened | ReorderAlertStatus::Updated => {
                let last = ReorderCheck {
                    projected: alert.projected,
                    reorder_point: alert.reorder_point,
                    suggested_quantity: alert.suggested_quantity,
                };
                open.insert(position, OpenAlert { alert_id: alert.alert_id.clone(), last });
            }
        }
    }
    let state = Outputs {
        stock: current(&captured.stock),
        settlements: current(&captured.settlements),
        alerts: open.into_iter().collect(),
        orders: orders.into_iter().collect(),
        policies: current(&captured.policies),
        inventory_ids: captured.inventory_ids.iter().map(|(digest, time, _)| (*digest, *time)).collect(),
        payment_ids: captured.payment_ids.iter().map(|(digest, time, _)| (*digest, *time)).collect(),
        // Logs of what records did: not state.
        stock_history: Vec::new(),
        settlement_history: Vec::new(),
        // Dead-lettered, never stored.
        refused: Vec::new(),
    };
    Stored { as_of, state }
}

/// The collection the updates add up to.
fn current<D: Ord + Clone>(updates: &[(D, Time, isize)]) -> Vec<D> {
    accumulate(updates).into_iter().map(|(data, _)| data).collect()
}

/// The updates at or after `from`, consolidated per time.
fn from<D: Ord + Clone>(updates: &[(D, Time, isize)], from: Time) -> Vec<(D, Time, isize)> {
    let mut later = updates
        .iter()
        .filter(|(_, time, _)| *time >= from)
        .map(|(data, time, diff)| ((data.clone(), *time), *diff))
        .collect::<Vec<_>>();
    differential_dataflow::consolidation::consolidate(&mut later);
    later.into_iter().map(|((data, time), diff)| (data, time, diff)).collect()
}

fn resumed_equals_uninterrupted(
    workers: usize,
    retention: Retention,
    arrivals: &[Arrival],
    stop: Time,
) -> Result<(), TestCaseError> {
    let (before, after): (Vec<_>, Vec<_>) = arrivals.iter().cloned().partition(|arrival| arrival.time < stop);
    let uninterrupted = run_dataflow_from(workers, retention, &Stored::default(), arrivals);
    let first_run = run_dataflow_from(workers, retention, &Stored::default(), &before);
    let state = stored_state(stop, &first_run);
    let resumed = run_dataflow_from(workers, retention, &state, &after);

    prop_assert_eq!(from(&resumed.stock, stop), from(&uninterrupted.stock, stop), "stock updates after the stop");
    prop_assert_eq!(from(&resumed.settlements, stop), from(&uninterrupted.settlements, stop), "settlement updates");
    prop_assert_eq!(from(&resumed.orders, stop), from(&uninterrupted.orders, stop), "order updates");
    prop_assert_eq!(from(&resumed.policies, stop), from(&uninterrupted.policies, stop), "policy updates");
    prop_assert_eq!(from(&resumed.alerts, stop), from(&uninterrupted.alerts, stop), "alert changes, ids included");
    prop_assert_eq!(from(&resumed.refused, stop), from(&uninterrupted.refused, stop), "refused records");
    // And nothing before the stop: what the recovered state itself produced is at `stop - 1`.
    prop_assert!(resumed.alerts.iter().all(|(_, time, _)| *time >= stop), "a recovered alert raised no change");
    Ok(())
}

/// Retention short enough (in the test's pipeline times 1..=12) to expire ids and orders across
/// the stop.
const SHORT: Retention = Retention { event_ids_ms: Some(3), orders_ms: Some(4), history_ms: None };

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn one_worker_resumes_as_if_it_never_stopped(arrivals in arrivals(60, 3), stop in 2u64..9) {
        resumed_equals_uninterrupted(1, Retention::default(), &arrivals, stop)?;
    }

    #[test]
    fn three_workers_resume_as_if_they_never_stopped(arrivals in arrivals(60, 4), stop in 2u64..9) {
        resumed_equals_uninterrupted(3, Retention::default(), &arrivals, stop)?;
    }

    #[test]
    fn state_expires_across_a_stop_as_it_would_have(arrivals in arrivals(60, 3), stop in 2u64..9) {
        resumed_equals_uninterrupted(2, SHORT, &arrivals, stop)?;
    }
}

proptest! {
    // Each case runs a ramp of ~9,200 records three times: few cases.
    #![proptest_config(ProptestConfig { cases: 6, max_shrink_time: 30_000, ..ProptestConfig::default() })]

    #[test]
    fn a_pipeline_resumed_at_the_edge_of_the_range_refuses_what_it_would_have(
        arrivals in extreme_arrivals(40, 3),
        stop in 2u64..9,
    ) {
        resumed_equals_uninterrupted(2, Retention::default(), &arrivals, stop)?;
    }
}
