//! Holding updates back until their time is complete, then handing them out in time order.

use std::collections::BTreeMap;

use timely::dataflow::operators::{Capability, InputCapability};
use timely::progress::frontier::AntichainRef;

use crate::Time;

/// Updates grouped by time, with one capability at or below every time held.
///
/// Stateful operators whose result depends on the order of updates (first wins, latest wins,
/// open-then-resolve) stash their input here and process each time only once the input frontier
/// has passed it, so that every update of that time is present and times are handled in order.
pub(crate) struct TimeOrderedStash<D> {
    capability: Option<Capability<Time>>,
    pending: BTreeMap<Time, Vec<D>>,
}

impl<D> TimeOrderedStash<D> {
    pub(crate) fn new() -> Self {
        TimeOrderedStash { capability: None, pending: BTreeMap::new() }
    }

    /// Stashes `updates` received under `capability`.
    pub(crate) fn stash(&mut self, capability: InputCapability<Time>, updates: impl Iterator<Item = (D, Time)>) {
        if let Some(received) = capability.retain_least(0)
            && self.capability.as_ref().is_none_or(|held| received.time() < held.time())
        {
            self.capability = Some(received);
        }
        for (update, time) in updates {
            self.pending.entry(time).or_default().push(update);
        }
    }

    /// Hands every stashed time the `frontier` has passed, in increasing order, to `process`
    /// with a capability for that time; then releases what is no longer needed.
    pub(crate) fn drain_complete(
        &mut self,
        frontier: AntichainRef<'_, Time>,
        mut process: impl FnMut(&Capability<Time>, Time, Vec<D>),
    ) {
        let Some(held) = &mut self.capability else { return };
        while let Some(entry) = self.pending.first_entry() {
            let time = *entry.key();
            if frontier.less_equal(&time) {
                break;
            }
            let updates = entry.remove();
            process(&held.delayed(&time), time, updates);
        }
        match self.pending.keys().next() {
            Some(next) => held.downgrade(next),
            None => self.capability = None,
        }
    }
}
