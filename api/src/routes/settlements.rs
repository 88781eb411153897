//! `GET /v1/settlements`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use flowmart_schemas::{Currency, SettlementDate, SettlementTotals};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::fresh;
use crate::auth::Tenant;
use crate::error::TenantReadErrors;
use crate::{ApiError, ApiState};

/// Filters of the settlement totals.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct SettlementFilter {
    /// Only this ISO 4217 currency.
    #[param(pattern = "^[A-Z]{3}$")]
    currency: Option<String>,
    /// From this UTC date (`YYYY-MM-DD`), inclusive.
    #[param(format = Date)]
    from: Option<String>,
    /// To this UTC date (`YYYY-MM-DD`), inclusive.
    #[param(format = Date)]
    to: Option<String>,
    /// Wait (up to 5 s) for results complete up to at least this pipeline time (ms): 409 at once
    /// if it is ahead of the server's clock.
    #[param(maximum = 4_102_444_799_999_u64)]
    min_as_of: Option<u64>,
}

/// The totals of one day and currency (`net` = captured − refunded − chargebacks − fees).
#[derive(Serialize, ToSchema)]
pub(super) struct SettlementItem {
    date: String,
    currency: String,
    captured: i64,
    refunded: i64,
    chargebacks: i64,
    fees: i64,
    payouts: i64,
    net: i64,
    authorized: i64,
}

impl SettlementItem {
    pub(super) fn new(date: SettlementDate, currency: Currency, totals: &SettlementTotals) -> Self {
        SettlementItem {
            date: date.to_string(),
            currency: currency.to_string(),
            captured: totals.captured,
            refunded: totals.refunded,
            chargebacks: totals.chargebacks,
            fees: totals.fees,
            payouts: totals.payouts,
            net: totals.net(),
            authorized: totals.authorized,
        }
    }
}

/// The tenant's settlement totals by day and currency.
#[derive(Serialize, ToSchema)]
pub(super) struct SettlementList {
    as_of: u64,
    items: Vec<SettlementItem>,
}

/// The currency of `?currency=`, checked.
pub(super) fn currency(code: &str) -> Result<Currency, ApiError> {
    Currency::parse(code)
        .ok_or_else(|| ApiError::BadRequest(format!("currency must be 3 upper-case letters, got {code:?}")))
}

fn date(name: &str, text: Option<&str>) -> Result<Option<SettlementDate>, ApiError> {
    text.map(|text| {
        SettlementDate::parse(text)
            .ok_or_else(|| ApiError::BadRequest(format!("{name} must be a date YYYY-MM-DD, got {text:?}")))
    })
    .transpose()
}

/// The tenant's settlement totals per day and currency.
#[utoipa::path(get, path = "/v1/settlements", params(SettlementFilter), security(("tenant_key" = [])),
    responses((status = 200, body = SettlementList), TenantReadErrors))]
pub(super) async fn list(
    Tenant(tenant_id): Tenant,
    State(state): State<ApiState>,
    filter: Result<Query<SettlementFilter>, QueryRejection>,
) -> Result<Json<SettlementList>, ApiError> {
    let Query(filter) = filter?;
    let currency = filter.currency.as_deref().map(currency).transpose()?;
    let from = date("from", filter.from.as_deref())?;
    // (`from` after `to` is an empty range: no item.)
    let to = date("to", filter.to.as_deref())?;
    let snapshot = fresh::snapshot(&state, filter.min_as_of).await?;
    let items = snapshot
        .tenant(&tenant_id)
        .map(|view| {
            view.settlements
                .iter()
                .filter(|((settlement_date, code), _)| {
                    currency.is_none_or(|wanted| wanted == *code)
                        && from.is_none_or(|from| *settlement_date >= from)
                        && to.is_none_or(|to| *settlement_date <= to)
                })
                .map(|((settlement_date, code), totals)| SettlementItem::new(*settlement_date, *code, totals))
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(SettlementList { as_of: snapshot.as_of, items }))
}
