//! `GET /v1/settlements`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use flowmart_operators::settlement_totals::SettlementDate;
use flowmart_schemas::Currency;
use serde::{Deserialize, Serialize};

use super::fresh;
use crate::auth::Tenant;
use crate::{ApiError, ApiState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SettlementFilter {
    currency: Option<String>,
    from: Option<String>,
    to: Option<String>,
    min_as_of: Option<u64>,
}

#[derive(Serialize)]
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

#[derive(Serialize)]
pub(super) struct SettlementList {
    as_of: u64,
    items: Vec<SettlementItem>,
}

fn date(name: &str, text: Option<&str>) -> Result<Option<SettlementDate>, ApiError> {
    text.map(|text| {
        SettlementDate::parse(text)
            .ok_or_else(|| ApiError::BadRequest(format!("{name} must be a date YYYY-MM-DD, got {text:?}")))
    })
    .transpose()
}

pub(super) async fn list(
    Tenant(tenant_id): Tenant,
    State(state): State<ApiState>,
    filter: Result<Query<SettlementFilter>, QueryRejection>,
) -> Result<Json<SettlementList>, ApiError> {
    let Query(filter) = filter?;
    let currency = filter
        .currency
        .as_deref()
        .map(|code| {
            Currency::parse(code)
                .ok_or_else(|| ApiError::BadRequest(format!("currency must be 3 upper-case letters, got {code:?}")))
        })
        .transpose()?;
    let from = date("from", filter.from.as_deref())?;
    let to = date("to", filter.to.as_deref())?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(ApiError::BadRequest(format!("from ({from}) is after to ({to})")));
    }
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
                .map(|((settlement_date, code), totals)| SettlementItem {
                    date: settlement_date.to_string(),
                    currency: code.to_string(),
                    captured: totals.captured,
                    refunded: totals.refunded,
                    chargebacks: totals.chargebacks,
                    fees: totals.fees,
                    payouts: totals.payouts,
                    net: totals.net(),
                    authorized: totals.authorized,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(SettlementList { as_of: snapshot.as_of, items }))
}
