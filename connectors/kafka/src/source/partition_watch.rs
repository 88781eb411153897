//! Which partitions of the input topics a worker owns, and a thread that watches for more: a
//! metadata request is a round trip per topic, which the worker would otherwise wait out (up to
//! the broker time-out each) every [`REFRESH`] while its records wait.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use flowmart_runtime::{InputTopic, Topics, Waker};

/// How often the input topics are looked up for partitions added to them.
pub(super) const REFRESH: Duration = Duration::from_secs(10);

/// What a worker reads: the input topics' partitions whose id modulo `workers` is `worker`.
#[derive(Clone)]
pub(super) struct Watched {
    pub(super) topics: Topics,
    pub(super) worker: usize,
    pub(super) workers: usize,
    /// How long one metadata request may take.
    pub(super) timeout: Duration,
}

impl Watched {
    /// The partitions this worker owns, as the broker's metadata lists them now.
    pub(super) fn owned_partitions(&self, consumer: &BaseConsumer) -> Result<Vec<(InputTopic, i32)>, String> {
        let mut owned = Vec::new();
        for topic in InputTopic::ALL {
            let name = self.topics.name(topic);
            let metadata = consumer
                .fetch_metadata(Some(name), self.timeout)
                .map_err(|error| format!("metadata of {name}: {error}"))?;
            owned.extend(
                metadata
                    .topics()
                    .iter()
                    .flat_map(|listed| listed.partitions())
                    .map(|partition| partition.id())
                    .filter(|id| *id as usize % self.workers == self.worker)
                    .map(|id| (topic, id)),
            );
        }
        Ok(owned)
    }
}

/// A worker's watch for partitions: a thread of its own, with a client of its own (the worker's
/// consumer is the worker's), that looks every [`REFRESH`] and, when the list changes, hands it
/// over and wakes the worker. Ends at its next wake once dropped.
pub(super) struct PartitionWatch {
    found: Receiver<Vec<(InputTopic, i32)>>,
    _stop: Sender<()>,
}

impl PartitionWatch {
    /// Starts the watch with the worker's client settings; `known` is the list the worker has.
    pub(super) fn start(
        client: &ClientConfig,
        watched: Watched,
        known: Vec<(InputTopic, i32)>,
        waker: Option<Arc<Waker>>,
    ) -> Result<Self, String> {
        let mut client = client.clone();
        client.set("client.id", format!("flowmart-worker-{}-metadata", watched.worker));
        let consumer: BaseConsumer = client.create().map_err(|error| format!("kafka metadata client: {error}"))?;
        let (found_sender, found) = mpsc::channel();
        let (stop, stopped) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("flowmart-partitions-{}", watched.worker))
            .spawn(move || watch(consumer, watched, known, stopped, found_sender, waker))
            .map_err(|error| format!("partition watch thread: {error}"))?;
        Ok(PartitionWatch { found, _stop: stop })
    }

    /// The newest list found since the last call, if any.
    pub(super) fn latest(&self) -> Option<Vec<(InputTopic, i32)>> {
        self.found.try_iter().last()
    }
}

/// The watch thread: looks every [`REFRESH`] until the watch is dropped.
fn watch(
    consumer: BaseConsumer,
    watched: Watched,
    mut known: Vec<(InputTopic, i32)>,
    stopped: Receiver<()>,
    found: Sender<Vec<(InputTopic, i32)>>,
    waker: Option<Arc<Waker>>,
) {
    known.sort_unstable();
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(REFRESH) {
        match watched.owned_partitions(&consumer) {
            Ok(mut partitions) => {
                partitions.sort_unstable();
                if partitions == known {
                    continue;
                }
                known.clone_from(&partitions);
                if found.send(partitions).is_err() {
                    return;
                }
                if let Some(waker) = &waker {
                    waker();
                }
            }
            Err(message) => {
                tracing::warn!(%message, worker = watched.worker, "kafka unreachable; looking for new partitions again later");
            }
        }
    }
}
