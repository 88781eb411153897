//! One worker's Kafka consumer.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::decode::decode_record;
use super::writer_schemas::LookupError;
use super::{KafkaSourceConfig, StartFrom, WriterSchemas};
use flowmart_runtime::{InputTopic, PollStatus, SourceError, SourceProgress, SourceReader, SourceRecord};

/// How often the reader looks for partitions added to its topics.
const METADATA_REFRESH: Duration = Duration::from_secs(10);
/// How long a metadata or offset look-up may block the worker.
const BROKER_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the reader first waits before asking an unreachable broker or registry again; the
/// wait doubles with each failure up to [`MAX_RETRY_AFTER`].
const RETRY_AFTER: Duration = Duration::from_millis(500);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

pub(super) struct KafkaReader {
    consumer: BaseConsumer,
    worker: usize,
    workers: usize,
    topics: Vec<(InputTopic, String)>,
    start: StartFrom,
    resume: SourceProgress,
    schemas: Arc<WriterSchemas>,
    assigned: BTreeSet<(InputTopic, i32)>,
    next_refresh: Instant,
    /// A record read while the registry was unreachable, to decode before anything else.
    held: Option<HeldRecord>,
    /// Whether the first assignment has been made (later partitions start at their beginning).
    started: bool,
    /// The wait before the next retry after a failure.
    retry_after: Duration,
    /// The next offset to read per assigned partition, for the lag gauge.
    next_offsets: BTreeMap<(InputTopic, i32), i64>,
}

struct HeldRecord {
    topic: InputTopic,
    partition: u32,
    offset: u64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

impl KafkaReader {
    pub(super) fn new(
        config: &KafkaSourceConfig,
        schemas: Arc<WriterSchemas>,
        worker: usize,
        workers: usize,
    ) -> Result<Self, SourceError> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.brokers)
            .set("group.id", &config.group_id)
            .set("client.id", format!("flowmart-worker-{worker}"))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            // Bounded prefetch: when the worker stops polling (backpressure), memory stays bounded.
            .set("queued.max.messages.kbytes", "65536");
        for (key, value) in &config.properties {
            client.set(key, value);
        }
        let consumer: BaseConsumer =
            client.create().map_err(|error| SourceError::Config(format!("kafka consumer settings: {error}")))?;
        let topics = InputTopic::ALL.iter().map(|topic| (*topic, config.topics.name(*topic).to_string())).collect();
        Ok(KafkaReader {
            consumer,
            worker,
            workers,
            topics,
            start: config.start,
            resume: config.resume.clone(),
            schemas,
            assigned: BTreeSet::new(),
            next_refresh: Instant::now(),
            held: None,
            started: false,
            retry_after: RETRY_AFTER,
            next_offsets: BTreeMap::new(),
        })
    }

    fn role(&self, topic_name: &str) -> Option<InputTopic> {
        self.topics.iter().find(|(_, name)| name == topic_name).map(|(topic, _)| *topic)
    }

    /// Assigns partitions of the input topics this worker owns and does not read yet.
    fn refresh_assignment(&mut self) -> Result<(), String> {
        let mut new = TopicPartitionList::new();
        let mut by_time = TopicPartitionList::new();
        let mut added = Vec::new();
        for (topic, name) in &self.topics {
            let metadata = self
                .consumer
                .fetch_metadata(Some(name), BROKER_TIMEOUT)
                .map_err(|error| format!("metadata of {name}: {error}"))?;
            for partition in metadata.topics().iter().flat_map(|topic| topic.partitions()) {
                let id = partition.id();
                if id as usize % self.workers != self.worker || self.assigned.contains(&(*topic, id)) {
                    continue;
                }
                match (self.resume.next_offset(*topic, id as u32), self.started, self.start) {
                    (Some(next), _, _) => new.add_partition_offset(name, id, Offset::Offset(next as i64)),
                    (None, false, StartFrom::Latest) => new.add_partition_offset(name, id, Offset::End),
                    (None, false, StartFrom::Timestamp(timestamp)) => {
                        by_time.add_partition_offset(name, id, Offset::Offset(timestamp))
                    }
                    (None, _, _) => new.add_partition_offset(name, id, Offset::Beginning),
                }
                .map_err(|error| error.to_string())?;
                added.push((*topic, id));
            }
        }
        if added.is_empty() {
            self.started = true;
            return Ok(());
        }
        if by_time.count() > 0 {
            let found = self
                .consumer
                .offsets_for_times(by_time, BROKER_TIMEOUT)
                .map_err(|error| format!("offsets for the start time: {error}"))?;
            for element in found.elements() {
                let offset = match element.offset() {
                    Offset::Offset(offset) => Offset::Offset(offset),
                    _ => Offset::End,
                };
                new.add_partition_offset(element.topic(), element.partition(), offset)
                    .map_err(|error| error.to_string())?;
            }
        }
        self.consumer.incremental_assign(&new).map_err(|error| format!("assign: {error}"))?;
        tracing::info!(worker = self.worker, partitions = ?added, "reading partitions");
        self.assigned.extend(added);
        self.started = true;
        Ok(())
    }

    /// The wait after a failure, growing with each consecutive one.
    fn backoff(&mut self) -> Duration {
        let wait = self.retry_after;
        self.retry_after = (self.retry_after * 2).min(MAX_RETRY_AFTER);
        wait
    }

    /// Publishes `flowmart_consumer_lag_records` per assigned partition: the high watermark less
    /// the next offset to read. (On Tansu the high watermark counts batches: the lag reads low.)
    fn report_lag(&self) {
        for (topic, partition) in &self.assigned {
            let Some((_, name)) = self.topics.iter().find(|(role, _)| role == topic) else { continue };
            if let Ok((_, high)) = self.consumer.fetch_watermarks(name, *partition, BROKER_TIMEOUT) {
                let next = self.next_offsets.get(&(*topic, *partition)).copied().unwrap_or(0);
                metrics::gauge!("flowmart_consumer_lag_records", "topic" => name.clone(), "partition" => partition.to_string())
                    .set((high - next).max(0) as f64);
            }
        }
    }

    /// Decodes a record; when the registry is unreachable the record is held and the error says
    /// how long to wait before trying again.
    fn decode(&mut self, record: HeldRecord) -> Result<SourceRecord, Duration> {
        match decode_record(record.topic, record.key.as_deref(), record.value.as_deref(), &self.schemas) {
            Ok(decoded) => Ok(SourceRecord {
                topic: record.topic,
                partition: record.partition,
                offset: record.offset,
                key: record.key,
                raw_value: record.value,
                decoded,
            }),
            Err(LookupError::Unavailable(message)) => {
                let wait = self.backoff();
                tracing::warn!(%message, retry_in_ms = wait.as_millis() as u64, "schema registry unavailable; holding the source until it answers");
                self.held = Some(record);
                Err(wait)
            }
            Err(error) => unreachable!("decode_record turns {error} into a rejection"),
        }
    }

    fn take(&self, message: &BorrowedMessage<'_>) -> Option<HeldRecord> {
        let topic = self.role(message.topic())?;
        Some(HeldRecord {
            topic,
            partition: message.partition() as u32,
            offset: message.offset() as u64,
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
        })
    }
}

impl SourceReader for KafkaReader {
    fn poll(&mut self, max_records: usize, into: &mut Vec<SourceRecord>) -> PollStatus {
        let now = Instant::now();
        if now >= self.next_refresh {
            match self.refresh_assignment() {
                Ok(()) => {
                    self.next_refresh = now + METADATA_REFRESH;
                    self.report_lag();
                }
                Err(message) => {
                    let wait = self.backoff();
                    tracing::warn!(%message, retry_in_ms = wait.as_millis() as u64, "kafka unreachable; retrying");
                    self.next_refresh = now + wait;
                    if !self.started {
                        return PollStatus::IdleUntil(self.next_refresh);
                    }
                }
            }
        }
        if let Some(held) = self.held.take() {
            match self.decode(held) {
                Ok(record) => into.push(record),
                Err(wait) => return PollStatus::IdleUntil(now + wait),
            }
        }
        let mut read = 0;
        while read < max_records {
            match self.consumer.poll(Duration::ZERO) {
                Some(Ok(message)) => {
                    let Some(record) = self.take(&message) else { continue };
                    self.next_offsets.insert((record.topic, record.partition as i32), record.offset as i64 + 1);
                    read += 1;
                    match self.decode(record) {
                        Ok(record) => {
                            self.retry_after = RETRY_AFTER;
                            into.push(record);
                        }
                        Err(wait) => return PollStatus::IdleUntil(now + wait),
                    }
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "kafka consumer error");
                    break;
                }
                None => break,
            }
        }
        // Idle until the consumer's queue wakes the worker (the waker), or the next housekeeping.
        if read == 0 { PollStatus::IdleUntil(self.next_refresh.min(now + METADATA_REFRESH)) } else { PollStatus::Ready }
    }

    fn set_waker(&mut self, waker: flowmart_runtime::Waker) {
        self.consumer.set_nonempty_callback(waker);
    }

    fn checkpoint(&mut self, progress: &SourceProgress) {
        let mut offsets = TopicPartitionList::new();
        for (topic, partition, next) in progress.iter() {
            let Some((_, name)) = self.topics.iter().find(|(role, _)| *role == topic) else { continue };
            if self.assigned.contains(&(topic, partition as i32)) {
                let _ = offsets.add_partition_offset(name, partition as i32, Offset::Offset(next as i64));
            }
        }
        if offsets.count() > 0
            && let Err(error) = self.consumer.commit(&offsets, CommitMode::Async)
        {
            tracing::debug!(%error, "offset commit for lag tools failed");
        }
    }
}
