//! `GET /v1/audit` (the key's tenant's audit records) and `GET /v1/admin/audit` (any tenant's, or
//! every record): the audit log, oldest first, in pages. Both need the API's database (501
//! without it).
//!
//! Also [`admin_read`]: the record every admin route showing one tenant's data appends first.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::page;
use crate::audit::{Action, Actor, AuditEntry, AuditFilter, AuditLog, AuditRecord};
use crate::auth::{Admin, Tenant};
use crate::error::{AdminErrors, ErrorBody, TenantKeyErrors};
use crate::{ApiError, ApiState};

/// Which of the tenant's audit records.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct TenantAuditFilter {
    /// Only records at or after this time (ms since the epoch).
    from: Option<i64>,
    /// Only records before this time (ms since the epoch).
    to: Option<i64>,
    /// Items per page, 1–5,000 (default 1,000).
    #[param(minimum = 1, maximum = 5000)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "super::query::non_empty")]
    #[param(min_length = 1)]
    cursor: Option<String>,
}

/// Which audit records, for the admin.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct AdminAuditFilter {
    /// Only this tenant's records (default: every record, process-wide ones included).
    tenant_id: Option<String>,
    /// Only records at or after this time (ms since the epoch).
    from: Option<i64>,
    /// Only records before this time (ms since the epoch).
    to: Option<i64>,
    /// Items per page, 1–5,000 (default 1,000).
    #[param(minimum = 1, maximum = 5000)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[serde(default, deserialize_with = "super::query::non_empty")]
    #[param(min_length = 1)]
    cursor: Option<String>,
}

/// A page of audit records, by `seq`.
#[derive(Serialize, ToSchema)]
pub(super) struct AuditPage {
    items: Vec<AuditRecord>,
    /// Where the next page starts; `None` on the last page.
    next_cursor: Option<String>,
}

/// The tenant's own audit records: keys issued and revoked, webhooks registered and removed,
/// alerts acknowledged or snoozed, the admin's reads of its data.
#[utoipa::path(get, path = "/v1/audit", params(TenantAuditFilter), security(("tenant_key" = [])),
    responses((status = 200, body = AuditPage), (status = 400, description = "a bad parameter", body = ErrorBody),
        (status = 501, description = "no database: nothing is audited", body = ErrorBody), TenantKeyErrors))]
pub(super) async fn tenant(
    Tenant(tenant_id): Tenant,
    State(state): State<ApiState>,
    filter: Result<Query<TenantAuditFilter>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let Query(filter) = filter?;
    let log = audit_log(&state)?;
    let wanted = AuditFilter { tenant_id: Some(tenant_id.to_string()), from: filter.from, to: filter.to };
    read_page(log, &wanted, filter.limit, filter.cursor.as_deref()).await
}

/// Audit records of one tenant (`tenant_id`) or of all; reading one tenant's is itself audited.
#[utoipa::path(get, path = "/v1/admin/audit", params(AdminAuditFilter), security(("admin_token" = [])),
    responses((status = 200, body = AuditPage), (status = 400, description = "a bad parameter", body = ErrorBody),
        (status = 501, description = "no database: nothing is audited", body = ErrorBody), AdminErrors))]
pub(super) async fn admin(
    _: Admin,
    State(state): State<ApiState>,
    filter: Result<Query<AdminAuditFilter>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let Query(filter) = filter?;
    if let Some(tenant_id) = &filter.tenant_id {
        super::admin::checked_tenant_id(tenant_id)?;
    }
    let log = audit_log(&state)?;
    let wanted = AuditFilter { tenant_id: filter.tenant_id.clone(), from: filter.from, to: filter.to };
    let page = read_page(log, &wanted, filter.limit, filter.cursor.as_deref()).await?;
    if let Some(tenant_id) = &filter.tenant_id {
        let query = json!({ "from": filter.from, "to": filter.to, "cursor": filter.cursor });
        admin_read(&state, tenant_id, "/v1/admin/audit", query).await?;
    }
    Ok(page)
}

/// Appends the record of the admin reading `tenant_id`'s data through `route` (with `query`),
/// before the data is shown: a read that cannot be audited is refused (503). Without a database
/// nothing is audited.
pub(super) async fn admin_read(
    state: &ApiState,
    tenant_id: &str,
    route: &str,
    query: serde_json::Value,
) -> Result<(), ApiError> {
    let Some(log) = &state.audit else { return Ok(()) };
    let details = json!({ "route": route, "query": query });
    log.append(&AuditEntry::new(Actor::Admin, Action::AdminRead, Some(tenant_id), details)).await.map_err(|error| {
        tracing::error!(%error, "cannot audit an admin read");
        ApiError::Unavailable("the audit log is unavailable; retry later")
    })?;
    Ok(())
}

fn audit_log(state: &ApiState) -> Result<&AuditLog, ApiError> {
    state.audit.as_ref().ok_or(ApiError::NotImplemented("the audit log needs the Postgres store (a database url)"))
}

async fn read_page(
    log: &AuditLog,
    filter: &AuditFilter,
    limit: Option<usize>,
    cursor: Option<&str>,
) -> Result<Json<AuditPage>, ApiError> {
    // (`from` after `to` is an empty range: an empty page.)
    let limit = page::limit(limit)?;
    let after = cursor.map(page::after::<i64>).transpose()?.unwrap_or(0);
    // One more than asked, to know whether a next page exists.
    let mut items = log.page(filter, after, limit + 1).await.map_err(|error| {
        tracing::error!(%error, "cannot read the audit log");
        ApiError::Unavailable("the audit log is unavailable; retry later")
    })?;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| page::cursor(&last.seq))
    } else {
        None
    };
    Ok(Json(AuditPage { items, next_cursor }))
}
