//! `flowmart demo`: generator → pipeline → API on localhost.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use flowmart_api::webhooks::Webhooks;
use flowmart_api::{ApiKeys, ApiState, RateLimits, Sessions};
use flowmart_generator::{Generator, GeneratorConfig};
use flowmart_runtime::{Pipeline, RuntimeConfig};
use flowmart_schemas::Retention;
use flowmart_serving::ServingIndex;

use crate::cli::DemoArgs;
use crate::config::{ApiSettings, RetentionSettings};
use crate::serve::{admin_token, api_runtime, install_metrics, serve_until_stopped};

pub(crate) fn run(args: DemoArgs) -> anyhow::Result<()> {
    let metrics = install_metrics(None)?;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as i64);
    let generator = Generator::new(GeneratorConfig {
        seed: args.seed,
        tenants: args.tenants,
        records_per_second: Some(args.rate),
        start_ms: now_ms,
        ..GeneratorConfig::default()
    });
    let demo_tenant = generator.tenant_ids().into_iter().next().context("the demo needs at least one tenant")?;
    let retention = args.retention_seconds.map(|seconds| seconds * 1000);
    let runtime_config = RuntimeConfig {
        workers: args.workers.unwrap_or(RuntimeConfig::default().workers),
        retention: retention.map_or(RetentionSettings::default().operators(), |ms| Retention {
            event_ids_ms: Some(ms),
            orders_ms: Some(ms),
            // The demo stores no lineage.
            history_ms: None,
        }),
        ..RuntimeConfig::default()
    };
    let workers = runtime_config.workers;
    let topics = runtime_config.topics.clone();

    let (index, writer) = ServingIndex::new(retention.unwrap_or(RetentionSettings::default().resolved_alerts_ms()));
    let keys = Arc::new(ApiKeys::new());
    let (admin_token, generated_token) = admin_token()?;

    let tokio = api_runtime()?;
    let demo_key = tokio.block_on(keys.issue(&demo_tenant)).context("cannot make an api key")?.api_key;
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
    println!("  dashboard    {url}/   (sign in with the api key)");
    println!("  metrics      {url}/metrics   openapi {url}/openapi.json\n");
    println!("Try:");
    println!("  curl -s -H 'Authorization: Bearer {demo_key}' '{url}/v1/reorder-alerts?status=open'");
    println!("  curl -s -H 'Authorization: Bearer {demo_key}' '{url}/v1/stock?warehouse_id=rotterdam'");
    println!("  curl -s -H 'Authorization: Bearer {demo_key}' '{url}/v1/settlements'");
    println!("  curl -sN -H 'Authorization: Bearer {demo_key}' '{url}/v1/alerts/stream'\n");
    println!("Ctrl-C stops.");

    let api = ApiSettings::default();
    let limits = Arc::new(RateLimits::new(api.rate_limit_per_second, api.rate_limit_burst));
    let webhooks = Arc::new(Webhooks::new(index.clone()));
    let pipeline_status = Some(Arc::clone(pipeline.status()));
    let admin_token = Arc::new(admin_token);
    let state = ApiState {
        index,
        keys,
        admin_token,
        topics,
        metrics,
        limits,
        webhooks,
        audit: None,
        cluster: None,
        pipeline: pipeline_status,
        http: Default::default(),
        database: None,
        sessions: Arc::new(Sessions::new(api.session_limits())),
    };
    serve_until_stopped(&tokio, listener, state, pipeline)
}
