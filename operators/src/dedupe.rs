//! Event-id dedupe: a second record with the same `event_id` (a producer retry) changes nothing.

use differential_dataflow::{AsCollection, ExchangeData};
use flowmart_schemas::{EventDigest, Id, InventoryEvent, OrderEvent, PaymentEvent, SeenEventId};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use crate::remembered_digests::RememberedDigests;
use crate::stash::{TimeOrderedStash, joint_frontier};
use crate::{Collection, Diff, Sourced, Time};

/// Records that carry a unique event id.
pub trait HasEventId {
    /// The id; equal ids mean the same event.
    fn event_id(&self) -> &Id;
}

impl HasEventId for InventoryEvent {
    fn event_id(&self) -> &Id {
        &self.event_id
    }
}

impl HasEventId for OrderEvent {
    fn event_id(&self) -> &Id {
        &self.event_id
    }
}

impl HasEventId for PaymentEvent {
    fn event_id(&self) -> &Id {
        &self.event_id
    }
}

/// What one time of the operator's input holds.
enum Update<E> {
    Record(EventDigest, Sourced<E>),
    Seen(SeenEventId),
}

/// What [`DedupeByEventId::dedupe_by_event_id`] returns.
pub struct Deduped<'scope, E: 'static> {
    /// Each event id's first record.
    pub records: Collection<'scope, Sourced<E>>,
    /// The digest of each of those records' event ids, at the same time: what a sink stores so
    /// that a restarted pipeline remembers them.
    pub ids: Collection<'scope, EventDigest>,
}

/// Keeps the first record of each event id.
pub trait DedupeByEventId<'scope, E> {
    /// **In:** an insert-only collection of sourced events, and recovered ids already counted.
    /// **Out:** the same events, each `event_id` once: the record at the earliest pipeline time,
    /// and among records of one time the one read first (least
    /// [`SourceOffset`](crate::SourceOffset)); none for a recovered id. Beside them the digests
    /// of their ids, computed once per record on the worker that read it.
    ///
    /// **State:** per worker, each id seen within the last `retention` milliseconds of pipeline
    /// time, as its [`EventDigest`] with the time it was seen, held once
    /// (`remembered_digests.rs`): 30.5 bytes of RSS per id, measured with 5 M ids (BENCHMARKS.md,
    /// "Dedupe state"). It grows with the event rate times `retention`, and without bound when
    /// `retention` is `None`. A retry that arrives after its id was forgotten counts again:
    /// `retention` must exceed the longest producer retry window.
    fn dedupe_by_event_id(
        self,
        recovered: Collection<'scope, SeenEventId>,
        retention: Option<Time>,
    ) -> Deduped<'scope, E>;
}

impl<'scope, E> DedupeByEventId<'scope, E> for Collection<'scope, Sourced<E>>
where
    E: HasEventId + ExchangeData,
{
    fn dedupe_by_event_id(
        self,
        recovered: Collection<'scope, SeenEventId>,
        retention: Option<Time>,
    ) -> Deduped<'scope, E> {
        // Digested where it was read, so the id is hashed once on its way to the dedupe.
        let digested = self.map(|record| (EventDigest::of(record.event.event_id()), record));
        let mut builder = OperatorBuilder::new("DedupeByEventId".to_owned(), digested.inner.scope());
        let mut input = builder.new_input(
            digested.inner,
            Exchange::new(|((digest, _), _, _): &((EventDigest, Sourced<E>), Time, Diff)| digest.prefix()),
        );
        let mut recovered = builder.new_input(
            recovered.inner,
            Exchange::new(|((digest, _), _, _): &(SeenEventId, Time, Diff)| digest.prefix()),
        );
        let (records_output, records) = builder.new_output();
        let (ids_output, ids) = builder.new_output();
        let mut records_output = OutputBuilder::<_, CapacityContainerBuilder<Vec<_>>>::from(records_output);
        let mut ids_output = OutputBuilder::<_, CapacityContainerBuilder<Vec<_>>>::from(ids_output);
        builder.build(move |_initial_capabilities| {
            let mut stash = TimeOrderedStash::for_outputs(2);
            let mut remembered = RememberedDigests::new(retention);
            move |frontiers| {
                input.for_each(|capability, updates| {
                    stash.stash(
                        capability,
                        updates.drain(..).map(|((digest, record), time, _)| (Update::Record(digest, record), time)),
                    );
                });
                recovered.for_each(|capability, updates| {
                    stash.stash(capability, updates.drain(..).map(|(seen, time, _)| (Update::Seen(seen), time)));
                });
                let frontier = joint_frontier(frontiers[0].frontier(), frontiers[1].frontier());
                let (mut records_output, mut ids_output) = (records_output.activate(), ids_output.activate());
                stash.drain_complete(frontier.borrow(), |capabilities, time, updates| {
                    let mut records = Vec::with_capacity(updates.len());
                    let mut recovered = Vec::new();
                    for update in updates {
                        match update {
                            Update::Record(digest, record) => records.push((digest, record)),
                            Update::Seen(seen) => recovered.push(seen),
                        }
                    }
                    // In time order and before `expire`, so each lands in the window it was
                    // counted in (and is dropped with it).
                    recovered.sort_unstable_by_key(|(_, counted_at)| *counted_at);
                    for (digest, counted_at) in recovered {
                        remembered.insert(digest, counted_at);
                    }
                    remembered.expire(time);
                    records.sort_unstable_by_key(|(_, record)| record.offset);
                    let digests = records.iter().map(|(digest, _)| *digest).collect::<Vec<_>>();
                    let new = remembered.count(&digests, time);
                    let mut records_session = records_output.session(&capabilities[0]);
                    let mut ids_session = ids_output.session(&capabilities[1]);
                    for ((digest, record), new) in records.into_iter().zip(new) {
                        if new {
                            records_session.give((record, time, 1));
                            ids_session.give((digest, time, 1));
                        }
                    }
                });
            }
        });
        Deduped { records: records.as_collection(), ids: ids.as_collection() }
    }
}
