//! The shared core of the upsert operators: per key, the value of the highest-ranked record.

use std::collections::VecDeque;
use std::hash::Hash;

use differential_dataflow::{AsCollection, ExchangeData, Hashable};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use crate::stash::{TimeOrderedStash, joint_frontier};
use crate::{Collection, Diff, StateMap, Time};

/// The state kept per key: the winning rank, its value (`None` = deleted), and when it changed.
struct Current<Rank, V> {
    rank: Rank,
    value: Option<V>,
    changed_at: Time,
}

/// How to read an upsert record: its key, its rank (given its pipeline time) and its value.
pub(crate) struct UpsertRules<Key, Rank, Value> {
    pub(crate) key: Key,
    pub(crate) rank: Rank,
    pub(crate) value: Value,
}

/// A key's recovered state: its winning rank, its value and the pipeline time it last changed.
pub(crate) type UpsertSeed<K, R, V> = (K, (R, V, Time));

/// What one time of the operator's input holds.
enum Update<D, K, R, V> {
    Record(D),
    Seed(UpsertSeed<K, R, V>),
}

/// **In:** an insert-only collection of records, and `seeds`: recovered per-key state. **Out:**
/// the collection of `(key, value)` where `value` is that of the highest-ranked record seen for
/// `key` (absent when that record's value is `None`). A record replaces the current one only if
/// its rank is strictly higher, so the result does not depend on the order records arrive in.
/// A seed sets its key's state as if its record had just won, and is output like one.
///
/// **State:** per key, the winning rank and value. With a `retention`, a key unchanged for that
/// long (pipeline time) is forgotten while its value stays in the output: a later record for it
/// is then treated as the first.
pub(crate) fn upsert_ranked<'scope, D, K, R, V, KeyFn, RankFn, ValueFn>(
    records: Collection<'scope, D>,
    seeds: Collection<'scope, UpsertSeed<K, R, V>>,
    name: &str,
    retention: Option<Time>,
    rules: UpsertRules<KeyFn, RankFn, ValueFn>,
) -> Collection<'scope, (K, V)>
where
    D: ExchangeData,
    K: ExchangeData + Hash,
    R: ExchangeData,
    V: ExchangeData,
    KeyFn: Fn(&D) -> K + Clone + 'static,
    RankFn: Fn(&D, Time) -> R + 'static,
    ValueFn: Fn(D) -> Option<V> + 'static,
{
    let UpsertRules { key: key_of, rank: rank_of, value: value_of } = rules;
    let route_key = key_of.clone();
    let exchange = Exchange::new(move |(record, _, _): &(D, Time, Diff)| route_key(record).hashed());
    let seed_exchange = Exchange::new(|((key, _), _, _): &(UpsertSeed<K, R, V>, Time, Diff)| key.hashed());
    records
        .inner
        .binary_frontier::<_, CapacityContainerBuilder<Vec<((K, V), Time, Diff)>>, _, _, _, _>(
            seeds.inner,
            exchange,
            seed_exchange,
            name,
            move |_, _| {
                let mut stash = TimeOrderedStash::new();
                let mut current = StateMap::<K, Current<R, V>>::default();
                let mut forget_queue = VecDeque::<(Time, K)>::new();
                let mut winners = StateMap::<K, (R, Option<V>)>::default();
                move |(input, input_frontier), (seeds, seed_frontier), output| {
                    input.for_each(|capability, updates| {
                        stash.stash(
                            capability,
                            updates.drain(..).map(|(record, time, _)| (Update::Record(record), time)),
                        );
                    });
                    seeds.for_each(|capability, updates| {
                        stash.stash(capability, updates.drain(..).map(|(seed, time, _)| (Update::Seed(seed), time)));
                    });
                    let frontier = joint_frontier(input_frontier.frontier(), seed_frontier.frontier());
                    stash.drain_complete(frontier.borrow(), |capability, time, updates| {
                        if let Some(retention) = retention {
                            while let Some((forget_at, _)) = forget_queue.front()
                                && *forget_at <= time
                            {
                                let (forget_at, key) = forget_queue.pop_front().expect("front was just seen");
                                if current.get(&key).is_some_and(|entry| entry.changed_at + retention == forget_at) {
                                    current.remove(&key);
                                }
                            }
                        }
                        let mut session = output.session(capability);
                        let mut seeded = Vec::new();
                        for update in updates {
                            match update {
                                Update::Seed(seed) => seeded.push(seed),
                                Update::Record(record) => {
                                    let key = key_of(&record);
                                    let rank = rank_of(&record, time);
                                    match winners.get(&key) {
                                        Some((best, _)) if *best >= rank => {}
                                        _ => {
                                            winners.insert(key, (rank, value_of(record)));
                                        }
                                    }
                                }
                            }
                        }
                        // Seeds go in the order they last changed, so the forget queue stays sorted.
                        seeded.sort_by_key(|(_, (_, _, changed_at))| *changed_at);
                        for (key, (rank, value, changed_at)) in seeded {
                            session.give(((key.clone(), value.clone()), time, 1));
                            if let Some(retention) = retention {
                                forget_queue.push_back((changed_at + retention, key.clone()));
                            }
                            current.insert(key, Current { rank, value: Some(value), changed_at });
                        }
                        for (key, (rank, value)) in winners.drain() {
                            if current.get(&key).is_some_and(|entry| entry.rank >= rank) {
                                continue;
                            }
                            let previous = current.remove(&key).and_then(|entry| entry.value);
                            if previous != value {
                                if let Some(previous) = previous {
                                    session.give(((key.clone(), previous), time, -1));
                                }
                                if let Some(value) = &value {
                                    session.give(((key.clone(), value.clone()), time, 1));
                                }
                            }
                            if let Some(retention) = retention {
                                forget_queue.push_back((time + retention, key.clone()));
                            }
                            current.insert(key, Current { rank, value, changed_at: time });
                        }
                    });
                }
            },
        )
        .as_collection()
}
