//! The whole dataflow, with one and with several workers, against the reference model over
//! random event streams: random arrival orders, retries, late order versions, policy deletes.

mod support;

use proptest::prelude::*;
use support::{Arrival, accumulate, alert_log, arrivals, run_dataflow, run_model};

fn dataflow_equals_model(workers: usize, arrivals: &[Arrival]) -> Result<(), TestCaseError> {
    let captured = run_dataflow(workers, arrivals);
    let (model, model_alerts) = run_model(arrivals);

    let stock = accumulate(&captured.stock);
    prop_assert!(stock.iter().all(|(_, diff)| *diff == 1), "one current value per position: {stock:?}");
    let stock = stock.into_iter().map(|(position_levels, _)| position_levels).collect::<Vec<_>>();
    prop_assert_eq!(stock, model.stock().into_iter().collect::<Vec<_>>());

    let settlements = accumulate(&captured.settlements);
    prop_assert!(settlements.iter().all(|(_, diff)| *diff == 1));
    let settlements = settlements.into_iter().map(|(key_totals, _)| key_totals).collect::<Vec<_>>();
    prop_assert_eq!(settlements, model.settlements().into_iter().collect::<Vec<_>>());

    prop_assert!(captured.alerts.iter().all(|(alert, time, diff)| *diff == 1 && alert.changed_at == *time as i64));
    let alerts = alert_log(captured.alerts.into_iter().map(|(alert, _, _)| alert).collect());
    prop_assert_eq!(alerts, alert_log(model_alerts));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn one_worker_matches_the_reference_model(arrivals in arrivals(60, 3)) {
        dataflow_equals_model(1, &arrivals)?;
    }

    #[test]
    fn three_workers_match_the_reference_model(arrivals in arrivals(60, 4)) {
        dataflow_equals_model(3, &arrivals)?;
    }
}
