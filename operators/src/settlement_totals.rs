//! Settlement totals per (tenant, currency, settlement date).

use differential_dataflow::operators::CountTotal;
use flowmart_schemas::{Currency, PaymentEvent, SettlementDate, SettlementKey, SettlementTotals};

use crate::{Collection, Sourced};

/// **In:** deduplicated, validated payment events (a payment whose currency does not parse
/// contributes nothing; validation sends those to the DLQ first), and recovered totals (each
/// key's as its difference). **Out:** per (tenant,
/// currency, UTC date of `occurred_at`), `(key, totals)`; a change retracts the old pair and adds
/// the new one.
///
/// **State:** one consolidated [`SettlementTotals`] per key in the input arrangement — bounded
/// by tenants × currencies × days, not by payments.
pub fn settlement_totals<'scope>(
    payments: Collection<'scope, Sourced<PaymentEvent>>,
    recovered: Collection<'scope, SettlementKey, SettlementTotals>,
) -> Collection<'scope, (SettlementKey, SettlementTotals)> {
    payments
        .explode(|record| {
            let payment = record.event;
            let currency = Currency::parse(&payment.currency)?;
            let key = SettlementKey {
                tenant_id: payment.tenant_id,
                currency,
                settlement_date: SettlementDate::of(payment.occurred_at),
            };
            Some((key, SettlementTotals::of_payment(payment.kind, payment.amount_minor)))
        })
        .concat(recovered)
        .count_total()
}
