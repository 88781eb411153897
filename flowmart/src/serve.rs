//! What `demo` and `run` share: metrics, the admin token, the API (and the open-file limit its
//! sessions need), the progress line, and stopping on Ctrl-C or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use flowmart_api::{AdminToken, ApiState, SessionLimits};
use flowmart_runtime::Pipeline;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::progress::ProgressLine;

/// The variable naming a file that holds the admin token (a mounted secret).
pub(crate) const ADMIN_TOKEN_FILE: &str = "FLOWMART_ADMIN_TOKEN_FILE";

/// Installs the Prometheus recorder every crate's metrics go to; in a cluster every series is
/// labelled with the `process` that exports it.
pub(crate) fn install_metrics(process: Option<usize>) -> anyhow::Result<PrometheusHandle> {
    // Durations as histograms (not per-process summaries), so Prometheus can aggregate them.
    const SECONDS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
    let builder = match process {
        Some(process) => PrometheusBuilder::new().add_global_label("process", process.to_string()),
        None => PrometheusBuilder::new(),
    };
    let handle = builder
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
        .context("metric buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    // Every metric's `# HELP` and unit, from the part that exports it.
    flowmart_runtime::describe_metrics();
    flowmart_kafka::describe_metrics();
    flowmart_postgres::describe_metrics();
    flowmart_serving::describe_metrics();
    flowmart_api::describe_metrics();
    Ok(handle)
}

/// The admin token from `FLOWMART_ADMIN_TOKEN`, or the file `FLOWMART_ADMIN_TOKEN_FILE` names,
/// or a generated one (returned to print once).
pub(crate) fn admin_token() -> anyhow::Result<(AdminToken, Option<String>)> {
    let given = std::env::var("FLOWMART_ADMIN_TOKEN").ok().filter(|token| !token.is_empty());
    let from_file = std::env::var_os(ADMIN_TOKEN_FILE)
        .map(|file| crate::config::read_secret_file(std::path::Path::new(&file)))
        .transpose()
        .map_err(|problem| anyhow::anyhow!("{ADMIN_TOKEN_FILE}: {problem}"))?;
    match given.or(from_file) {
        Some(token) => Ok((AdminToken::new(&token), None)),
        None => {
            let (token, secret) = AdminToken::generate().context("cannot make an admin token")?;
            Ok((token, Some(secret)))
        }
    }
}

/// Serves the API on `listener` and keeps the progress line fresh until Ctrl-C, SIGTERM or the
/// pipeline failing; then stops taking requests and stops the pipeline (which publishes what it
/// read). Returns the pipeline's failure, if it failed.
pub(crate) fn serve_until_stopped(
    tokio: &tokio::runtime::Runtime,
    listener: tokio::net::TcpListener,
    state: ApiState,
    pipeline: Pipeline,
) -> anyhow::Result<()> {
    raise_open_file_limit(state.sessions.limits());
    let (index, metrics, limits) = (state.index.clone(), state.metrics.clone(), Arc::clone(&state.limits));
    tokio.block_on(async {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(flowmart_api::serve(listener, state, async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }));
        let mut progress = ProgressLine::new();
        let mut ticker = tokio::time::interval(Duration::from_millis(500));
        let signal = shutdown_signal();
        tokio::pin!(signal);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    progress.update(pipeline.status(), &index);
                    metrics.run_upkeep();
                    limits.shrink();
                    if pipeline.status().failure().is_some() {
                        break;
                    }
                    if pipeline.status().stopping() {
                        eprintln!("stopping: another process of the cluster is stopping");
                        break;
                    }
                }
                () = &mut signal => break,
            }
        }
        progress.finish();
        let _ = stop.send(true);
        // Live alert streams never end by themselves: give requests a moment, then leave.
        let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    });
    let failure = pipeline.status().failure();
    if pipeline.status().peer_lost() || pipeline.status().panicked_thread() {
        // The workers cannot finish without the lost process or thread: what was committed
        // stays, the rest is read again after the restart. The failure is the one line said.
        return Err(anyhow::anyhow!(failure.unwrap_or_default()));
    }
    eprintln!("stopping: finishing what the workers read");
    let status = Arc::clone(pipeline.status());
    pipeline.stop().context("the pipeline did not stop cleanly")?;
    // Failed before the stop, or while finishing (a sink that could not take the last results).
    match failure.or_else(|| status.failure()) {
        Some(failure) => Err(anyhow::anyhow!(failure)),
        None => Ok(()),
    }
}

/// Descriptors the process needs beside one per live session: the pipeline's (Kafka, Postgres),
/// the API's other connections, files.
const DESCRIPTORS_BESIDE_SESSIONS: u64 = 4_096;

/// Raises the soft limit on open files to what `sessions` need (at most the hard limit; never
/// lowered), and says when that is short: every live session holds a socket, and a soft limit of
/// 1,024 (a common default) would have the kernel refuse connections long before
/// `api.max_sessions`. Children inherit the limit, so it is raised no further than needed.
fn raise_open_file_limit(sessions: SessionLimits) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let needed = sessions.total as u64 + DESCRIPTORS_BESIDE_SESSIONS;
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    if current < needed {
        let wanted = limit.maximum.map_or(needed, |hard| needed.min(hard));
        match setrlimit(Resource::Nofile, Rlimit { current: Some(wanted), maximum: limit.maximum }) {
            Ok(()) => tracing::info!(open_files = wanted, "open-file limit raised for api.max_sessions"),
            Err(error) => tracing::warn!(%error, open_files = current, "cannot raise the open-file limit"),
        }
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    if now < needed {
        tracing::warn!(
            open_files = now,
            needed,
            "the open-file limit is below what {} sessions need: the kernel will refuse connections beyond about {} sessions; raise the hard limit (ulimit -Hn, systemd LimitNOFILE=, docker --ulimit nofile=) or lower api.max_sessions",
            sessions.total,
            now.saturating_sub(DESCRIPTORS_BESIDE_SESSIONS)
        );
    }
}

/// Ctrl-C or SIGTERM (Ctrl-C alone where SIGTERM cannot be watched).
pub(crate) async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    if let Ok(mut terminate) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        tokio::select! {
            () = interrupt => {}
            _ = terminate.recv() => {}
        }
        return;
    }
    interrupt.await;
}

/// The API's tokio runtime ([`flowmart_api::runtime`]).
pub(crate) fn api_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    flowmart_api::runtime().context("cannot start tokio")
}
