//! Crash recovery end to end, against real Tansu and a Postgres server of the test's own: SIGKILL
//! at random moments, a Postgres outage, and a seeded storm of 24 mixed faults (`crash/storm.rs`)
//! lose nothing, publish no alert change twice and never show a reader an older `as_of`.
//! `cargo bench -p flowmart --bench crash_soak -- --kills N` (or `--storm N`) runs them longer.

mod crash;

use std::time::Duration;

use crash::storm::storm;
use crash::{Faults, crash_and_recover};

#[test]
fn sigkill_at_random_moments_ten_times_loses_nothing_and_repeats_no_alert() {
    let outcome = crash_and_recover(Faults { kills: 10, postgres_outage: None, seed: 11, processes: 1 });
    eprintln!("{}", outcome.summary);
}

#[test]
fn postgres_stopped_mid_run_and_started_again_loses_nothing() {
    let outcome =
        crash_and_recover(Faults { kills: 0, postgres_outage: Some(Duration::from_secs(3)), seed: 12, processes: 1 });
    eprintln!("{}", outcome.summary);
}

/// The storm's seed: `FLOWMART_STORM_SEED` replays another.
fn storm_seed() -> u64 {
    std::env::var("FLOWMART_STORM_SEED").map_or(31, |seed| seed.parse().expect("FLOWMART_STORM_SEED is a number"))
}

#[test]
fn a_seeded_storm_of_twenty_four_faults_loses_nothing_repeats_no_alert_and_never_turns_as_of_back() {
    // The storm prints its seed, every fault and the outcome.
    storm(storm_seed(), 24, true);
}
