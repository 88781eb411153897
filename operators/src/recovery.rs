//! Resuming from stored state: how what a sink stored enters the dataflow.
//!
//! The stored state enters every operator at one time, the last pipeline time the stored results
//! cover (`as_of - 1`). The operators take it as their state and output what they would have held
//! then; the runtime publishes only what changes after it.

use differential_dataflow::{AsCollection, Hashable};
use flowmart_schemas::{Form, MakeOutput, Output, Outputs, StoredState};
use timely::dataflow::Scope;
use timely::dataflow::operators::ToStream;

use crate::{Collection, Time};

/// The stored state of every output, as collections in one scope.
pub struct StoredCollections<'scope>(std::marker::PhantomData<&'scope ()>);

impl<'scope> Form for StoredCollections<'scope> {
    type Of<O: Output> = Collection<'scope, O::Stored>;
}

/// The share of `state` (stored with results up to `as_of`) that belongs to `worker` of `peers`,
/// as collections in `scope` at `as_of - 1` (empty when nothing was stored: `as_of` 0).
///
/// An item belongs to the worker its hash names — the hash differential dataflow's exchanges use,
/// the same in every process of a build — so every process splits the state the same way whatever
/// order it read it in, and each item enters the dataflow exactly once.
pub fn stored_collections<'scope>(
    scope: Scope<'scope, Time>,
    state: &Outputs<StoredState>,
    as_of: Time,
    worker: usize,
    peers: usize,
) -> Outputs<StoredCollections<'scope>> {
    struct Share<'a, 'scope> {
        scope: Scope<'scope, Time>,
        state: &'a Outputs<StoredState>,
        time: Option<Time>,
        worker: usize,
        peers: usize,
    }
    impl<'scope> MakeOutput<StoredCollections<'scope>> for Share<'_, 'scope> {
        fn make<O: Output>(&mut self) -> Collection<'scope, O::Stored> {
            let updates = match self.time {
                Some(time) => O::of(self.state)
                    .iter()
                    .filter(|item| item.hashed() % self.peers as u64 == self.worker as u64)
                    .map(|item| (item.clone(), time, 1))
                    .collect(),
                None => Vec::new(),
            };
            ToStream::<Vec<_>>::to_stream(updates, self.scope).as_collection()
        }
    }
    Outputs::make(&mut Share { scope, state, time: as_of.checked_sub(1), worker, peers })
}
