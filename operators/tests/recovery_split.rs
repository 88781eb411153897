//! Every process of a cluster splits the recovered state over the workers the same way, whatever
//! order it read the rows in: each item enters the dataflow once, on the same worker.

use std::sync::{Arc, Mutex};

use flowmart_operators::Time;
use flowmart_operators::recovery::stored_collections;
use flowmart_schemas::{Outputs, PositionKey, StockLevels, StoredState};
use timely::dataflow::operators::Inspect;

/// Which worker (of 3) got each stored stock item.
fn shares(state: Outputs<StoredState>) -> Vec<(usize, PositionKey)> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let into = Arc::clone(&seen);
    let state = Arc::new(state);
    timely::execute(timely::Config::process(3), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let into = Arc::clone(&into);
        worker.dataflow::<Time, _, _>(|scope| {
            let stored = stored_collections(scope, &state, 10, index, peers);
            stored.stock.inner.inspect(move |((position, _), time, _)| {
                assert_eq!(*time, 9, "the state enters at as_of - 1");
                into.lock().unwrap().push((index, position.clone()));
            });
        });
    })
    .unwrap();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    seen
}

#[test]
fn the_split_of_the_recovered_state_does_not_depend_on_row_order() {
    let positions = (0..200).map(|sku| PositionKey::new("acme", "berlin", format!("SKU-{sku}"))).collect::<Vec<_>>();
    let levels = StockLevels { on_hand: 5, reserved: 1, on_order: 0, records: 2 };
    let stock = positions.iter().map(|position| (position.clone(), levels)).collect();
    let state = Outputs::<StoredState> { stock, ..Outputs::default() };
    let mut reversed = state.clone();
    reversed.stock.reverse();

    let split = shares(state);
    assert_eq!(split, shares(reversed), "the same worker gets the same items");
    let mut loaded = split.iter().map(|(_, position)| position.clone()).collect::<Vec<_>>();
    loaded.sort();
    let mut expected = positions;
    expected.sort();
    assert_eq!(loaded, expected, "every item once");
    assert!((0..3).all(|worker| split.iter().any(|(owner, _)| *owner == worker)), "spread over every worker");
}
