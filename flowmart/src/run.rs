//! `flowmart run`: Kafka → pipeline → API, DLQ and alert topics.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use flowmart_api::cluster::ClusterRoutes;
use flowmart_api::webhooks::Webhooks;
use flowmart_api::{ApiKeys, RateLimits, Store};
use flowmart_pipelines::Sink;
use flowmart_pipelines::config::PipelineConfig;
use flowmart_pipelines::runtime::Pipeline;
use flowmart_pipelines::serving::ServingIndex;
use flowmart_pipelines::sources::kafka::{KafkaSource, KafkaSourceConfig, Registry, WriterSchemas};
use flowmart_sinks::kafka::{AlertSink, DeadLetterSink, KafkaSinkConfig};
use flowmart_sinks::postgres::{PostgresSink, Recovered};

use crate::serve::{Service, admin_token, api_runtime, install_metrics, serve_until_stopped, shutdown_signal};

pub(crate) fn run(config: PipelineConfig) -> anyhow::Result<()> {
    let metrics = install_metrics((config.cluster.processes > 1).then_some(config.cluster.process_index))?;
    let inputs = config.topics.inputs();
    let tokio = api_runtime()?;
    let runtime_config = config.runtime();
    let resolved_alert_retention = config.retention.resolved_alerts_ms();
    // In a cluster, process 0 writes the results; each process serves the tenants it owns.
    let cluster = &config.cluster;
    let writes_results = cluster.process_index == 0;
    let peers = cluster.peers().map_err(|problem| anyhow::anyhow!("cluster.peers: {problem}"))?;

    // With a database, the pipeline resumes from what it stored there.
    let (postgres, recovered) = match &config.postgres.database_url {
        Some(database_url) => {
            let (url, topics, retention) = (database_url.clone(), inputs.clone(), runtime_config.retention);
            let opened = tokio.block_on(with_backoff("postgres", &redacted(database_url), move || {
                PostgresSink::open(&url, topics.clone(), retention, resolved_alert_retention)
            }));
            let Some((postgres, recovered)) = opened else {
                eprintln!("stopped before starting");
                return Ok(());
            };
            (Some(postgres), recovered)
        }
        None => (None, Recovered::default()),
    };
    let Recovered { resume, snapshot, unconfirmed_alerts, recent_alerts } = recovered;
    if resume.state.as_of > 0 {
        println!(
            "  resuming from the database: {} positions, {} open alerts, results as of {} ms",
            resume.state.stock.len(),
            resume.state.open_alerts.len(),
            resume.state.as_of
        );
    }

    let source = KafkaSource::new(
        KafkaSourceConfig {
            brokers: config.kafka.brokers.clone(),
            group_id: config.kafka.group_id.clone(),
            topics: inputs.clone(),
            start: config.kafka.start,
            resume: resume.progress.clone(),
            properties: config.kafka.consumer.clone(),
        },
        Arc::new(WriterSchemas::new(Box::new(Registry::new(&config.kafka.schema_registry_url)))),
    );
    // The dead-letter and alert producers: only the process that writes the results needs them.
    let producers = if writes_results {
        let sink_config =
            KafkaSinkConfig { brokers: config.kafka.brokers.clone(), properties: config.kafka.producer.clone() };
        let dead_letters = DeadLetterSink::new(&sink_config, &config.topics.dlq, inputs.clone())
            .context("the dead-letter producer")?;
        let (registry_url, alerts_topic) =
            (config.kafka.schema_registry_url.clone(), config.topics.reorder_alerts.clone());
        let alerts =
            tokio.block_on(with_backoff("the schema registry", &config.kafka.schema_registry_url, move || {
                AlertSink::new(&sink_config, &alerts_topic, &registry_url, unconfirmed_alerts.clone())
            }));
        let Some(alerts) = alerts else {
            eprintln!("stopped before starting");
            return Ok(());
        };
        Some((dead_letters, alerts))
    } else {
        None
    };

    let (index, index_writer) = ServingIndex::starting_from(snapshot, recent_alerts, resolved_alert_retention);
    // In a cluster each process serves the tenants it owns; the API routes the others' requests.
    let routes = (cluster.processes > 1).then(|| {
        Arc::new(ClusterRoutes::new(cluster.process_index, peers.iter().map(|peer| peer.api.clone()).collect()))
    });
    let index_writer = match &routes {
        Some(routes) => {
            let routes = Arc::clone(routes);
            index_writer.serving_only(Box::new(move |tenant_id| routes.serves(tenant_id)))
        }
        None => index_writer,
    };
    let (admin_token, generated_token) = admin_token()?;
    let listen = config.api.listen;
    let listener = tokio
        .block_on(tokio::net::TcpListener::bind(listen))
        .with_context(|| format!("cannot listen on {listen} (api.listen / FLOWMART_LISTEN / --listen)"))?;
    // Dead letters go out before the commit (at least once: a crash in between sends them again);
    // results are stored before they are announced: Postgres, then the index, then alerts.
    let sinks: Vec<Box<dyn Sink>> = match producers {
        Some((dead_letters, alerts)) => {
            let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(dead_letters)];
            sinks.extend(postgres.map(|postgres| Box::new(postgres) as Box<dyn Sink>));
            sinks.extend([Box::new(index_writer) as Box<dyn Sink>, Box::new(alerts)]);
            sinks
        }
        // The other processes of a cluster read their recovered state from Postgres, but only
        // process 0 writes it.
        None => vec![Box::new(index_writer)],
    };
    if cluster.processes > 1 {
        println!(
            "  process {} of a {}-process cluster: waiting until every process is up ({})",
            cluster.process_index,
            cluster.processes,
            peers.iter().map(|peer| peer.timely.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    let pipeline =
        Pipeline::resume(runtime_config, Arc::new(source), sinks, resume).context("cannot start the pipeline")?;

    println!(
        "FlowMart Streams: {} -> pipeline ({} workers{}) -> API http://{listen}{}",
        config.kafka.brokers,
        config.runtime.workers,
        if cluster.processes > 1 {
            format!(" x {} processes, this is process {}", cluster.processes, cluster.process_index)
        } else {
            String::new()
        },
        if writes_results {
            format!(", {} and {}", config.topics.reorder_alerts, config.topics.dlq)
        } else {
            " (process 0 writes the results)".to_string()
        }
    );
    if let Some(token) = generated_token {
        println!("  admin token  {token}   (generated; set FLOWMART_ADMIN_TOKEN to choose one)");
    }
    // Tenant keys and webhooks live in the database when there is one (they survive restarts).
    // In a cluster, each process delivers the webhooks of the tenants it serves, and reads the
    // keys again each second, so keys issued through any process work everywhere.
    let (keys, webhooks) = match &config.postgres.database_url {
        Some(url) => {
            let store = tokio.block_on(Store::open(url)).context("cannot open the api's tables")?;
            let keys = Arc::new(tokio.block_on(ApiKeys::stored(&store)).context("cannot read the api keys")?);
            let serves = |tenant_id: &str| routes.as_ref().is_none_or(|routes| routes.serves(tenant_id));
            let webhooks = tokio
                .block_on(Webhooks::stored_for(index.clone(), &store, serves))
                .context("cannot read the webhooks")?;
            if cluster.processes > 1 {
                tokio.spawn(reload_keys(Arc::clone(&keys)));
            }
            (keys, webhooks)
        }
        None => (Arc::new(ApiKeys::new()), Webhooks::new(index.clone())),
    };
    let limits = Arc::new(RateLimits::new(config.api.rate_limit_per_second, config.api.rate_limit_burst));
    let service = Service {
        index,
        keys,
        admin_token,
        topics: inputs,
        metrics,
        limits,
        webhooks: Arc::new(webhooks),
        cluster: routes,
    };
    serve_until_stopped(&tokio, listener, service, pipeline)
}

/// Reads the live keys again every second, for as long as the process runs.
async fn reload_keys(keys: Arc<ApiKeys>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticker.tick().await;
        if let Err(error) = keys.reload().await {
            tracing::warn!(%error, "cannot read the api keys again; keeping the ones read before");
        }
    }
}

/// A database URL without its password, for messages.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    match rest.rsplit_once('@') {
        Some((credentials, host)) => format!("{scheme}://{}@{host}", credentials.split(':').next().unwrap_or_default()),
        None => url.to_string(),
    }
}

/// Calls the blocking `connect` until it succeeds, reporting each failure in one line and waiting
/// longer each time (up to 30 s): an unreachable dependency at start is retried, never a panic.
/// `None` when Ctrl-C or SIGTERM came first.
async fn with_backoff<T: Send + 'static, E: std::fmt::Display + Send + 'static>(
    what: &str,
    address: &str,
    connect: impl Fn() -> Result<T, E> + Clone + Send + 'static,
) -> Option<T> {
    let mut delay = Duration::from_millis(500);
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        let attempt = connect.clone();
        match tokio::task::spawn_blocking(attempt).await {
            Ok(Ok(connected)) => return Some(connected),
            Ok(Err(error)) => eprintln!(
                "flowmart: {what} at {address} is unreachable ({error}); retrying in {:.1} s",
                delay.as_secs_f64()
            ),
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

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn database_urls_are_shown_without_their_password() {
        assert_eq!(redacted("postgres://flowmart:s3cret@db:5432/flowmart"), "postgres://flowmart@db:5432/flowmart");
        assert_eq!(redacted("postgres://postgres@127.0.0.1/test"), "postgres://postgres@127.0.0.1/test");
        assert_eq!(redacted("postgres://127.0.0.1/test"), "postgres://127.0.0.1/test");
    }
}
