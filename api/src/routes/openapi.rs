//! `GET /openapi.json`: the OpenAPI 3 document, generated from the handlers' annotations and the
//! response types (utoipa), so it cannot drift from the code; then refined where a constraint
//! cannot be written as an annotation: each `cursor`'s format (what a client may send is only a
//! `next_cursor` of the same route kind) and the tenant id rule.

use std::sync::OnceLock;

use axum::Json;
use serde_json::{Value, json};
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
pub(super) async fn document() -> Json<Value> {
    static REFINED: OnceLock<Value> = OnceLock::new();
    Json(REFINED.get_or_init(refined).clone())
}

/// The generated document with each page cursor's format: `stock-cursor`, `alert-cursor`,
/// `history-cursor` or `audit-cursor` (the hex of the JSON sort key of a page's last item).
fn refined() -> Value {
    let mut document = serde_json::to_value(ApiDocument::openapi()).expect("the document serializes");
    for_each_parameter(&mut document, |path, parameter| {
        if parameter["name"] == "tenant_id" {
            let schema = &mut parameter["schema"];
            schema["minLength"] = json!(1);
            schema["maxLength"] = json!(128);
            schema["pattern"] = json!(super::admin::TENANT_ID_PATTERN);
        }
        if parameter["name"] == "cursor" && parameter["in"] == "query" {
            let format = if path.ends_with("/history") {
                "history-cursor"
            } else if path.ends_with("/audit") {
                "audit-cursor"
            } else if path.starts_with("/v1/reorder-alerts") {
                "alert-cursor"
            } else {
                "stock-cursor"
            };
            parameter["schema"]["format"] = json!(format);
        }
    });
    document
}

/// Calls `refine` with each operation's path and each of its parameters.
fn for_each_parameter(document: &mut Value, mut refine: impl FnMut(&str, &mut Value)) {
    let Some(paths) = document["paths"].as_object_mut() else { return };
    for (path, item) in paths {
        let Some(operations) = item.as_object_mut() else { continue };
        for operation in operations.values_mut() {
            let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) else { continue };
            for parameter in parameters {
                refine(path, parameter);
            }
        }
    }
}
