//! Holding updates back until their time is complete, then handing them out in time order.

use timely::dataflow::operators::{Capability, InputCapability};
use timely::progress::Antichain;
use timely::progress::frontier::AntichainRef;

use crate::Time;

/// Updates grouped by time, with one capability at or below every time held (per output).
///
/// Stateful operators whose result depends on the order of updates (first wins, latest wins,
/// open-then-resolve) stash their input here and process each time only once the input frontier
/// has passed it, so that every update of that time is present and times are handled in order.
///
/// Each update is moved once, into its time's group, and handed out in it: records are large
/// (100–250 bytes with their string ids) and the pipeline moves millions a second, so sorting
/// them by time and regrouping them would copy each twice more (BENCHMARKS.md, "The stash").
pub(crate) struct TimeOrderedStash<D> {
    /// How many outputs the operator has: a capability is held for each.
    outputs: usize,
    /// One capability per output, all for the same time (`None` while nothing is pending).
    capabilities: Option<Vec<Capability<Time>>>,
    /// Each pending time with its updates in arrival order; few distinct times are pending at
    /// once.
    pending: Vec<(Time, Vec<D>)>,
}

impl<D> TimeOrderedStash<D> {
    /// A stash for an operator with `outputs` outputs.
    pub(crate) fn for_outputs(outputs: usize) -> Self {
        TimeOrderedStash { outputs, capabilities: None, pending: Vec::new() }
    }

    /// Stashes `updates` received under `capability`.
    pub(crate) fn stash(
        &mut self,
        capability: InputCapability<Time>,
        updates: impl ExactSizeIterator<Item = (D, Time)>,
    ) {
        if let Some(received) = capability.least()
            && self.capabilities.as_ref().is_none_or(|held| received < held[0].time())
        {
            let received = *received;
            let retained = (0..self.outputs).map(|output| capability.delayed(&received, output)).collect();
            self.capabilities = Some(retained);
        }
        let mut left = updates.len();
        for (update, time) in updates {
            let group = match self.pending.iter().rposition(|(pending, _)| *pending == time) {
                Some(at) => &mut self.pending[at].1,
                None => {
                    // A container's updates are usually all of one time: room for the rest.
                    self.pending.push((time, Vec::with_capacity(left)));
                    &mut self.pending.last_mut().expect("pushed above").1
                }
            };
            group.push(update);
            left -= 1;
        }
    }

    /// Hands every stashed time the `frontier` has passed, in increasing order, to `process`
    /// with a capability for that time (one per output) and its updates in arrival order (the
    /// operators that care break ties themselves, by source offset); then releases what is no
    /// longer needed.
    pub(crate) fn drain_complete(
        &mut self,
        frontier: AntichainRef<'_, Time>,
        mut process: impl FnMut(&[Capability<Time>], Time, Vec<D>),
    ) {
        let Some(held) = &mut self.capabilities else { return };
        if self.pending.is_empty() {
            // Only empty containers arrived: nothing to hold a time for.
            self.capabilities = None;
            return;
        }
        let mut complete = self.pending.extract_if(.., |(time, _)| !frontier.less_equal(time)).collect::<Vec<_>>();
        complete.sort_unstable_by_key(|(time, _)| *time);
        for (time, updates) in complete {
            let capabilities = held.iter().map(|capability| capability.delayed(&time)).collect::<Vec<_>>();
            process(&capabilities, time, updates);
        }
        match self.pending.iter().map(|(time, _)| *time).min() {
            Some(next) => held.iter_mut().for_each(|capability| capability.downgrade(&next)),
            None => self.capabilities = None,
        }
    }
}

/// The frontier of two inputs together: a time is complete once both have passed it.
pub(crate) fn joint_frontier(first: AntichainRef<'_, Time>, second: AntichainRef<'_, Time>) -> Antichain<Time> {
    joint_frontiers([first, second])
}

/// The frontier of several inputs together: a time is complete once all have passed it.
pub(crate) fn joint_frontiers<'a>(frontiers: impl IntoIterator<Item = AntichainRef<'a, Time>>) -> Antichain<Time> {
    let mut joint = Antichain::new();
    for frontier in frontiers {
        for time in frontier.iter() {
            joint.insert(*time);
        }
    }
    joint
}
