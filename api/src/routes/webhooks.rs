//! `/v1/webhooks`: a tenant's webhooks — register, list, remove, read the delivery log.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{KeyHolder, Tenant};
use crate::error::{ErrorBody, TenantKeyErrors};
use crate::webhooks::{Delivery, WebhookError, WebhookInfo};
use crate::{ApiError, ApiState};

/// What to register.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewWebhook {
    /// Where to post each alert change: an absolute http or https URL whose host has a public
    /// address (or one on the operator's allow-list). A URL of this shape that is not one, or
    /// whose host is refused, is answered 403.
    #[schema(max_length = 2048, pattern = "^https?://[^/?#]")]
    url: String,
}

/// Whether `url` has the shape the document declares: at most 2,048 characters, `http://` or
/// `https://`, then a host's first character.
fn declared_shape(url: &str) -> bool {
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    url.chars().count() <= 2048 && rest.and_then(|rest| rest.chars().next()).is_some_and(|c| !"/?#".contains(c))
}

/// A webhook just registered, with the secret its deliveries are signed with (shown once).
#[derive(Serialize, ToSchema)]
pub(super) struct RegisteredWebhook {
    #[serde(flatten)]
    webhook: WebhookInfo,
    /// The HMAC-SHA256 key of `X-FlowMart-Timestamped-Signature` and `X-FlowMart-Signature`.
    secret: String,
}

/// The tenant's webhooks.
#[derive(Serialize, ToSchema)]
pub(super) struct WebhookList {
    items: Vec<WebhookInfo>,
}

/// A webhook's delivery log, oldest first (the last 1,000).
#[derive(Serialize, ToSchema)]
pub(super) struct DeliveryLog {
    items: Vec<Delivery>,
}

fn webhook_failure(error: WebhookError) -> ApiError {
    match error {
        WebhookError::BadUrl(_) | WebhookError::AddressRefused(_) => ApiError::Forbidden(error.to_string()),
        WebhookError::Randomness => ApiError::Unavailable("no randomness available to make a secret"),
        WebhookError::Store(error) => {
            tracing::error!(%error, "webhook store failed");
            ApiError::Unavailable("the webhook store is unavailable; retry later")
        }
    }
}

/// Registers a webhook: each of the tenant's alert changes from now on is posted to it, signed
/// (`X-FlowMart-Timestamped-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.delivery_id.body">`).
#[utoipa::path(post, path = "/v1/webhooks", request_body = NewWebhook, security(("tenant_key" = [])),
    responses((status = 201, body = RegisteredWebhook),
        (status = 400, description = "a bad body, or a url not of the declared shape", body = ErrorBody),
        (status = 403, description = "a url that is not one, or whose host does not reach an allowed address", body = ErrorBody),
        TenantKeyErrors))]
pub(super) async fn register(
    holder: KeyHolder,
    State(state): State<ApiState>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<(StatusCode, Json<RegisteredWebhook>), ApiError> {
    let new: NewWebhook = super::object_body(body)?;
    if !declared_shape(&new.url) {
        return Err(ApiError::BadRequest(format!(
            "url must be an http:// or https:// URL of at most 2048 characters, got {:?}",
            new.url
        )));
    }
    let tenant_id = &holder.tenant_id;
    let (webhook, secret) =
        state.webhooks.register(tenant_id, &new.url, &holder.actor()).await.map_err(webhook_failure)?;
    tracing::info!(%tenant_id, webhook_id = %webhook.webhook_id, "registered a webhook");
    Ok((StatusCode::CREATED, Json(RegisteredWebhook { webhook, secret })))
}

/// The tenant's webhooks.
#[utoipa::path(get, path = "/v1/webhooks", security(("tenant_key" = [])),
    responses((status = 200, body = WebhookList), TenantKeyErrors))]
pub(super) async fn list(Tenant(tenant_id): Tenant, State(state): State<ApiState>) -> Json<WebhookList> {
    Json(WebhookList { items: state.webhooks.list(&tenant_id) })
}

/// Removes a webhook; its deliveries stop.
#[utoipa::path(delete, path = "/v1/webhooks/{webhook_id}", params(("webhook_id" = String, Path)),
    security(("tenant_key" = [])),
    responses((status = 204, description = "removed"), (status = 404, description = "no such webhook", body = ErrorBody),
        TenantKeyErrors))]
pub(super) async fn remove(
    holder: KeyHolder,
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(webhook_id) = path?;
    if state.webhooks.remove(&holder.tenant_id, &webhook_id, &holder.actor()).await.map_err(webhook_failure)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no webhook {webhook_id:?}")))
    }
}

/// A webhook's delivery log.
#[utoipa::path(get, path = "/v1/webhooks/{webhook_id}/deliveries", params(("webhook_id" = String, Path)),
    security(("tenant_key" = [])),
    responses((status = 200, body = DeliveryLog), (status = 404, description = "no such webhook", body = ErrorBody),
        TenantKeyErrors))]
pub(super) async fn deliveries(
    Tenant(tenant_id): Tenant,
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<DeliveryLog>, ApiError> {
    let Path(webhook_id) = path?;
    let items = state
        .webhooks
        .deliveries(&tenant_id, &webhook_id)
        .ok_or_else(|| ApiError::NotFound(format!("no webhook {webhook_id:?}")))?;
    Ok(Json(DeliveryLog { items }))
}
