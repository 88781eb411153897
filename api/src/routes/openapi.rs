//! `GET /openapi.json`: the OpenAPI 3 document, generated from the handlers' annotations and the
//! response types (utoipa), so it cannot drift from the code.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    admin, alert_actions, alerts, audit, change_stream, health, history, settlements, stock, stream, webhooks,
};
use crate::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(title = "FlowMart Streams query API", description = "Each tenant's live stock, reorder alerts and settlement totals (CONTRACT.md §4)."),
    paths(
        stock::list, stock::one, history::stock, alerts::list, settlements::list, history::settlement, stream::alerts,
        alert_actions::acknowledge, alert_actions::snooze, change_stream::stock, change_stream::settlements,
        webhooks::register, webhooks::list, webhooks::remove, webhooks::deliveries,
        admin::issue_key, admin::list_keys, admin::revoke_key, admin::tenants, admin::progress,
        audit::tenant, audit::admin,
        health::live, health::ready, health::metrics, document,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerSchemes),
)]
struct ApiDocument;

/// The two bearer schemes: a tenant's API key, and the admin token.
struct BearerSchemes;

impl Modify for BearerSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for name in ["tenant_key", "admin_token"] {
            components.add_security_scheme(name, SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "the OpenAPI 3 document")))]
pub(super) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDocument::openapi())
}
