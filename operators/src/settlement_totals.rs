//! Settlement totals per (tenant, currency, settlement date), with nothing wrapping.

use differential_dataflow::AsCollection;
use flowmart_schemas::{
    AggregateKey, AggregateOutOfRange, Currency, Diff, InputTopic, PaymentEvent, RecordSource, RefusedRecord,
    SettlementDate, SettlementHistoryRow, SettlementKey, SettlementTotals, tenant_hash,
};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use crate::stash::{TimeOrderedStash, joint_frontiers};
use crate::{Collection, Sourced, StateMap, Time};

/// What comes out of [`settlement_totals`].
pub struct SettlementOutputs<'scope> {
    /// `(key, totals)` per settlement with a payment.
    pub totals: Collection<'scope, (SettlementKey, SettlementTotals)>,
    /// The payments refused because they would take a sum or `net` out of range.
    pub refused: Collection<'scope, RefusedRecord>,
    /// Lineage: one row per payment applied.
    pub history: Collection<'scope, SettlementHistoryRow>,
}

/// The settlement a payment counts in; `None` for a currency that does not parse (validation
/// sends those to the DLQ first).
fn settlement_of(payment: &PaymentEvent) -> Option<SettlementKey> {
    Some(SettlementKey {
        tenant_id: payment.tenant_id.clone(),
        currency: Currency::parse(&payment.currency)?,
        settlement_date: SettlementDate::of(payment.occurred_at),
    })
}

/// What one time of the operator's input holds.
enum Update {
    Payment(Sourced<PaymentEvent>),
    Recovered((SettlementKey, SettlementTotals)),
}

/// **In:** deduplicated, validated payment events, and recovered totals. **Out:**
/// [`SettlementOutputs`]: per (tenant, currency, UTC date of `occurred_at`), `(key, totals)` — a
/// change retracts the old pair and adds the new one, once per time — and every payment refused
/// because its amount would take its kind's sum or `net` out of the signed 64-bit range
/// (`CONTRACT.md` §2, "Nothing wraps"), which changes nothing — and, for every payment applied,
/// its [`SettlementHistoryRow`] at the time it was applied (none for a refused payment): per key,
/// the rows' amounts of each kind sum to that kind's total.
///
/// **Order:** each time once complete, payments are added by source position (partition, then
/// offset), so which one is refused is the same for any worker count and arrival order. Routed by
/// tenant ([`tenant_hash`], as the stock operator): a tenant's totals are made in the process that
/// serves it.
///
/// **State:** one [`SettlementTotals`] per key — about 100 bytes in the hash map, bounded by
/// tenants × currencies × days, not by payments.
pub fn settlement_totals<'scope>(
    payments: Collection<'scope, Sourced<PaymentEvent>>,
    recovered: Collection<'scope, (SettlementKey, SettlementTotals)>,
) -> SettlementOutputs<'scope> {
    let mut builder = OperatorBuilder::new("SettlementTotals".to_owned(), payments.inner.scope());
    let mut payments = builder.new_input(
        payments.inner,
        Exchange::new(|(record, _, _): &(Sourced<PaymentEvent>, Time, Diff)| tenant_hash(&record.event.tenant_id)),
    );
    let mut recovered = builder.new_input(
        recovered.inner,
        Exchange::new(|((key, _), _, _): &((SettlementKey, SettlementTotals), Time, Diff)| tenant_hash(&key.tenant_id)),
    );
    let (totals_output, totals) = builder.new_output();
    let (refused_output, refused) = builder.new_output();
    let (history_output, history) = builder.new_output();
    let mut totals_output = OutputBuilder::<_, CapacityContainerBuilder<Vec<_>>>::from(totals_output);
    let mut refused_output = OutputBuilder::<_, CapacityContainerBuilder<Vec<_>>>::from(refused_output);
    let mut history_output = OutputBuilder::<_, CapacityContainerBuilder<Vec<_>>>::from(history_output);
    builder.build(move |_initial_capabilities| {
        let mut stash = TimeOrderedStash::for_outputs(3);
        let mut settlements = StateMap::<SettlementKey, SettlementTotals>::default();
        move |frontiers| {
            payments.for_each(|capability, updates| {
                stash.stash(capability, updates.drain(..).map(|(record, time, _)| (Update::Payment(record), time)));
            });
            recovered.for_each(|capability, updates| {
                stash.stash(capability, updates.drain(..).map(|(state, time, _)| (Update::Recovered(state), time)));
            });
            let frontier = joint_frontiers(frontiers.iter().map(|frontier| frontier.frontier()));
            let (mut totals, mut refused) = (totals_output.activate(), refused_output.activate());
            let mut history = history_output.activate();
            stash.drain_complete(frontier.borrow(), |capabilities, time, updates| {
                let mut refused = refused.session(&capabilities[1]);
                let mut history = history.session(&capabilities[2]);
                let changed = apply(
                    &mut settlements,
                    time,
                    updates,
                    |record| refused.give((record, time, 1)),
                    |row| history.give((row, time, 1)),
                );
                let mut totals = totals.session(&capabilities[0]);
                for (key, before) in changed {
                    let after = settlements.get(&key);
                    if before.as_ref() != after {
                        if let Some(before) = before {
                            totals.give(((key.clone(), before), time, -1));
                        }
                        if let Some(after) = after {
                            totals.give(((key, *after), time, 1));
                        }
                    }
                }
            });
        }
    });
    SettlementOutputs {
        totals: totals.as_collection(),
        refused: refused.as_collection(),
        history: history.as_collection(),
    }
}

/// Applies one complete time's updates: recovered totals first, then the payments by source
/// position; hands every refused payment to `refuse`, and the lineage row of every payment
/// applied to `record_history`. Returns each settlement changed, with its totals before.
fn apply(
    settlements: &mut StateMap<SettlementKey, SettlementTotals>,
    time: Time,
    updates: Vec<Update>,
    mut refuse: impl FnMut(RefusedRecord),
    mut record_history: impl FnMut(SettlementHistoryRow),
) -> StateMap<SettlementKey, Option<SettlementTotals>> {
    let mut changed = StateMap::<SettlementKey, Option<SettlementTotals>>::default();
    let mut payments = Vec::with_capacity(updates.len());
    for update in updates {
        match update {
            Update::Recovered((key, totals)) => {
                changed.entry(key.clone()).or_insert_with(|| settlements.get(&key).copied());
                settlements.insert(key, totals);
            }
            Update::Payment(record) => payments.push(record),
        }
    }
    payments.sort_unstable_by_key(|record| record.offset);
    for record in payments {
        let Some(key) = settlement_of(&record.event) else { continue };
        let current = settlements.get(&key).copied();
        match current.unwrap_or_default().checked_add_payment(record.event.kind, record.event.amount_minor) {
            Ok(totals) => {
                if !changed.contains_key(&key) {
                    changed.insert(key.clone(), current);
                }
                settlements.insert(key.clone(), totals);
                let Sourced { offset, event } = record;
                record_history(SettlementHistoryRow {
                    applied_at: time,
                    source: RecordSource {
                        topic: InputTopic::Payments,
                        partition: offset.partition,
                        offset: offset.offset,
                    },
                    settlement: key,
                    event_id: event.event_id,
                    kind: event.kind,
                    amount_minor: event.amount_minor,
                    occurred_at: event.occurred_at,
                });
            }
            Err(aggregate) => refuse(RefusedRecord {
                topic: InputTopic::Payments,
                partition: record.offset.partition,
                offset: record.offset.offset,
                error: AggregateOutOfRange::new(aggregate, AggregateKey::Settlement(key)),
            }),
        }
    }
    changed
}
