//! SIGTERM to a cluster while Postgres is down: process 0's collector cannot store the batch it
//! holds and stops there (status 1, naming the sinks the batch did not reach); every process of
//! the cluster must still exit by itself, and a restart must lose nothing.

use std::time::Duration;

use super::support::covered;
use super::{Deployment, Outcome, Scene, stored_offsets, terminate, wait_for};

/// Starts a 2-process cluster, stops Postgres once results are stored, SIGTERMs the last process
/// a second into the outage and waits (60 s at most) for every process to exit; then starts
/// Postgres and the cluster again for the harness's checks.
pub fn sigterm_to_a_cluster_during_a_postgres_outage(seed: u64) -> Outcome {
    let scene = Scene::start(seed, Duration::from_millis(150), 0.01);
    let cluster = Deployment::new(2);
    let mut running = scene.start_pipeline(&cluster);
    wait_for(&scene.http, &cluster.api(0), |progress| covered(progress) > 0, Duration::from_secs(60));
    scene.postgres.stop();
    std::thread::sleep(Duration::from_secs(1));
    let statuses = terminate(&mut running);
    scene.postgres.start_again();
    let stored_before_last_run = stored_offsets(&scene.postgres.url());
    let running = scene.start_pipeline(&cluster);
    let mut outcome = scene.check(&cluster, running, stored_before_last_run);
    outcome.summary = format!("SIGTERM during a Postgres outage, exit statuses {statuses}; {}", outcome.summary);
    outcome
}
