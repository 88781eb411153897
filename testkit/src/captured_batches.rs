use std::sync::{Arc, Mutex};

use flowmart_runtime::{ChangeBatch, DeadLetter, Sink, SinkError};

/// A [`Sink`] that keeps every batch it is given; clones share what it kept.
#[derive(Clone, Default)]
pub struct CapturedBatches(Arc<Mutex<Vec<ChangeBatch>>>);

impl CapturedBatches {
    /// Every batch taken so far, in order.
    pub fn batches(&self) -> Vec<ChangeBatch> {
        self.0.lock().unwrap().clone()
    }

    /// Every dead letter of those batches, in order.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.0.lock().unwrap().iter().flat_map(|batch| batch.dead_letters.iter().cloned()).collect()
    }
}

impl Sink for CapturedBatches {
    fn name(&self) -> &'static str {
        "captured-batches"
    }

    fn apply(&mut self, batch: &ChangeBatch) -> Result<(), SinkError> {
        self.0.lock().unwrap().push(batch.clone());
        Ok(())
    }
}
