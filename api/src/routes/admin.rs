//! `/v1/admin/*`: tenant keys, the tenants seen, source progress.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use flowmart_schemas::Id;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Admin;
use crate::error::{AdminErrors, ErrorBody};
use crate::{ApiError, ApiState, KeyError, KeyInfo};

/// A key just issued: the only time its secret is shown.
#[derive(Serialize, ToSchema)]
pub(super) struct NewKey {
    tenant_id: String,
    key_id: String,
    api_key: String,
}

/// A tenant's live keys.
#[derive(Serialize, ToSchema)]
pub(super) struct KeyList {
    tenant_id: String,
    keys: Vec<KeyInfo>,
}

/// What a tenant id may hold, as the OpenAPI document declares it (with 1–128 characters): no
/// control character (Unicode `Cc`), no white space (Unicode `White_Space`), no `/` — exactly
/// what [`valid_tenant_id`] allows.
pub(super) const TENANT_ID_PATTERN: &str = "^[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000/\\u0000-\\u001f\\u007f-\\u009f]*$";

/// A tenant id: 1–128 characters, none of them a control character, whitespace or `/`.
fn valid_tenant_id(tenant_id: &str) -> bool {
    (1..=128).contains(&tenant_id.chars().count())
        && !tenant_id.chars().any(|c| c.is_control() || c.is_whitespace() || c == '/')
}

/// Issues a new key for a tenant (only its digest is stored).
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant_id}/api-keys", params(("tenant_id" = String, Path)),
    security(("admin_token" = [])),
    responses((status = 201, body = NewKey), (status = 400, description = "a bad tenant id", body = ErrorBody), AdminErrors))]
pub(super) async fn issue_key(
    _: Admin,
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<(StatusCode, Json<NewKey>), ApiError> {
    let Path(tenant_id) = path?;
    checked_tenant_id(&tenant_id)?;
    let issued = state.keys.issue(&tenant_id).await.map_err(key_failure)?;
    tracing::info!(%tenant_id, key_id = %issued.key_id, "issued an api key");
    Ok((StatusCode::CREATED, Json(NewKey { tenant_id, key_id: issued.key_id, api_key: issued.api_key })))
}

/// `GET /v1/admin/tenants/{tenant_id}/api-keys`: the tenant's live keys (ids, never secrets).
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant_id}/api-keys", params(("tenant_id" = String, Path)),
    security(("admin_token" = [])),
    responses((status = 200, body = KeyList), (status = 400, description = "a bad tenant id", body = ErrorBody),
        (status = 503, description = "the read cannot be audited", body = ErrorBody), AdminErrors))]
pub(super) async fn list_keys(
    _: Admin,
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<KeyList>, ApiError> {
    let Path(tenant_id) = path?;
    checked_tenant_id(&tenant_id)?;
    super::audit::admin_read(&state, &tenant_id, "/v1/admin/tenants/{tenant_id}/api-keys", serde_json::Value::Null)
        .await?;
    let keys = state.keys.keys_of(&tenant_id);
    Ok(Json(KeyList { tenant_id, keys }))
}

/// `DELETE /v1/admin/tenants/{tenant_id}/api-keys/{key_id}`: revokes the key at once (204), or
/// 404 if the tenant has no such live key.
#[utoipa::path(delete, path = "/v1/admin/tenants/{tenant_id}/api-keys/{key_id}",
    params(("tenant_id" = String, Path), ("key_id" = String, Path)), security(("admin_token" = [])),
    responses((status = 204, description = "revoked"), (status = 400, description = "a bad tenant id", body = ErrorBody),
        (status = 404, description = "no such live key", body = ErrorBody), AdminErrors))]
pub(super) async fn revoke_key(
    _: Admin,
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((tenant_id, key_id)) = path?;
    checked_tenant_id(&tenant_id)?;
    if state.keys.revoke(&tenant_id, &key_id).await.map_err(key_failure)? {
        tracing::info!(%tenant_id, %key_id, "revoked an api key");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("tenant {tenant_id:?} has no live key {key_id:?}")))
    }
}

pub(super) fn checked_tenant_id(tenant_id: &str) -> Result<(), ApiError> {
    if valid_tenant_id(tenant_id) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "tenant_id must be 1-128 characters without whitespace, control characters or '/', got {tenant_id:?}"
        )))
    }
}

fn key_failure(error: KeyError) -> ApiError {
    tracing::error!(%error, "api key store failed");
    ApiError::Unavailable("the api key store is unavailable; retry later")
}

/// One tenant the pipeline has seen.
#[derive(Serialize, ToSchema)]
pub(super) struct TenantSummary {
    #[schema(value_type = String)]
    tenant_id: Id,
    stock_positions: usize,
    open_alerts: usize,
}

/// Every tenant seen.
#[derive(Serialize, ToSchema)]
pub(super) struct TenantList {
    tenants: Vec<TenantSummary>,
}

/// Every tenant the pipeline has seen.
#[utoipa::path(get, path = "/v1/admin/tenants", security(("admin_token" = [])),
    responses((status = 200, body = TenantList), AdminErrors))]
pub(super) async fn tenants(_: Admin, State(state): State<ApiState>) -> Json<TenantList> {
    let snapshot = state.index.snapshot();
    let tenants = snapshot
        .tenants
        .iter()
        .map(|(tenant_id, view)| TenantSummary {
            tenant_id: tenant_id.clone(),
            stock_positions: view.stock.len(),
            open_alerts: view.open_alerts,
        })
        .collect();
    Json(TenantList { tenants })
}

/// How far the results reach into the inputs.
#[derive(Serialize, ToSchema)]
pub(super) struct Progress {
    /// The pipeline time the results are complete up to.
    as_of: u64,
    /// Per topic, per partition, the next offset the results cover.
    sources: BTreeMap<String, BTreeMap<String, u64>>,
}

/// The next offset consumed per input partition, and the time the results are complete up to.
#[utoipa::path(get, path = "/v1/admin/progress", security(("admin_token" = [])),
    responses((status = 200, body = Progress), AdminErrors))]
pub(super) async fn progress(_: Admin, State(state): State<ApiState>) -> Json<Progress> {
    let snapshot = state.index.snapshot();
    let mut sources = BTreeMap::<String, BTreeMap<String, u64>>::new();
    for (topic, partition, next_offset) in snapshot.progress.iter() {
        sources.entry(state.topics.name(topic).to_string()).or_default().insert(partition.to_string(), next_offset);
    }
    Json(Progress { as_of: snapshot.as_of, sources })
}

#[cfg(test)]
mod tests {
    use super::valid_tenant_id;

    #[test]
    fn tenant_ids_are_short_printable_and_slash_free() {
        assert!(valid_tenant_id("acme-wholesale"));
        assert!(valid_tenant_id("ÉTS-Dupont"));
        for bad in ["", "a/b", "a b", "tab\t", &"x".repeat(129)] {
            assert!(!valid_tenant_id(bad), "{bad:?}");
        }
    }
}
