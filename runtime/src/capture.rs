//! Capturing a worker's output collections into buffers the worker loop drains.

use std::cell::RefCell;
use std::rc::Rc;

use differential_dataflow::Data;
use flowmart_operators::Collection;
use flowmart_schemas::{Diff, Form, Output, Time};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::ProbeHandle;
use timely::dataflow::channels::pact::Pipeline as Local;
use timely::dataflow::operators::Probe;
use timely::dataflow::operators::generic::Operator;

/// Updates captured from one output collection, not yet handed to the collector.
pub(crate) type Captured<D> = Rc<RefCell<Vec<(D, Time, Diff)>>>;

/// Every output as the buffer its updates are captured into.
pub(crate) struct Capturing;

impl Form for Capturing {
    type Of<O: Output> = Captured<O::Data>;
}

/// Moves every update of `collection` into the returned buffer. `probe` is attached after the
/// capturing operator, so once the probe's frontier passes a time, every update at that time is
/// in the buffer (not merely sent towards it).
pub(crate) fn capture<D: Data>(collection: Collection<'_, D>, probe: &ProbeHandle<Time>) -> Captured<D> {
    let buffer: Captured<D> = Rc::default();
    let sink = Rc::clone(&buffer);
    collection
        .inner
        .unary::<CapacityContainerBuilder<Vec<()>>, _, _, _>(Local, "Capture", move |_, _| {
            move |input, _output| {
                input.for_each(|_, updates| sink.borrow_mut().append(updates));
            }
        })
        .probe_with(probe);
    buffer
}

/// Takes the updates at times before `upper` out of `buffer`.
pub(crate) fn take_before<D>(buffer: &Captured<D>, upper: Time) -> Vec<(D, Time, Diff)> {
    let mut buffer = buffer.borrow_mut();
    if buffer.iter().all(|(_, time, _)| *time < upper) {
        return std::mem::take(&mut *buffer);
    }
    let (sealed, open) = std::mem::take(&mut *buffer).into_iter().partition(|(_, time, _)| *time < upper);
    *buffer = open;
    sealed
}
