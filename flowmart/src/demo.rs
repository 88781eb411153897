//! `flowmart demo`: generator → pipeline → API on localhost.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use flowmart_api::{AdminToken, ApiKeys, ApiState};
use flowmart_pipelines::runtime::{Pipeline, RuntimeConfig};
use flowmart_pipelines::serving::ServingIndex;
use flowmart_pipelines::sources::generator::{Generator, GeneratorConfig};
use metrics_exporter_prometheus::PrometheusBuilder;

use crate::cli::DemoArgs;
use crate::progress::ProgressLine;

/// Resolved alerts stay listed for a day of pipeline time.
const RESOLVED_ALERT_RETENTION_MS: u64 = 24 * 60 * 60 * 1000;

pub(crate) fn run(args: DemoArgs) -> anyhow::Result<()> {
    let metrics = PrometheusBuilder::new().install_recorder().context("cannot install the metrics recorder")?;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as i64);
    let generator = Generator::new(GeneratorConfig {
        seed: args.seed,
        tenants: args.tenants,
        records_per_second: Some(args.rate),
        start_ms: now_ms,
        ..GeneratorConfig::default()
    });
    let demo_tenant = generator.tenant_ids().into_iter().next().context("the demo needs at least one tenant")?;
    let runtime_config =
        RuntimeConfig { workers: args.workers.unwrap_or(RuntimeConfig::default().workers), ..RuntimeConfig::default() };
    let workers = runtime_config.workers;
    let topics = runtime_config.topics.clone();

    let (index, writer) = ServingIndex::new(RESOLVED_ALERT_RETENTION_MS);
    let keys = Arc::new(ApiKeys::new());
    let demo_key = keys.issue(&demo_tenant).context("cannot make an api key")?;
    let (admin_token, generated_token) = match std::env::var("FLOWMART_ADMIN_TOKEN") {
        Ok(token) if !token.is_empty() => (AdminToken::new(&token), None),
        _ => {
            let (token, secret) = AdminToken::generate().context("cannot make an admin token")?;
            (token, Some(secret))
        }
    };
    let state =
        ApiState { index: index.clone(), keys, admin_token: Arc::new(admin_token), topics, metrics: metrics.clone() };

    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start tokio")?;
    let listener = tokio
        .block_on(tokio::net::TcpListener::bind(args.listen))
        .with_context(|| format!("cannot listen on {} (--listen / FLOWMART_LISTEN)", args.listen))?;
    let pipeline = Pipeline::start(runtime_config, Arc::new(generator), vec![Box::new(writer)])
        .context("cannot start the pipeline")?;

    let url = format!("http://{}", args.listen);
    println!(
        "FlowMart Streams demo: built-in generator ({} tenants, {} events/s) -> pipeline ({workers} workers) -> API\n",
        args.tenants, args.rate
    );
    println!("  API          {url}");
    match &generated_token {
        Some(token) => println!("  admin token  {token}   (generated; set FLOWMART_ADMIN_TOKEN to choose one)"),
        None => println!("  admin token  from FLOWMART_ADMIN_TOKEN"),
    }
    println!("  demo tenant  {demo_tenant}, api key {demo_key}");
    println!("  metrics      {url}/metrics\n");
    println!("Try:");
    println!("  curl -s -H 'Authorization: Bearer {demo_key}' '{url}/v1/reorder-alerts?status=open'");
    println!("  curl -s -H 'Authorization: Bearer {demo_key}' '{url}/v1/stock?warehouse_id=rotterdam'");
    println!("  curl -s -H 'Authorization: Bearer {demo_key}' '{url}/v1/settlements'");
    println!("  curl -sN -H 'Authorization: Bearer {demo_key}' '{url}/v1/alerts/stream'\n");
    println!("Ctrl-C stops.");

    tokio.block_on(async {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut server_stopped = stopped.clone();
        let server = tokio::spawn(flowmart_api::serve(listener, state, async move {
            let _ = server_stopped.wait_for(|stop| *stop).await;
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
                }
                () = &mut signal => break,
            }
        }
        progress.finish();
        let _ = stop.send(true);
        // Live alert streams never end by themselves: give requests a moment, then leave.
        let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
        drop(stopped);
    });
    println!("stopping: finishing what the workers read");
    pipeline.stop().context("the pipeline did not stop cleanly")?;
    Ok(())
}

/// Ctrl-C or SIGTERM (Ctrl-C alone where SIGTERM cannot be watched).
async fn shutdown_signal() {
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
