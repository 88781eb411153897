use flowmart_schemas::{NetChanges, Outputs};

use crate::{ChangeBatch, Resume};

/// Why a sink could not take a batch.
#[derive(Debug, thiserror::Error)]
#[error("sink {sink} failed ({class} error): {message}", class = class.as_str())]
pub struct SinkError {
    /// The sink's name.
    pub sink: &'static str,
    /// What kind of failure it is.
    pub class: ErrorClass,
    /// What went wrong.
    pub message: String,
    /// For a [`Data`](ErrorClass::Data) error, the changes of the batch the destination refused,
    /// when the sink could find them: the runtime rewinds to what the sink [stored](Sink::stored)
    /// and reads again with the records behind them dead-lettered (`sink_rejected`).
    pub refused: Vec<RefusedChange>,
}

impl SinkError {
    /// An error with no refused changes named.
    pub fn new(sink: &'static str, class: ErrorClass, message: impl Into<String>) -> Self {
        SinkError { sink, class, message: message.into(), refused: Vec::new() }
    }
}

/// A change of a batch that a sink's destination refused.
#[derive(Clone, Debug, PartialEq)]
pub struct RefusedChange {
    /// The change, alone in otherwise empty outputs.
    pub change: Outputs<NetChanges>,
    /// Why the destination refused it, in its words.
    pub reason: String,
}

/// What kind of failure stopped a sink: transient and data errors are retried the same way,
/// told apart in metrics and health; a fatal one stops the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The destination could not be reached or asked to try again (connection lost, restart,
    /// serialization failure, deadlock, timeout): it passes by itself.
    Transient,
    /// The destination refused the data (a value it cannot store, a constraint): retrying the
    /// same batch fails the same way.
    Data,
    /// The sink can take no batch any more: another pipeline took its destination over. The
    /// pipeline stops (a restart resumes from what the destination holds).
    Fatal,
}

impl ErrorClass {
    /// `transient`, `data` or `fatal`, for metrics and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Data => "data",
            ErrorClass::Fatal => "fatal",
        }
    }
}

/// A destination of the pipeline's results: it receives every [`ChangeBatch`], in order.
///
/// The runtime calls [`apply`](Sink::apply) from one thread, never concurrently, and only with
/// complete frontiers; a sink that returns an error gets the same batch again (with backoff)
/// before any later one, so it may commit a batch atomically and rely on seeing each exactly once
/// after its last commit. The one exception: after a sink [names changes it
/// refused](SinkError::refused), every sink gets next a batch from the same `lower` (the pipeline
/// rewound), with the records behind those changes among its dead letters instead.
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

    /// What this sink has stored, for the pipeline to rewind to: only a sink that [stores the
    /// recovery state](Sink::stores_recovery_state) can say. `None`: it cannot.
    fn stored(&mut self) -> Option<Result<Resume, SinkError>> {
        None
    }
}
