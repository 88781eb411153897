//! Scale out (README "Scale out"): `flowmart run` as a cluster of 2 processes × 2 workers on
//! localhost, against real Tansu and a Postgres server of the test's own, consumes a seeded
//! workload while one of its processes is killed with SIGKILL (the other notices and stops with a
//! clear message) and the cluster is restarted. At the end the tables, every process's API and the
//! alert topic equal the reference model, each alert change published exactly once (the crash
//! harness asserts it) — and equal what a single process gives for the same seeded workload. And a
//! process that does not write the results never shows an `as_of` that the cluster, restarted
//! after losing process 0, goes back from; and SIGTERM during a Postgres outage stops every
//! process.

mod crash;

use crash::{Faults, crash_and_recover, served_ahead, stop_during_outage};

#[test]
fn a_two_process_cluster_gives_the_single_process_results() {
    let single = crash_and_recover(Faults { kills: 0, postgres_outage: None, seed: 21, processes: 1 });
    let cluster = crash_and_recover(Faults { kills: 0, postgres_outage: None, seed: 21, processes: 2 });
    eprintln!("single process: {}\ncluster: {}", single.summary, cluster.summary);
    assert!(single.results.answers.len() > 1, "a multi-tenant workload");
    assert_eq!(cluster.results, single.results, "tables and API answers of the cluster and of one process");
}

#[test]
fn a_two_process_cluster_losing_a_process_recovers_the_single_process_results() {
    let single = crash_and_recover(Faults { kills: 0, postgres_outage: None, seed: 22, processes: 1 });
    let cluster = crash_and_recover(Faults { kills: 3, postgres_outage: None, seed: 22, processes: 2 });
    eprintln!("single process: {}\ncluster: {}", single.summary, cluster.summary);
    assert_eq!(cluster.results, single.results, "tables and API answers after losing processes");
}

#[test]
fn a_process_that_does_not_write_never_shows_an_as_of_the_restarted_cluster_goes_back_from() {
    let outcome = served_ahead::kill_the_writer_while_another_process_serves_ahead(23, 3);
    eprintln!("{}", outcome.summary);
}

#[test]
fn sigterm_to_a_cluster_during_a_postgres_outage_stops_every_process_and_loses_nothing() {
    let outcome = stop_during_outage::sigterm_to_a_cluster_during_a_postgres_outage(24);
    eprintln!("{}", outcome.summary);
}
