//! `settlement_totals` (the API's rows) and `recovery_settlement_payments` (how many payments
//! each row counts).

use flowmart_schemas::{Currency, SettlementDate, SettlementKey, SettlementTotals};
use sqlx::{PgConnection, Row};

use super::{id, texts};
use crate::RecoverError;

/// Writes the batch's new totals (`None`: the row is gone); returns result rows written.
pub(crate) async fn write(
    connection: &mut PgConnection,
    changes: &[(SettlementKey, Option<SettlementTotals>)],
) -> Result<usize, sqlx::Error> {
    let upserts = changes.iter().filter_map(|(key, totals)| Some((key, (*totals)?))).collect::<Vec<_>>();
    let deletes = changes.iter().filter(|(_, totals)| totals.is_none()).map(|(key, _)| key).collect::<Vec<_>>();
    Ok(upsert(connection, &upserts).await? + delete(connection, &deletes).await?)
}

async fn upsert(
    connection: &mut PgConnection,
    upserts: &[(&SettlementKey, SettlementTotals)],
) -> Result<usize, sqlx::Error> {
    if upserts.is_empty() {
        return Ok(0);
    }
    let column =
        |field: fn(&SettlementTotals) -> i64| upserts.iter().map(|(_, totals)| field(totals)).collect::<Vec<_>>();
    let keys = upserts.iter().map(|(key, _)| *key).collect::<Vec<_>>();
    let dates = keys.iter().map(|key| key.settlement_date.to_string()).collect::<Vec<_>>();
    let currencies = keys.iter().map(|key| key.currency.to_string()).collect::<Vec<_>>();
    let rows = sqlx::query(
        "INSERT INTO settlement_totals (tenant_id, currency, date, captured, refunded, chargebacks, fees, payouts, net, authorized)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]::date[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[])
         ON CONFLICT (tenant_id, currency, date) DO UPDATE SET
           captured = EXCLUDED.captured, refunded = EXCLUDED.refunded, chargebacks = EXCLUDED.chargebacks,
           fees = EXCLUDED.fees, payouts = EXCLUDED.payouts, net = EXCLUDED.net, authorized = EXCLUDED.authorized",
    )
    .bind(texts(&keys, |key| &key.tenant_id))
    .bind(&currencies)
    .bind(&dates)
    .bind(column(|totals| totals.captured))
    .bind(column(|totals| totals.refunded))
    .bind(column(|totals| totals.chargebacks))
    .bind(column(|totals| totals.fees))
    .bind(column(|totals| totals.payouts))
    .bind(column(|totals| totals.net()))
    .bind(column(|totals| totals.authorized))
    .execute(&mut *connection)
    .await?
    .rows_affected();
    sqlx::query(
        "INSERT INTO recovery_settlement_payments (tenant_id, currency, date, payments)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]::date[], $4::int8[])
         ON CONFLICT (tenant_id, currency, date) DO UPDATE SET payments = EXCLUDED.payments",
    )
    .bind(texts(&keys, |key| &key.tenant_id))
    .bind(&currencies)
    .bind(&dates)
    .bind(column(|totals| totals.payments))
    .execute(&mut *connection)
    .await?;
    Ok(rows as usize)
}

async fn delete(connection: &mut PgConnection, deletes: &[&SettlementKey]) -> Result<usize, sqlx::Error> {
    if deletes.is_empty() {
        return Ok(0);
    }
    let rows = sqlx::query(
        "WITH gone AS (SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]::date[]) AS gone(tenant_id, currency, date)),
              payments AS (DELETE FROM recovery_settlement_payments WHERE (tenant_id, currency, date) IN (SELECT * FROM gone))
         DELETE FROM settlement_totals WHERE (tenant_id, currency, date) IN (SELECT * FROM gone)",
    )
    .bind(texts(deletes, |key| &key.tenant_id))
    .bind(deletes.iter().map(|key| key.currency.to_string()).collect::<Vec<_>>())
    .bind(deletes.iter().map(|key| key.settlement_date.to_string()).collect::<Vec<_>>())
    .execute(&mut *connection)
    .await?
    .rows_affected();
    Ok(rows as usize)
}

/// Every stored row with its totals.
pub(crate) async fn read(
    connection: &mut PgConnection,
) -> Result<Vec<(SettlementKey, SettlementTotals)>, RecoverError> {
    let rows = sqlx::query(
        "SELECT tenant_id, currency, date::text AS date, captured, refunded, chargebacks, fees, payouts, authorized, payments
         FROM settlement_totals JOIN recovery_settlement_payments USING (tenant_id, currency, date)",
    )
    .fetch_all(connection)
    .await?;
    rows.into_iter()
        .map(|row| {
            let currency: &str = row.get("currency");
            let date: &str = row.get("date");
            let key = SettlementKey {
                tenant_id: id(&row, "tenant_id"),
                currency: Currency::parse(currency)
                    .ok_or_else(|| RecoverError::Corrupt(format!("currency {currency:?}")))?,
                settlement_date: SettlementDate::parse(date)
                    .ok_or_else(|| RecoverError::Corrupt(format!("date {date:?}")))?,
            };
            let totals = SettlementTotals {
                captured: row.get("captured"),
                refunded: row.get("refunded"),
                chargebacks: row.get("chargebacks"),
                fees: row.get("fees"),
                payouts: row.get("payouts"),
                authorized: row.get("authorized"),
                payments: row.get("payments"),
            };
            Ok((key, totals))
        })
        .collect()
}
