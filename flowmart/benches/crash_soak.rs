//! The crash test, longer: `cargo bench -p flowmart --bench crash_soak -- --kills 100 [--seed 7] [--processes 2]`
//! kills `flowmart run` with SIGKILL that many times at random moments while a seeded workload is
//! produced, then checks the tables, the API and the alert topic against the reference model
//! (see `tests/crash/mod.rs`). `-- --storm 120 [--seed 7] [--processes 1]` runs the storm
//! instead: that many faults of every kind (`tests/crash/storm.rs`), with `as_of` watched
//! throughout; `--processes 1` keeps every run to one process (no cluster runs). Needs what the
//! tests need: `tansu` on the PATH, a Postgres server's binaries.

#[path = "../tests/crash/mod.rs"]
mod crash;

use std::time::Instant;

fn flag(name: &str, default: u64) -> u64 {
    let arguments = std::env::args().collect::<Vec<_>>();
    match arguments.iter().position(|argument| argument == name) {
        Some(at) => arguments
            .get(at + 1)
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("{name} takes a number")),
        None => default,
    }
}

fn main() {
    let kills = flag("--kills", 50) as usize;
    let seed = flag("--seed", 7);
    let storm = flag("--storm", 0) as usize;
    // The storm has cluster runs among its runs unless told one process.
    let processes = flag("--processes", if storm > 0 { 2 } else { 1 }) as usize;
    let started = Instant::now();
    let outcome = match storm {
        0 => crash::crash_and_recover(crash::Faults { kills, postgres_outage: None, seed, processes }),
        faults => crash::storm::storm(seed, faults, processes > 1),
    };
    println!("crash soak passed in {:.0} s: {}", started.elapsed().as_secs_f64(), outcome.summary);
}
