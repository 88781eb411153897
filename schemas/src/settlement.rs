//! Settlement totals per (tenant, currency, settlement date): the settlements output's keys and
//! values.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Aggregate, Currency, Id, PaymentKind, TimestampMillis};

/// A UTC calendar date, as days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SettlementDate(pub i32);

const UNIX_EPOCH_JULIAN_DAY: i32 = 2_440_588;
const MILLIS_PER_DAY: i64 = 86_400_000;

impl SettlementDate {
    /// The UTC date of a timestamp.
    pub fn of(timestamp: TimestampMillis) -> SettlementDate {
        SettlementDate(timestamp.div_euclid(MILLIS_PER_DAY) as i32)
    }

    /// Parses `YYYY-MM-DD`; `None` for anything else or a date that does not exist.
    pub fn parse(text: &str) -> Option<SettlementDate> {
        let mut parts = text.splitn(3, '-');
        let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
        if year.len() != 4 || month.len() != 2 || day.len() != 2 {
            return None;
        }
        let month = time::Month::try_from(month.parse::<u8>().ok()?).ok()?;
        let date = time::Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()?;
        Some(SettlementDate(date.to_julian_day() - UNIX_EPOCH_JULIAN_DAY))
    }
}

impl fmt::Display for SettlementDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match time::Date::from_julian_day(self.0.saturating_add(UNIX_EPOCH_JULIAN_DAY)) {
            Ok(date) => write!(f, "{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day()),
            Err(_) => write!(f, "day {} since 1970-01-01", self.0),
        }
    }
}

/// What settlement totals are kept for: a tenant's currency on one UTC date.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SettlementKey {
    /// The merchant.
    pub tenant_id: Id,
    /// The currency of the amounts.
    pub currency: Currency,
    /// The UTC date of the payments' `occurred_at`.
    pub settlement_date: SettlementDate,
}

/// Sums of `amount_minor` by payment kind.
///
/// Nothing wraps (`CONTRACT.md` §2): the settlement operator adds every payment with
/// [`checked_add_payment`](SettlementTotals::checked_add_payment), so the totals the pipeline
/// holds keep every sum and `net` inside the signed 64-bit range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SettlementTotals {
    /// CAPTURED.
    pub captured: i64,
    /// REFUNDED.
    pub refunded: i64,
    /// CHARGEBACK.
    pub chargebacks: i64,
    /// FEE.
    pub fees: i64,
    /// PAYOUT.
    pub payouts: i64,
    /// AUTHORIZED: pending, not in `net`.
    pub authorized: i64,
    /// How many payments count here (the totals exist while this is positive).
    pub payments: i64,
}

impl SettlementTotals {
    /// `captured - refunded - chargebacks - fees`: exact for totals the pipeline holds, which
    /// never leave it out of range; saturates (never wraps) for any other.
    pub fn net(&self) -> i64 {
        self.checked_net().unwrap_or_else(|| {
            let exact = i128::from(self.captured) - i128::from(self.refunded) - i128::from(self.chargebacks);
            (exact - i128::from(self.fees)).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
        })
    }

    /// `net`, if in range. Every sum is a sum of positive amounts, so the partial differences lie
    /// between `captured` and `net`: checking each step is checking `net`.
    fn checked_net(&self) -> Option<i64> {
        self.captured.checked_sub(self.refunded)?.checked_sub(self.chargebacks)?.checked_sub(self.fees)
    }

    /// The totals after one more payment of `kind` and `amount_minor`, with every sum and `net`
    /// in range; else the first aggregate out of range: the kind's sum, the payment count, then
    /// `net`.
    pub fn checked_add_payment(&self, kind: PaymentKind, amount_minor: i64) -> Result<SettlementTotals, Aggregate> {
        let mut totals = *self;
        let (sum, aggregate) = match kind {
            PaymentKind::Captured => (&mut totals.captured, Aggregate::Captured),
            PaymentKind::Refunded => (&mut totals.refunded, Aggregate::Refunded),
            PaymentKind::Chargeback => (&mut totals.chargebacks, Aggregate::Chargebacks),
            PaymentKind::Fee => (&mut totals.fees, Aggregate::Fees),
            PaymentKind::Payout => (&mut totals.payouts, Aggregate::Payouts),
            PaymentKind::Authorized => (&mut totals.authorized, Aggregate::Authorized),
        };
        *sum = sum.checked_add(amount_minor).ok_or(aggregate)?;
        totals.payments = totals.payments.checked_add(1).ok_or(Aggregate::PaymentCount)?;
        totals.checked_net().ok_or(Aggregate::Net)?;
        Ok(totals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_keeps_its_sum_and_net_in_range_by_exactly_one() {
        let near =
            |captured, refunded| SettlementTotals { captured, refunded, payments: 2, ..SettlementTotals::default() };
        let captured = near(i64::MAX - 5, 0).checked_add_payment(PaymentKind::Captured, 5);
        assert_eq!(
            captured.map(|totals| (totals.captured, totals.net(), totals.payments)),
            Ok((i64::MAX, i64::MAX, 3))
        );
        assert_eq!(near(i64::MAX - 5, 0).checked_add_payment(PaymentKind::Captured, 6), Err(Aggregate::Captured));
        // net = 0 - MAX - 1 = MIN: in range; one more fee is not, though fees itself is.
        let at_min = near(0, i64::MAX).checked_add_payment(PaymentKind::Fee, 1);
        assert_eq!(at_min.map(|totals| totals.net()), Ok(i64::MIN));
        assert_eq!(at_min.unwrap().checked_add_payment(PaymentKind::Fee, 1), Err(Aggregate::Net));
        // Payouts and authorizations are not in net.
        let authorized = SettlementTotals { authorized: i64::MAX, ..near(0, i64::MAX) };
        assert_eq!(authorized.checked_add_payment(PaymentKind::Authorized, 1), Err(Aggregate::Authorized));
        assert!(near(0, i64::MAX).checked_add_payment(PaymentKind::Payout, i64::MAX).is_ok());
    }

    #[test]
    fn settlement_dates_are_utc_calendar_days() {
        assert_eq!(SettlementDate::of(0).to_string(), "1970-01-01");
        assert_eq!(SettlementDate::of(-1).to_string(), "1969-12-31");
        assert_eq!(SettlementDate::of(1_764_028_799_999).to_string(), "2025-11-24");
        assert_eq!(SettlementDate::of(1_764_028_800_000).to_string(), "2025-11-25");
        assert_eq!(SettlementDate::parse("2025-11-25"), Some(SettlementDate::of(1_764_028_800_000)));
        for bad in ["2025-02-30", "2025-13-01", "25-11-25", "2025-1-05", "2025-11-25x", ""] {
            assert_eq!(SettlementDate::parse(bad), None, "{bad:?}");
        }
    }
}
