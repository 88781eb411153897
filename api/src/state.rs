use std::sync::Arc;

use flowmart_runtime::{PipelineStatus, Topics};
use flowmart_serving::ServingIndex;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::cluster::ClusterRoutes;
use crate::sessions::Sessions;
use crate::webhooks::Webhooks;
use crate::{AdminToken, ApiKeys, HttpSettings, RateLimits, Store};

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    /// The pipeline's results.
    pub index: ServingIndex,
    /// Tenant keys.
    pub keys: Arc<ApiKeys>,
    /// The admin token.
    pub admin_token: Arc<AdminToken>,
    /// Topic names, for the progress report.
    pub topics: Topics,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Per-tenant request rate limits.
    pub limits: Arc<RateLimits>,
    /// Tenants' webhooks and their deliveries.
    pub webhooks: Arc<Webhooks>,
    /// In a cluster: which process answers which route; `None` for a process alone.
    pub cluster: Option<Arc<ClusterRoutes>>,
    /// The pipeline feeding the index, for readiness (`/readyz` answers 503 while it is stalled);
    /// `None` when nothing runs one here (tests that serve a hand-made index).
    pub pipeline: Option<Arc<PipelineStatus>>,
    /// The audit log, when the API has a database; `None`: nothing is audited and the audit
    /// routes answer 501.
    pub audit: Option<crate::audit::AuditLog>,
    /// CORS origins and the request time limit.
    pub http: HttpSettings,
    /// The database the Postgres sink writes, where the history routes read its lineage; `None`
    /// without one (they answer 501).
    pub database: Option<Store>,
    /// The live sessions (event streams): their limits and what they share.
    pub sessions: Arc<Sessions>,
}
