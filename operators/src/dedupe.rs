//! Event-id dedupe: a second record with the same `event_id` (a producer retry) changes nothing.

use std::collections::VecDeque;

use differential_dataflow::{AsCollection, ExchangeData, Hashable};
use flowmart_schemas::{Id, InventoryEvent, OrderEvent, PaymentEvent, SeenEventId};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use crate::stash::{TimeOrderedStash, joint_frontier};
use crate::{Collection, Diff, Sourced, StateMap, Time};

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
    Record(Sourced<E>),
    Seen(SeenEventId),
}

/// Keeps the first record of each event id.
pub trait DedupeByEventId<'scope, E> {
    /// **In:** an insert-only collection of sourced events, and recovered ids already counted.
    /// **Out:** the same events, each `event_id` once: the record at the earliest pipeline time,
    /// and among records of one time the one read first (least
    /// [`SourceOffset`](crate::SourceOffset)); none for a recovered id.
    ///
    /// **State:** per worker, each id seen within the last `retention` milliseconds of pipeline
    /// time, with the time it was seen — so it grows with the event rate times `retention`, and
    /// without bound when `retention` is `None`. A retry that arrives after its id was forgotten
    /// counts again: `retention` must exceed the longest producer retry window.
    fn dedupe_by_event_id(
        self,
        recovered: Collection<'scope, SeenEventId>,
        retention: Option<Time>,
    ) -> Collection<'scope, Sourced<E>>;
}

impl<'scope, E> DedupeByEventId<'scope, E> for Collection<'scope, Sourced<E>>
where
    E: HasEventId + ExchangeData,
{
    fn dedupe_by_event_id(
        self,
        recovered: Collection<'scope, SeenEventId>,
        retention: Option<Time>,
    ) -> Collection<'scope, Sourced<E>> {
        let exchange = Exchange::new(|(record, _, _): &(Sourced<E>, Time, Diff)| record.event.event_id().hashed());
        let seen_exchange = Exchange::new(|((id, _), _, _): &(SeenEventId, Time, Diff)| id.hashed());
        self.inner
            .binary_frontier::<_, CapacityContainerBuilder<Vec<(Sourced<E>, Time, Diff)>>, _, _, _, _>(
                recovered.inner,
                exchange,
                seen_exchange,
                "DedupeByEventId",
                move |_, _| {
                    let mut stash = TimeOrderedStash::new();
                    let mut seen_at = StateMap::<Id, Time>::default();
                    let mut forget_queue = VecDeque::<(Time, Id)>::new();
                    move |(input, input_frontier), (recovered, recovered_frontier), output| {
                        input.for_each(|capability, updates| {
                            stash.stash(
                                capability,
                                updates.drain(..).map(|(record, time, _)| (Update::Record(record), time)),
                            );
                        });
                        recovered.for_each(|capability, updates| {
                            stash
                                .stash(capability, updates.drain(..).map(|(seen, time, _)| (Update::Seen(seen), time)));
                        });
                        let frontier = joint_frontier(input_frontier.frontier(), recovered_frontier.frontier());
                        stash.drain_complete(frontier.borrow(), |capabilities, time, updates| {
                            if let Some(retention) = retention {
                                while let Some((forget_at, _)) = forget_queue.front()
                                    && *forget_at <= time
                                {
                                    let (forget_at, id) = forget_queue.pop_front().expect("front was just seen");
                                    if seen_at.get(&id) == Some(&(forget_at - retention)) {
                                        seen_at.remove(&id);
                                    }
                                }
                            }
                            let mut records = Vec::with_capacity(updates.len());
                            let mut recovered = Vec::new();
                            for update in updates {
                                match update {
                                    Update::Record(record) => records.push(record),
                                    Update::Seen(seen) => recovered.push(seen),
                                }
                            }
                            // In time order, so the forget queue stays sorted and an id kept
                            // twice (counted again after it was forgotten) ends at its latest.
                            recovered.sort_unstable_by_key(|(_, counted_at)| *counted_at);
                            for (id, counted_at) in recovered {
                                if let Some(retention) = retention {
                                    forget_queue.push_back((counted_at + retention, id.clone()));
                                }
                                seen_at.insert(id, counted_at);
                            }
                            records.sort_unstable_by_key(|record| record.offset);
                            let mut session = output.session(&capabilities[0]);
                            for record in records {
                                let id = record.event.event_id();
                                if seen_at.contains_key(id) {
                                    continue;
                                }
                                seen_at.insert(id.clone(), time);
                                if let Some(retention) = retention {
                                    forget_queue.push_back((time + retention, id.clone()));
                                }
                                session.give((record, time, 1));
                            }
                        });
                    }
                },
            )
            .as_collection()
    }
}
