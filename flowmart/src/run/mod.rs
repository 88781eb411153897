//! `flowmart run`: Kafka → pipeline → API, DLQ and alert topics.

mod api_state;
mod recover;
mod sinks;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use flowmart_api::OutboundTls;
use flowmart_api::cluster::ClusterRoutes;
use flowmart_kafka::{KafkaSource, KafkaSourceConfig, Registry, WriterSchemas};
use flowmart_postgres::StoredGate;
use flowmart_runtime::Pipeline;

use crate::config::PipelineConfig;
use crate::serve::{admin_token, api_runtime, install_metrics, serve_until_stopped, shutdown_signal};

pub(crate) fn run(config: PipelineConfig) -> anyhow::Result<()> {
    let metrics = install_metrics((config.cluster.processes > 1).then_some(config.cluster.process_index))?;
    let tokio = api_runtime()?;
    // In a cluster, process 0 writes the results; each process serves the tenants it owns.
    let cluster = &config.cluster;
    let writes_results = cluster.process_index == 0;
    let peers = cluster.peers().map_err(|problem| anyhow::anyhow!("cluster.peers: {problem}"))?;

    // With a database, the pipeline resumes from what it stored there.
    let Some((postgres, recovered)) = recover::open_database(&tokio, &config, writes_results) else {
        eprintln!("stopped before starting");
        return Ok(());
    };
    let producers = match writes_results {
        true => match sinks::producers(&tokio, &config, recovered.unconfirmed_alerts.clone())? {
            Some(producers) => Some(producers),
            None => {
                eprintln!("stopped before starting");
                return Ok(());
            }
        },
        // The other processes of a cluster read their recovered state from Postgres, but only
        // process 0 writes it.
        false => None,
    };

    let (index, index_writer) = recover::index_from(&recovered, config.retention.resolved_alerts_ms());
    let (admin_token, generated_token) = admin_token()?;
    if cluster.processes > 1 && generated_token.is_some() {
        // The processes prove the requests they forward to each other with it.
        anyhow::bail!("in a cluster every process needs the same admin token: set FLOWMART_ADMIN_TOKEN");
    }
    // In a cluster each process serves the tenants it owns; the API routes the others' requests.
    let routes = (cluster.processes > 1).then(|| {
        let apis = peers.iter().map(|peer| peer.api.clone()).collect();
        let tls = OutboundTls::new(cluster.ca_file.as_deref())?;
        anyhow::Ok(Arc::new(ClusterRoutes::new(
            cluster.process_index,
            apis,
            config.runtime.workers,
            &admin_token,
            &tls,
        )))
    });
    let routes = routes.transpose().context("cluster.ca_file")?;
    let index_writer = match &routes {
        Some(routes) => {
            let routes = Arc::clone(routes);
            index_writer.serving_only(Box::new(move |tenant_id| routes.serves(tenant_id)))
        }
        None => index_writer,
    };
    let listen = config.api.listen;
    let listener = tokio
        .block_on(tokio::net::TcpListener::bind(listen))
        .with_context(|| format!("cannot listen on {listen} (api.listen / FLOWMART_LISTEN / --listen)"))?;

    let resume = recovered.resume;
    let source = KafkaSource::new(
        KafkaSourceConfig {
            brokers: config.kafka.brokers.clone(),
            group_id: config.kafka.group_id.clone(),
            topics: config.topics.inputs(),
            start: config.kafka.start,
            resume: resume.progress.clone(),
            on_offset_out_of_range: config.kafka.on_offset_out_of_range,
            properties: config.kafka.client_properties(&config.kafka.consumer),
        },
        Arc::new(WriterSchemas::new(Box::new(
            Registry::new(&config.kafka.registry()).context("the schema registry client")?,
        ))),
    );
    if cluster.processes > 1 {
        println!(
            "  process {} of a {}-process cluster: waiting until every process is up ({})",
            cluster.process_index,
            cluster.processes,
            peers.iter().map(|peer| peer.timely.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    // A process that does not write passes on only what the writer stored.
    let gate = match (&config.postgres.database_url, writes_results) {
        (Some(url), false) => Some(StoredGate::new(url).context("the stored-results gate")?),
        _ => None,
    };
    let sinks = sinks::in_order(producers, postgres, gate, index_writer);
    let pipeline =
        Pipeline::resume(config.runtime(), Arc::new(source), sinks, resume).context("cannot start the pipeline")?;

    println!("{}", banner(&config));
    let status = Arc::clone(pipeline.status());
    let state = api_state::api_state(&tokio, &config, index, routes, metrics, status, admin_token)?;
    if let Some(token) = generated_token {
        println!("  admin token  {token}   (generated; set FLOWMART_ADMIN_TOKEN to choose one)");
    }
    serve_until_stopped(&tokio, listener, state, pipeline)
}

/// What `run` prints once it runs: where it reads, how many workers, where it writes.
fn banner(config: &PipelineConfig) -> String {
    let cluster = &config.cluster;
    let processes = match cluster.processes {
        1 => String::new(),
        processes => format!(" x {processes} processes, this is process {}", cluster.process_index),
    };
    let writes = match cluster.process_index {
        0 => format!(", {} and {}", config.topics.reorder_alerts, config.topics.dlq),
        _ => " (process 0 writes the results)".to_string(),
    };
    format!(
        "FlowMart Streams: {} -> pipeline ({} workers{processes}) -> API http://{}{writes}",
        config.kafka.brokers, config.runtime.workers, config.api.listen
    )
}

/// Calls the blocking `connect` until it succeeds, reporting each failure in one line and waiting
/// longer each time (up to 30 s): an unreachable dependency at start is retried, never a panic.
/// `None` when Ctrl-C or SIGTERM came first.
async fn with_backoff<T: Send + 'static, E: std::fmt::Display + Send + 'static>(
    what: &str,
    address: &str,
    connect: impl Fn() -> Result<T, E> + Clone + Send + 'static,
) -> Option<T> {
    with_backoff_saying(what, address, connect, |error| format!("is unreachable ({error})")).await
}

/// [`with_backoff`], each failure told as `flowmart: {what} at {address} {says(error)}; retrying in …`.
async fn with_backoff_saying<T: Send + 'static, E: Send + 'static>(
    what: &str,
    address: &str,
    connect: impl Fn() -> Result<T, E> + Clone + Send + 'static,
    says: impl Fn(&E) -> String,
) -> Option<T> {
    let mut delay = Duration::from_millis(500);
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        let attempt = connect.clone();
        match tokio::task::spawn_blocking(attempt).await {
            Ok(Ok(connected)) => return Some(connected),
            Ok(Err(error)) => {
                eprintln!("flowmart: {what} at {address} {}; retrying in {:.1} s", says(&error), delay.as_secs_f64())
            }
            Err(panicked) => eprintln!(
                "flowmart: connecting to {what} at {address} failed ({panicked}); retrying in {:.1} s",
                delay.as_secs_f64()
            ),
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = &mut signal => return None,
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}
