//! Crash recovery end to end, against real Tansu and a Postgres server of the test's own: SIGKILL
//! at random moments, and a Postgres outage, lose nothing and publish no alert change twice.
//! `cargo bench -p flowmart --bench crash_soak -- --kills N` runs the same scenario longer.

mod crash;

use std::time::Duration;

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
