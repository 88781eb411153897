//! What the API of `run` serves with: the index, keys and webhooks (stored in the database when
//! there is one), and in a cluster the routes to each tenant's owner.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use flowmart_api::audit::AuditLog;
use flowmart_api::cluster::ClusterRoutes;
use flowmart_api::webhooks::Webhooks;
use flowmart_api::{AdminToken, AnnotationTable, ApiKeys, ApiState, RateLimits, Sessions, Store};
use flowmart_runtime::PipelineStatus;
use flowmart_serving::ServingIndex;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::PipelineConfig;

/// The API's state. Tenant keys, webhooks, alert acknowledgements and snoozes, and the audit log
/// live in the database when there is one (they survive restarts); the configuration this process starts with is then its first
/// audit record, and the history routes read the sink's lineage there. In a cluster, each
/// process delivers the webhooks of the tenants it serves; a key issued through any process works
/// at once on every other (looked up in the table the first time it is seen), and each process
/// reads the keys again each second, so a key revoked elsewhere stops working within a second.
pub(super) fn api_state(
    tokio: &tokio::runtime::Runtime,
    config: &PipelineConfig,
    index: ServingIndex,
    routes: Option<Arc<ClusterRoutes>>,
    metrics: PrometheusHandle,
    pipeline: Arc<PipelineStatus>,
    admin_token: AdminToken,
) -> anyhow::Result<ApiState> {
    let webhook_settings = config.webhooks.api().context("webhooks.ca_file")?;
    let (keys, webhooks, audit, database) = match &config.postgres.database_url {
        Some(url) => {
            let store = tokio.block_on(Store::open(url)).context("cannot open the api's tables")?;
            let audit = AuditLog::new(&store);
            let started = crate::audit::configuration_at_start(config);
            tokio.block_on(audit.append(&started)).context("cannot audit the configuration at start")?;
            let keys = Arc::new(tokio.block_on(ApiKeys::stored(&store)).context("cannot read the api keys")?);
            tokio
                .block_on(AnnotationTable::new(&store).restore(&index, config.retention.resolved_alerts_ms()))
                .context("cannot read the alerts' acknowledgements and snoozes")?;
            let serves = |tenant_id: &str| routes.as_ref().is_none_or(|routes| routes.serves(tenant_id));
            let webhooks = tokio
                .block_on(Webhooks::stored_for(index.clone(), &store, webhook_settings, serves))
                .context("cannot read the webhooks")?;
            if config.cluster.processes > 1 {
                tokio.spawn(reload_keys(Arc::clone(&keys)));
            }
            (keys, webhooks, Some(audit), Some(store))
        }
        None => (Arc::new(ApiKeys::new()), Webhooks::with_settings(index.clone(), webhook_settings), None, None),
    };
    let state = ApiState {
        index,
        keys,
        admin_token: Arc::new(admin_token),
        topics: config.topics.inputs(),
        metrics,
        limits: Arc::new(RateLimits::new(config.api.rate_limit_per_second, config.api.rate_limit_burst)),
        webhooks: Arc::new(webhooks),
        audit,
        cluster: routes,
        pipeline: Some(pipeline),
        http: config.api.http(),
        database,
        sessions: Arc::new(Sessions::new(config.api.session_limits())),
    };
    Ok(state)
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
