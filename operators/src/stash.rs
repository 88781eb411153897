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
    pub(crate) fn stash(&mut self, capability: InputCapability<Time>, updates: impl Iterator<Item = (D, Time)>) {
        if let Some(received) = capability.least()
            && self.capabilities.as_ref().is_none_or(|held| received < held[0].time())
        {
            let received = *received;
            let retained = (0..self.outputs).map(|output| capability.delayed(&received, output)).collect();
            self.capabilities = Some(retained);
        }
        let mut left = updates.size_hint().0;
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
            left = left.saturating_sub(1);
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
        if complete.is_empty() {
            return;
        }
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use differential_dataflow::AsCollection;
    use differential_dataflow::input::{Input, InputSession};
    use timely::container::CapacityContainerBuilder;
    use timely::dataflow::ProbeHandle;
    use timely::dataflow::channels::pact::Pipeline;
    use timely::dataflow::operators::generic::OutputBuilder;
    use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

    use super::*;
    use crate::Diff;

    /// The times one drain handed out, in order, each with its updates.
    type Drain = Vec<(Time, Vec<u32>)>;

    /// What a one-output operator over a stash hands on: per drain, the times in the order they
    /// were handed out with their updates, and every update it gave with the time of the
    /// capability it gave it at. `rounds` are fed in order, each as `(value, time)` updates, then
    /// the input advanced to the round's time and the dataflow stepped until it caught up.
    fn handed_out(rounds: Vec<(Vec<(u32, Time)>, Time)>) -> (Vec<Drain>, Vec<(u32, Time)>) {
        let drains = Arc::new(Mutex::new(Vec::new()));
        let given = Arc::new(Mutex::new(Vec::new()));
        let (drains_seen, given_seen) = (Arc::clone(&drains), Arc::clone(&given));
        timely::execute_directly(move |worker| {
            let probe = ProbeHandle::new();
            let mut session: InputSession<Time, u32, Diff> = worker.dataflow(|scope| {
                let (session, collection) = scope.new_collection();
                let mut builder = OperatorBuilder::new("Stashed".to_owned(), scope);
                let mut input = builder.new_input(collection.inner, Pipeline);
                let (output, stream) = builder.new_output();
                let mut output = OutputBuilder::<_, CapacityContainerBuilder<Vec<_>>>::from(output);
                builder.build(move |_initial_capabilities| {
                    let mut stash = TimeOrderedStash::for_outputs(1);
                    move |frontiers| {
                        input.for_each(|capability, updates| {
                            stash.stash(capability, updates.drain(..).map(|(value, time, _)| (value, time)));
                        });
                        let mut output = output.activate();
                        let mut drain = Vec::new();
                        stash.drain_complete(frontiers[0].frontier(), |capabilities, time, updates| {
                            drain.push((time, updates.clone()));
                            let mut session = output.session(&capabilities[0]);
                            for value in updates {
                                session.give((value, time, 1));
                            }
                        });
                        if !drain.is_empty() {
                            drains_seen.lock().unwrap().push(drain);
                        }
                    }
                });
                stream
                    .as_collection()
                    .inspect(move |(value, time, _)| given_seen.lock().unwrap().push((*value, *time)))
                    .probe_with(&probe);
                session
            });
            for (updates, advance_to) in rounds {
                for (value, time) in updates {
                    session.update_at(value, time, 1);
                }
                session.advance_to(advance_to);
                session.flush();
                worker.step_while(|| probe.less_than(&advance_to));
            }
        });
        let drains = Arc::try_unwrap(drains).ok().unwrap().into_inner().unwrap();
        (drains, Arc::try_unwrap(given).ok().unwrap().into_inner().unwrap())
    }

    #[test]
    fn times_are_handed_out_once_complete_in_order_each_with_its_updates_in_arrival_order() {
        let (drains, given) = handed_out(vec![
            // Times interleaved in one container, one of them not yet complete.
            (vec![(3, 5), (5, 3), (1, 5), (4, 4), (2, 3), (9, 7)], 6),
            // More for the pending time, and a time after it.
            (vec![(7, 7), (8, 9), (6, 7)], 8),
            // Nothing new: the last time completes.
            (vec![], 10),
        ]);
        assert_eq!(
            drains,
            vec![vec![(3, vec![5, 2]), (4, vec![4]), (5, vec![3, 1])], vec![(7, vec![9, 7, 6])], vec![(9, vec![8])]]
        );
        assert_eq!(given, vec![(5, 3), (2, 3), (4, 4), (3, 5), (1, 5), (9, 7), (7, 7), (6, 7), (8, 9)]);
    }
}
