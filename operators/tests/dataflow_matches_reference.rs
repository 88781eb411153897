//! The whole dataflow, with one and with several workers, against the reference model over
//! random event streams: random arrival orders, retries, late order versions, policy deletes —
//! and streams that drive aggregates to the edge of the signed 64-bit range, where the dataflow
//! must refuse exactly the records the model refuses, naming the same aggregate.

mod support;

use proptest::prelude::*;
use support::{arrivals, dataflow_equals_model, extreme_arrivals};

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn one_worker_matches_the_reference_model(arrivals in arrivals(60, 3)) {
        let refused = dataflow_equals_model(1, &arrivals)?;
        prop_assert!(refused.is_empty(), "ordinary values never leave the range");
    }

    #[test]
    fn three_workers_match_the_reference_model(arrivals in arrivals(60, 4)) {
        dataflow_equals_model(3, &arrivals)?;
    }
}

proptest! {
    // Each case carries a ramp of ~9,200 records: few cases, each a different edge; and a failure
    // shrinks for half a minute at most.
    #![proptest_config(ProptestConfig { cases: 12, max_shrink_time: 30_000, ..ProptestConfig::default() })]

    #[test]
    fn one_worker_refuses_what_the_reference_model_refuses_at_the_edge_of_the_range(
        arrivals in extreme_arrivals(40, 3)
    ) {
        dataflow_equals_model(1, &arrivals)?;
    }

    #[test]
    fn three_workers_refuse_what_the_reference_model_refuses_at_the_edge_of_the_range(
        arrivals in extreme_arrivals(40, 4)
    ) {
        dataflow_equals_model(3, &arrivals)?;
    }
}
