use crate::ChangeBatch;

/// Why a sink could not take a batch.
#[derive(Debug, thiserror::Error)]
#[error("sink {sink} failed: {message}")]
pub struct SinkError {
    /// The sink's name.
    pub sink: &'static str,
    /// What went wrong.
    pub message: String,
}

/// A destination of the pipeline's results: it receives every [`ChangeBatch`], in order.
///
/// The runtime calls [`apply`](Sink::apply) from one thread, never concurrently, and only with
/// complete frontiers; a sink that returns an error gets the same batch again (with backoff)
/// before any later one, so it may commit a batch atomically and rely on seeing each exactly once
/// after its last commit.
pub trait Sink: Send {
    /// A short name for logs and metrics.
    fn name(&self) -> &'static str;
    /// Takes in one batch.
    fn apply(&mut self, batch: &ChangeBatch) -> Result<(), SinkError>;

    /// Whether this sink stores what a restarted pipeline recovers from (the batches' orders,
    /// policies and event ids). When no sink does, the runtime does not collect them.
    fn stores_recovery_state(&self) -> bool {
        false
    }
}
