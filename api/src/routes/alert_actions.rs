//! `POST /v1/reorder-alerts/{alert_id}/acknowledge` and `/snooze`: procurement acts on an alert.
//!
//! Each action is kept with the alert (and goes with it), stored with its audit record when the
//! API has a database, answered with the alert as listed, and pushed on the alert stream and to
//! webhooks as an `UPDATED` of the alert carrying `acknowledged_at`, `acknowledged_by`, `note` and
//! `snoozed_until`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use flowmart_schemas::{AlertState, Id};
use flowmart_serving::{AlertAnnotation, NotAnnotated};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::alerts::AlertItem;
use crate::alert_annotations::AnnotationTable;
use crate::audit::AuditEntry;
use crate::auth::KeyHolder;
use crate::error::{ErrorBody, TenantKeyErrors};
use crate::{ApiError, ApiState};

/// The longest note kept, in characters.
const MAX_NOTE_CHARS: usize = 1_000;

/// An acknowledgement.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Acknowledgement {
    /// Why, for the team (up to 1,000 characters, no NUL).
    #[schema(max_length = 1000, pattern = r"^[^\u0000]*$")]
    note: Option<String>,
}

/// A snooze.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Snooze {
    /// Until when (RFC 3339). A time already passed leaves the alert not snoozed.
    #[schema(format = DateTime)]
    until: String,
    /// Why, for the team (up to 1,000 characters, no NUL).
    #[schema(max_length = 1000, pattern = r"^[^\u0000]*$")]
    note: Option<String>,
}

fn checked_note(note: Option<String>) -> Result<Option<String>, ApiError> {
    match note {
        Some(note) if note.chars().count() > MAX_NOTE_CHARS => {
            Err(ApiError::BadRequest(format!("note must be at most {MAX_NOTE_CHARS} characters")))
        }
        // Postgres text cannot hold it.
        Some(note) if note.contains('\0') => Err(ApiError::BadRequest("note must not contain NUL (U+0000)".into())),
        note => Ok(note),
    }
}

/// Acknowledges one of the tenant's alerts: it leaves `?needs_attention=true`.
#[utoipa::path(post, path = "/v1/reorder-alerts/{alert_id}/acknowledge", request_body = Acknowledgement,
    params(("alert_id" = String, Path, min_length = 1, description = "the alert")),
    security(("tenant_key" = [])),
    responses((status = 200, body = AlertItem),
        (status = 400, description = "a bad body", body = ErrorBody),
        (status = 404, description = "the tenant has no such alert", body = ErrorBody),
        (status = 409, description = "the alert is resolved", body = ErrorBody),
        (status = 503, description = "the annotation store is unavailable", body = ErrorBody),
        TenantKeyErrors))]
pub(super) async fn acknowledge(
    holder: KeyHolder,
    State(state): State<ApiState>,
    alert_id: Result<Path<String>, PathRejection>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Json<AlertItem>, ApiError> {
    let Path(alert_id) = alert_id?;
    let acknowledgement: Acknowledgement = super::object_body(body)?;
    let note = checked_note(acknowledgement.note)?;
    let audit = AuditEntry::alert_acknowledged(&holder.key_id, &holder.tenant_id, &alert_id, note.as_deref());
    annotate(&state, &holder, alert_id, audit, |annotation, now| AlertAnnotation {
        acknowledged_at: Some(now),
        acknowledged_by: Some(holder.key_id.clone()),
        note: note.clone().or(annotation.note),
        ..annotation
    })
    .await
}

/// Snoozes one of the tenant's alerts until a time: it leaves `?needs_attention=true` until then.
#[utoipa::path(post, path = "/v1/reorder-alerts/{alert_id}/snooze", request_body = Snooze,
    params(("alert_id" = String, Path, min_length = 1, description = "the alert")),
    security(("tenant_key" = [])),
    responses((status = 200, body = AlertItem),
        (status = 400, description = "a bad body (e.g. `until` not RFC 3339)", body = ErrorBody),
        (status = 404, description = "the tenant has no such alert", body = ErrorBody),
        (status = 409, description = "the alert is resolved", body = ErrorBody),
        (status = 503, description = "the annotation store is unavailable", body = ErrorBody),
        TenantKeyErrors))]
pub(super) async fn snooze(
    holder: KeyHolder,
    State(state): State<ApiState>,
    alert_id: Result<Path<String>, PathRejection>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Json<AlertItem>, ApiError> {
    let Path(alert_id) = alert_id?;
    let snooze: Snooze = super::object_body(body)?;
    let note = checked_note(snooze.note)?;
    let until = OffsetDateTime::parse(&snooze.until, &Rfc3339)
        .map_err(|_| ApiError::BadRequest(format!("until must be an RFC 3339 time, got {:?}", snooze.until)))?;
    let until = i64::try_from(until.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| ApiError::BadRequest("until is out of range".into()))?;
    let audit = AuditEntry::alert_snoozed(&holder.key_id, &holder.tenant_id, &alert_id, until, note.as_deref());
    annotate(&state, &holder, alert_id, audit, |annotation, _| AlertAnnotation {
        snoozed_until: Some(until),
        note: note.clone().or(annotation.note),
        ..annotation
    })
    .await
}

/// Applies `change` to the alert's annotation: stored (with `audit`) when there is a database,
/// then kept and published by the index — one change at a time, so none overwrites another.
async fn annotate(
    state: &ApiState,
    holder: &KeyHolder,
    alert_id: String,
    audit: AuditEntry,
    change: impl Fn(AlertAnnotation, i64) -> AlertAnnotation,
) -> Result<Json<AlertItem>, ApiError> {
    let not_found = || ApiError::NotFound(format!("no reorder alert {alert_id:?}"));
    let refused = |why| match why {
        NotAnnotated::NotHeld => not_found(),
        NotAnnotated::Resolved => {
            ApiError::Conflict(format!("reorder alert {alert_id:?} is resolved; a new crossing is a new alert"))
        }
    };
    let tenant_id = &holder.tenant_id;
    let alert_id = Id::from(alert_id.as_str());
    let _annotating = state.index.annotating().await;
    let snapshot = state.index.snapshot();
    let view = snapshot.tenant(tenant_id).ok_or_else(not_found)?;
    match view.alerts.get(&alert_id) {
        None => return Err(not_found()),
        Some(alert) if alert.state == AlertState::Resolved => return Err(refused(NotAnnotated::Resolved)),
        Some(_) => {}
    }
    let now = super::now_ms();
    let annotation = change(state.index.annotation(tenant_id, &alert_id).unwrap_or_default(), now);
    if let Some(store) = &state.database {
        AnnotationTable::new(store).store(tenant_id, &alert_id, &annotation, &audit).await.map_err(|error| {
            tracing::error!(%error, "cannot store an alert annotation");
            ApiError::Unavailable("the annotation store is unavailable; retry later")
        })?;
    }
    let alert = state.index.annotate(tenant_id, &alert_id, annotation.clone(), now).map_err(refused)?;
    tracing::info!(%tenant_id, %alert_id, key_id = %holder.key_id, "annotated an alert");
    Ok(Json(AlertItem::new(&alert, view, Some(&annotation))))
}
