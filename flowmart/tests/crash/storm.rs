//! The storm: one seeded run of the crash harness with many faults of every kind — SIGKILL at
//! random moments, SIGKILL of the writer just after it commits a batch with alert changes (aiming
//! between the Postgres commit and the alert send), SIGTERM during a Postgres outage, a Postgres
//! restart, a broker outage, and, in runs as a 2-process cluster, a process killed — then the
//! harness's checks against the reference model, while a reader watches that `as_of` never goes
//! back on any process.
//!
//! The broker outage is the proxy in front of Tansu going down (every connection cut, new ones
//! refused) and coming back: not a restart of the Tansu process, whose memory storage would lose
//! the topics (the installed Tansu has no storage engine that persists without a server of its
//! own). The workload's producer waits out an outage, so every input record is written once.

use std::time::{Duration, Instant};

use super::as_of_watch::AsOfWatch;
use super::support::Running;
use flowmart_testkit::consume;

use super::{Deployment, Moments, Outcome, Scene, kill_one, query, stored_offsets, terminate};

/// One step of a storm's plan.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// Start the pipeline as this many processes (a cluster when more than one).
    Start { processes: usize },
    /// SIGKILL process `process` (modulo the run's processes) this long into the run; the rest
    /// of a cluster stops by itself.
    Kill { process: usize, after: Duration },
    /// After `after`, SIGKILL the writer (process 0) as soon as `pipeline_frontier` shows it
    /// committed a batch with alert changes.
    KillAfterCommit { after: Duration },
    /// Stop Postgres; `after` that, SIGTERM the pipeline; start Postgres again.
    TermDuringPostgresOutage { after: Duration },
    /// Stop Postgres for `down` and start it again, the pipeline running on.
    PostgresRestart { down: Duration },
    /// Cut the broker off for `down`, the pipeline running on.
    BrokerOutage { down: Duration },
}

impl Step {
    /// Whether the step stops the running pipeline.
    fn ends_run(self) -> bool {
        matches!(self, Step::Kill { .. } | Step::KillAfterCommit { .. } | Step::TermDuringPostgresOutage { .. })
    }
}

/// The kinds of fault a storm deals; `ClusterKill` is a `Kill` in a run started as a cluster.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Kill,
    KillAfterCommit,
    TermDuringPostgresOutage,
    PostgresRestart,
    BrokerOutage,
    ClusterKill,
}

const KINDS: [Kind; 6] = [
    Kind::Kill,
    Kind::KillAfterCommit,
    Kind::TermDuringPostgresOutage,
    Kind::PostgresRestart,
    Kind::BrokerOutage,
    Kind::ClusterKill,
];

/// A storm's plan: its steps, then how many processes the last run (which catches up) has.
struct Plan {
    steps: Vec<Step>,
    last_run: usize,
}

/// Draws at least `faults` faults from `seed` (the same seed, the same plan): the kinds dealt
/// from decks of one of each kind, shuffled, so that every kind comes up in every deck's worth of
/// faults; without `clusters`, every run is one process (and no cluster kill is dealt). The plan
/// ends with the pipeline stopped.
fn plan(seed: u64, faults: usize, clusters: bool) -> Plan {
    let mut draw = Moments(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let dealt = KINDS.into_iter().filter(|kind| clusters || *kind != Kind::ClusterKill).collect::<Vec<_>>();
    let mut kinds = Vec::new();
    while kinds.len() < faults {
        let mut deck = dealt.clone();
        for at in (1..deck.len()).rev() {
            deck.swap(at, draw.next_ms(0, at as u64 + 1) as usize);
        }
        kinds.extend(deck);
    }
    let mut steps = Vec::new();
    let mut running = false;
    for (at, kind) in kinds.iter().enumerate() {
        if !running {
            // A run ending in a cluster kill is a cluster; others are one now and then.
            let next_end = kinds[at..].iter().find(|kind| !matches!(kind, Kind::PostgresRestart | Kind::BrokerOutage));
            let cluster = clusters && (next_end == Some(&Kind::ClusterKill) || draw.next_ms(0, 4) == 0);
            steps.push(Step::Start { processes: if cluster { 2 } else { 1 } });
            running = true;
        }
        let step = match kind {
            Kind::Kill | Kind::ClusterKill => {
                Step::Kill { process: draw.next_ms(0, 2) as usize, after: millis(&mut draw, 300, 2_500) }
            }
            Kind::KillAfterCommit => Step::KillAfterCommit { after: millis(&mut draw, 200, 1_500) },
            Kind::TermDuringPostgresOutage => Step::TermDuringPostgresOutage { after: millis(&mut draw, 300, 2_000) },
            Kind::PostgresRestart => Step::PostgresRestart { down: millis(&mut draw, 300, 2_000) },
            Kind::BrokerOutage => Step::BrokerOutage { down: millis(&mut draw, 500, 3_000) },
        };
        running &= !step.ends_run();
        steps.push(step);
    }
    if running {
        steps.push(Step::Kill { process: 0, after: millis(&mut draw, 300, 2_500) });
    }
    Plan { steps, last_run: if clusters && draw.next_ms(0, 3) == 0 { 2 } else { 1 } }
}

fn millis(draw: &mut Moments, from: u64, to: u64) -> Duration {
    Duration::from_millis(draw.next_ms(from, to))
}

/// Runs a storm of at least `faults` faults drawn from `seed` (with runs as 2-process clusters
/// among them when `clusters`) and asserts what the harness promises, and that no reader saw
/// `as_of` go back. The summary lists every fault.
pub fn storm(seed: u64, faults: usize, clusters: bool) -> Outcome {
    let plan = plan(seed, faults, clusters);
    let count = plan.steps.iter().filter(|step| !matches!(step, Step::Start { .. })).count();
    eprintln!("storm: seed {seed} (FLOWMART_STORM_SEED={seed} replays it), {count} faults");
    // The workload is spread over about as long as the storm takes (~3 s a fault); 5% of it
    // breaks a rule, so that kills may fall between a dead letter's send and its commit.
    let mut scene = Scene::start(seed, Duration::from_millis(75 * count as u64), 0.05);
    let deployments = [Deployment::new(1), Deployment::new(2)];
    let apis = deployments.iter().flat_map(|deployment| {
        let processes = deployment.api_ports.len();
        (0..processes).map(move |at| (format!("process {at} of {processes}"), deployment.api(at)))
    });
    let watch = AsOfWatch::start(apis.collect());
    let began = Instant::now();
    let mut log = Vec::new();
    let mut running = Vec::new();
    for step in plan.steps {
        let done = match step {
            Step::Start { processes } => {
                running = scene.start_pipeline(&deployments[processes - 1]);
                format!("start {processes} process(es)")
            }
            Step::Kill { process, after } => {
                std::thread::sleep(after);
                let victim = process % running.len();
                kill_one(&mut running, victim);
                format!("SIGKILL process {victim} of {} after {after:?}", running.len())
            }
            Step::KillAfterCommit { after } => {
                std::thread::sleep(after);
                let seen = kill_writer_after_commit(&scene, &mut running);
                format!("SIGKILL the writer {seen}")
            }
            Step::TermDuringPostgresOutage { after } => {
                scene.postgres.stop();
                std::thread::sleep(after);
                let statuses = terminate(&mut running);
                scene.postgres.start_again();
                format!("SIGTERM {after:?} into a Postgres outage: exit status {statuses}")
            }
            Step::PostgresRestart { down } => {
                scene.postgres.stop();
                std::thread::sleep(down);
                scene.postgres.start_again();
                format!("Postgres stopped for {down:?} and started again")
            }
            Step::BrokerOutage { down } => {
                let gate = scene.broker_gate.clone();
                let _producer_waits = gate.lock().expect("the broker gate");
                scene.proxy.stop();
                std::thread::sleep(down);
                scene.proxy.start_again();
                format!("broker cut off for {down:?}")
            }
        };
        let line = format!("{:6.1} s  {done}", began.elapsed().as_secs_f64());
        eprintln!("storm: {line}");
        log.push(line);
    }
    let stored_before_last_run = stored_offsets(&scene.postgres.url());
    let last = &deployments[plan.last_run - 1];
    let running = scene.start_pipeline(last);
    let mut outcome = scene.check(last, running, stored_before_last_run);
    let watched = watch.stop();
    outcome.summary = format!(
        "seed {seed}, {count} faults, {:.0} s to the last check, last run {} process(es): {}; {} reads of as_of, {} \
         went back\n{}",
        began.elapsed().as_secs_f64(),
        plan.last_run,
        outcome.summary,
        watched.reads,
        watched.went_back.len(),
        log.join("\n")
    );
    eprintln!("{}", outcome.summary);
    assert!(watched.went_back.is_empty(), "as_of went back: {:#?}", watched.went_back);
    outcome
}

/// SIGKILLs the writer (process 0) as soon as `pipeline_frontier` shows a new commit with alert
/// changes (or after 15 s without one); says which, and whether the kill came before the alert
/// send: the topic then lacks some of the committed changes (the restart must send them).
fn kill_writer_after_commit(scene: &Scene, running: &mut [Running]) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let seen = runtime.block_on(async {
        use sqlx::Connection;
        let mut connection = sqlx::PgConnection::connect(&scene.postgres.url()).await.expect("postgres");
        let changes_before = frontier(&mut connection).await.map_or(0, |(_, changes)| changes);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some((as_of, changes)) = frontier(&mut connection).await
                && changes > changes_before
            {
                return format!("on seeing the commit up to {as_of} with {} alert changes", changes - changes_before);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        "after 15 s without a commit with alert changes".to_string()
    });
    kill_one(running, 0);
    // Once the killed writer's session is gone, nothing more can commit.
    stored_offsets(&scene.postgres.url());
    let committed = query(&scene.postgres.url(), "SELECT alert_changes::text FROM pipeline_frontier")
        .first()
        .map_or(0, |row| row[0].parse::<usize>().unwrap());
    let on_topic = consume(&scene.brokers(), "flowmart.reorder-alerts", committed, Duration::from_secs(2)).len();
    match committed.checked_sub(on_topic) {
        Some(0) => format!("{seen}; the topic already had all {committed} committed changes"),
        Some(unsent) => format!("{seen}; {unsent} committed changes not on the topic: between commit and send"),
        None => panic!("{on_topic} alert changes on the topic, only {committed} committed"),
    }
}

/// The stored `as_of` and how many alert changes are committed.
async fn frontier(connection: &mut sqlx::PgConnection) -> Option<(i64, i64)> {
    let sql = "SELECT as_of, alert_changes FROM pipeline_frontier";
    sqlx::query_as(sql).fetch_optional(connection).await.expect("pipeline_frontier")
}
