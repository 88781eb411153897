//! A process of a cluster that does not write the results serves what process 0 has not stored
//! yet: its index is its only sink (`flowmart/src/run/sinks.rs`), so it publishes a frontier as
//! soon as its collector has it, while process 0 may still be committing it. If process 0 dies
//! then, the restarted cluster recovers an older frontier, and a reader of that process sees
//! `as_of` go back (and its alert stream and webhooks may have sent changes whose numbers the
//! recovered pipeline gives to other changes).

use std::time::{Duration, Instant};

use super::{ADMIN, Deployment, Outcome, Scene, kill_one, query, stored_offsets};

/// Runs a 2-process cluster and, `attempts` times, as soon as process 1 serves an `as_of`
/// Postgres does not hold (or after 5 s if it never does), kills process 0 with SIGKILL, restarts
/// the cluster and asserts process 1 answers with an `as_of` no older than it showed. Then the
/// harness's checks.
pub fn kill_the_writer_while_another_process_serves_ahead(seed: u64, attempts: usize) -> Outcome {
    let scene = Scene::start(seed, Duration::from_millis(150), 0.01);
    let cluster = Deployment::new(2);
    let database = scene.postgres.url();
    let served = |http: &super::support::Http| {
        let progress = http.json(&format!("{}/v1/admin/progress", cluster.api(1)), ADMIN);
        progress["as_of"].as_u64().unwrap_or(0)
    };
    let stored = || {
        query(&database, "SELECT as_of::text FROM pipeline_frontier").first().map_or(0, |row| row[0].parse().unwrap())
    };
    let mut running = scene.start_pipeline(&cluster);
    for attempt in 0..attempts {
        let deadline = Instant::now() + Duration::from_secs(5);
        let shown = loop {
            let (shown, held) = (served(&scene.http), stored());
            if shown > held || Instant::now() > deadline {
                break shown;
            }
        };
        kill_one(&mut running, 0);
        let held = stored();
        running = scene.start_pipeline(&cluster);
        let answered = served(&scene.http);
        assert!(
            answered >= shown,
            "attempt {attempt}: process 1 showed as_of {shown}; process 0 was killed with Postgres holding {held}, \
             and the restarted process 1 answers as_of {answered}"
        );
    }
    kill_one(&mut running, 0);
    let stored_before_last_run = stored_offsets(&database);
    let running = scene.start_pipeline(&cluster);
    scene.check(&cluster, running, stored_before_last_run)
}
