//! One worker's Kafka consumer.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::bindings::{rd_kafka_get_watermark_offsets, rd_kafka_resp_err_t};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::decode::decode_record;
use super::landing::{Landings, Verdict};
use super::partition_watch::{self, PartitionWatch, Watched};
use super::writer_schemas::LookupError;
use super::{KafkaSourceConfig, OnOffsetOutOfRange, StartFrom, WriterSchemas};
use flowmart_runtime::{InputTopic, PollStatus, SourceError, SourceProgress, SourceReader, SourceRecord, Topics};

/// How often the reader publishes its lag (from librdkafka's cached watermarks: no request).
const LAG_REPORT_EVERY: Duration = Duration::from_secs(1);
/// How long a metadata or offset look-up may block the worker.
const BROKER_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the reader first waits before asking an unreachable broker or registry again; the
/// wait doubles with each failure up to [`MAX_RETRY_AFTER`].
const RETRY_AFTER: Duration = Duration::from_millis(500);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

pub(super) struct KafkaReader {
    consumer: BaseConsumer,
    /// The consumer's settings, for the partition watch's own client.
    client: ClientConfig,
    /// Looks for partitions added to the topics once the first are assigned.
    watch: Option<PartitionWatch>,
    /// Wakes the worker: when records arrive, or the watch finds partitions.
    waker: Option<Arc<flowmart_runtime::Waker>>,
    /// Partitions listed but not assigned yet (the assignment failed; retried at `retry_at`).
    unassigned: Option<Vec<(InputTopic, i32)>>,
    /// This worker's share of the input topics' partitions.
    watched: Watched,
    topics: Topics,
    start: StartFrom,
    on_offset_out_of_range: OnOffsetOutOfRange,
    resume: SourceProgress,
    schemas: Arc<WriterSchemas>,
    assigned: BTreeSet<(InputTopic, i32)>,
    /// After a failure to list or assign partitions: when to try again.
    retry_at: Option<Instant>,
    /// When the lag is next published.
    next_lag_report: Instant,
    /// A record read while the registry was unreachable, to decode before anything else.
    held: Option<HeldRecord>,
    /// Whether the first assignment has been made (later partitions start at their beginning).
    started: bool,
    /// The wait before the next retry after a failure.
    retry_after: Duration,
    /// The next offset to read per assigned partition, where known (assigned at an offset, or
    /// read from): for the lag gauge, and to tell which partition is out of range.
    next_offsets: BTreeMap<(InputTopic, i32), i64>,
    /// Where each assigned partition was started.
    starts: BTreeMap<(InputTopic, i32), Offset>,
    /// librdkafka reported an out-of-range offset that the reader has not yet placed.
    out_of_range_reported: bool,
    /// The partitions started at an offset: where each is to read from (`landing.rs`).
    landings: Landings,
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
            .set("queued.max.messages.kbytes", "65536")
            // Once the queue is over `queued.min.messages` (which librdkafka compares with the
            // whole consumer queue), each partition's next fetch waits this long: librdkafka's
            // default (1 s) let a worker drain its queue and then stand idle for most of a
            // second, every second, reading a backlog (BENCHMARKS.md, "Workers idle for want of records").
            .set("fetch.queue.backoff.ms", "10");
        for (key, value) in &config.properties {
            client.set(key, value);
        }
        // Never move a partition whose offset is out of range silently (librdkafka's default is
        // `latest`, skipping every retained record): report it, for `on_offset_out_of_range`.
        client.set("auto.offset.reset", "error");
        let consumer: BaseConsumer =
            client.create().map_err(|error| SourceError::Config(format!("kafka consumer settings: {error}")))?;
        Ok(KafkaReader {
            consumer,
            client,
            watch: None,
            waker: None,
            unassigned: None,
            watched: Watched { topics: config.topics.clone(), worker, workers, timeout: BROKER_TIMEOUT },
            topics: config.topics.clone(),
            start: config.start,
            on_offset_out_of_range: config.on_offset_out_of_range,
            resume: config.resume.clone(),
            schemas,
            assigned: BTreeSet::new(),
            retry_at: None,
            next_lag_report: Instant::now(),
            held: None,
            started: false,
            retry_after: RETRY_AFTER,
            next_offsets: BTreeMap::new(),
            starts: BTreeMap::new(),
            out_of_range_reported: false,
            landings: Landings::default(),
        })
    }

    fn role(&self, topic_name: &str) -> Option<InputTopic> {
        InputTopic::ALL.into_iter().find(|topic| self.topics.name(*topic) == topic_name)
    }

    /// Assigns partitions of the input topics this worker owns and does not read yet: at start as
    /// the broker lists them (the worker has nothing to read before), later as the watch finds
    /// them, off the worker's thread.
    fn refresh_assignment(&mut self) -> Result<(), String> {
        let latest = match &self.watch {
            None => Some(self.watched.owned_partitions(&self.consumer)?),
            Some(watch) => watch.latest(),
        };
        let Some(listed) = latest.or_else(|| self.unassigned.take()) else { return Ok(()) };
        let added = listed.iter().filter(|partition| !self.assigned.contains(partition)).copied().collect();
        if let Err(error) = self.assign(added) {
            self.unassigned = Some(listed);
            return Err(error);
        }
        if self.watch.is_none() {
            self.watch = Some(PartitionWatch::start(&self.client, self.watched.clone(), listed, self.waker.clone())?);
        }
        Ok(())
    }

    /// Assigns `added`, each where it starts: the offset the stored results cover, else the
    /// configured start for the first assignment and the beginning for partitions added later.
    fn assign(&mut self, added: Vec<(InputTopic, i32)>) -> Result<(), String> {
        let mut new = TopicPartitionList::new();
        // Starts to resolve to offsets, in one request: a start time, or the earliest offset
        // (its "time" is -2, `Offset::Beginning`). librdkafka would resolve `Beginning` itself,
        // but only after a wait (measured: the first record 0.5 s after the assignment, 25 ms
        // from a resolved offset).
        let mut to_resolve = TopicPartitionList::new();
        // Resolved, but still logical starts for out-of-range handling: not next offsets known
        // to be held.
        let mut from_earliest = BTreeSet::new();
        for &(topic, id) in &added {
            let name = self.topics.name(topic);
            match (self.resume.next_offset(topic, id as u32), self.started, self.start) {
                (Some(next), _, _) => new.add_partition_offset(name, id, Offset::Offset(next as i64)),
                (None, false, StartFrom::Latest) => new.add_partition_offset(name, id, Offset::End),
                (None, false, StartFrom::Timestamp(timestamp)) => {
                    to_resolve.add_partition_offset(name, id, Offset::Offset(timestamp))
                }
                (None, _, _) => {
                    from_earliest.insert((topic, id));
                    to_resolve.add_partition_offset(name, id, Offset::Beginning)
                }
            }
            .map_err(|error| error.to_string())?;
            metrics::counter!("flowmart_offset_out_of_range_total", "topic" => name.to_string(), "partition" => id.to_string())
                .increment(0);
        }
        if added.is_empty() {
            self.started = true;
            return Ok(());
        }
        if to_resolve.count() > 0 {
            let found = self
                .consumer
                .offsets_for_times(to_resolve, BROKER_TIMEOUT)
                .map_err(|error| format!("offsets to start at: {error}"))?;
            for element in found.elements() {
                let earliest = self
                    .role(element.topic())
                    .is_some_and(|topic| from_earliest.contains(&(topic, element.partition())));
                let offset = match element.offset() {
                    Offset::Offset(offset) => Offset::Offset(offset),
                    // Not resolved: the earliest stays logical; no record at or after a start
                    // time starts at the end.
                    _ if earliest => Offset::Beginning,
                    _ => Offset::End,
                };
                new.add_partition_offset(element.topic(), element.partition(), offset)
                    .map_err(|error| error.to_string())?;
            }
        }
        self.consumer.incremental_assign(&new).map_err(|error| format!("assign: {error}"))?;
        for element in new.elements() {
            let Some(topic) = self.role(element.topic()) else { continue };
            let key = (topic, element.partition());
            if from_earliest.contains(&key) {
                self.starts.insert(key, Offset::Beginning);
                self.landings.starting_anywhere(key);
                continue;
            }
            match element.offset() {
                Offset::Offset(next) => {
                    self.next_offsets.insert(key, next);
                    self.landings.starting_at(key, next, Instant::now());
                }
                _ => self.landings.starting_anywhere(key),
            }
            self.starts.insert(key, element.offset());
        }
        tracing::info!(worker = self.watched.worker, partitions = ?added, "reading partitions");
        self.assigned.extend(added);
        self.started = true;
        Ok(())
    }

    /// After librdkafka reported an offset out of range (rdkafka passes the error on without its
    /// partition): finds the assigned partitions whose next offset the broker does not hold and
    /// applies `on_offset_out_of_range` to each. `Err` is the failure, naming the partition and
    /// offsets, when that is to fail.
    fn place_out_of_range(&mut self) -> Result<(), String> {
        let mut out_of_range = Vec::new();
        for &(topic, partition) in &self.assigned {
            let Some(&next) = self.next_offsets.get(&(topic, partition)) else { continue };
            let name = self.topics.name(topic);
            match self.consumer.fetch_watermarks(name, partition, BROKER_TIMEOUT) {
                Ok((low, high)) if next < low || next > high => out_of_range.push((topic, partition, next, low, high)),
                Ok(_) => {}
                Err(error) => {
                    // Placed at the next poll, once the broker answers.
                    tracing::warn!(%error, topic = name, partition, "kafka unreachable; retrying");
                    return Ok(());
                }
            }
        }
        self.out_of_range_reported = false;
        let mut restart = Vec::new();
        for (topic, partition, next, low, high) in out_of_range {
            let name = self.topics.name(topic);
            metrics::counter!("flowmart_offset_out_of_range_total", "topic" => name.to_string(), "partition" => partition.to_string())
                .increment(1);
            let why = match next < low {
                true => format!("below its earliest offset {low}: the records fell off the topic's retention"),
                false => format!("beyond its end {high}: was the topic deleted and created again?"),
            };
            if self.on_offset_out_of_range == OnOffsetOutOfRange::Fail {
                return Err(format!(
                    "kafka: {name} partition {partition}: the next offset to read, {next}, is out of range ({why}); \
                     stopping, as kafka.on_offset_out_of_range = \"fail\" says"
                ));
            }
            tracing::warn!(
                topic = name,
                partition,
                offset = next,
                earliest = low,
                end = high,
                "the next offset to read is out of range ({why}); reading the partition from its earliest offset, \
                 {low}, as kafka.on_offset_out_of_range = \"earliest\" says"
            );
            self.next_offsets.insert((topic, partition), low);
            restart.push(((topic, partition), Offset::Beginning));
        }
        if restart.is_empty() {
            // Nothing is out of range now (the partition has grown past it meanwhile, or read
            // nothing yet since a logical start): start every partition again where it was, so
            // that none stays stopped.
            tracing::warn!("kafka reported an offset out of range, but no partition's is now; assigning each again");
            restart = self
                .starts
                .iter()
                .map(|(key, start)| (*key, self.next_offsets.get(key).map_or(*start, |next| Offset::Offset(*next))))
                .collect();
        }
        if let Err(error) = self.restart(&restart) {
            tracing::warn!(%error, "kafka unreachable; retrying");
            self.out_of_range_reported = true;
        }
        Ok(())
    }

    /// Assigns `partitions` again, each at its offset (librdkafka stops fetching a partition whose
    /// offset it reported out of range; only a new assignment starts it again).
    fn restart(&mut self, partitions: &[((InputTopic, i32), Offset)]) -> Result<(), String> {
        self.reassign(partitions)?;
        for &(partition, offset) in partitions {
            match offset {
                Offset::Offset(next) => self.landings.starting_at(partition, next, Instant::now()),
                _ => self.landings.starting_anywhere(partition),
            }
        }
        self.starts.extend(partitions.iter().copied());
        Ok(())
    }

    /// Fetches `partition` again from `offset`, before where it is to start (`landing.rs`).
    fn fetch_again(&self, (topic, partition): (InputTopic, i32), offset: i64) {
        let name = self.topics.name(topic);
        tracing::debug!(
            topic = name,
            partition,
            offset,
            "the partition's first record is not there yet; fetching from further back"
        );
        if let Err(error) = self.reassign(&[((topic, partition), Offset::Offset(offset))]) {
            tracing::warn!(%error, topic = name, partition, "cannot fetch the partition from further back; it reads on where the broker started it");
        }
    }

    /// Unassigns `partitions` and assigns each again at its offset: librdkafka fetches it anew
    /// from there.
    fn reassign(&self, partitions: &[((InputTopic, i32), Offset)]) -> Result<(), String> {
        let (mut stop, mut start) = (TopicPartitionList::new(), TopicPartitionList::new());
        for &((topic, partition), offset) in partitions {
            stop.add_partition(self.topics.name(topic), partition);
            start
                .add_partition_offset(self.topics.name(topic), partition, offset)
                .map_err(|error| error.to_string())?;
        }
        self.consumer.incremental_unassign(&stop).map_err(|error| format!("unassign: {error}"))?;
        self.consumer.incremental_assign(&start).map_err(|error| format!("assign: {error}"))
    }

    /// The wait after a failure, growing with each consecutive one.
    fn backoff(&mut self) -> Duration {
        let wait = self.retry_after;
        self.retry_after = (self.retry_after * 2).min(MAX_RETRY_AFTER);
        wait
    }

    /// Publishes `flowmart_consumer_lag_records` per assigned partition: the high watermark less
    /// the next offset to read. (On Tansu the high watermark counts batches: the lag reads low.)
    /// A partition not fetched from yet has none.
    fn report_lag(&self) {
        for (topic, partition) in &self.assigned {
            let name = self.topics.name(*topic);
            if let Some(high) = self.cached_high_watermark(name, *partition) {
                let next = self.next_offsets.get(&(*topic, *partition)).copied().unwrap_or(0);
                metrics::gauge!("flowmart_consumer_lag_records", "topic" => name.to_string(), "partition" => partition.to_string())
                    .set((high - next).max(0) as f64);
            }
        }
    }

    /// The partition's high watermark as the last fetch response for it said: librdkafka's
    /// cache, so the worker never waits on the broker for it (a request per partition took the
    /// worker off its records for a round trip each); `None` before a first fetch.
    fn cached_high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        cached_watermarks(&self.consumer, topic, partition).map(|(_, high)| high)
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
}

/// A message of `topic`, as the reader holds it.
fn take(topic: InputTopic, message: &BorrowedMessage<'_>) -> HeldRecord {
    HeldRecord {
        topic,
        partition: message.partition() as u32,
        offset: message.offset() as u64,
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
    }
}

/// A partition's earliest offset and high watermark as the last fetch response for it said
/// (librdkafka's cache: no request); `None` before a first fetch.
fn cached_watermarks(consumer: &BaseConsumer, topic: &str, partition: i32) -> Option<(i64, i64)> {
    let topic = CString::new(topic).ok()?;
    let (mut low, mut high) = (-1_i64, -1_i64);
    // SAFETY: the client handle lives as long as `consumer`, the topic is a NUL-terminated
    // string that outlives the call, and the out-parameters point to locals; the call only
    // reads librdkafka's cache under its own lock.
    let error = unsafe {
        rd_kafka_get_watermark_offsets(consumer.client().native_ptr(), topic.as_ptr(), partition, &mut low, &mut high)
    };
    (error == rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some((low, high))
}

/// A partition's earliest offset from librdkafka's cache, where known.
fn cached_earliest(consumer: &BaseConsumer, topic: &str, partition: i32) -> Option<i64> {
    cached_watermarks(consumer, topic, partition).map(|(low, _)| low).filter(|low| *low >= 0)
}

impl SourceReader for KafkaReader {
    fn poll(&mut self, max_records: usize, into: &mut Vec<SourceRecord>) -> PollStatus {
        let now = Instant::now();
        if self.retry_at.is_none_or(|at| now >= at) {
            self.retry_at = None;
            if let Err(message) = self.refresh_assignment() {
                let wait = self.backoff();
                tracing::warn!(%message, retry_in_ms = wait.as_millis() as u64, "kafka unreachable; retrying");
                self.retry_at = Some(now + wait);
                if !self.started {
                    return PollStatus::IdleUntil(now + wait);
                }
            }
        }
        if now >= self.next_lag_report {
            self.report_lag();
            self.next_lag_report = now + LAG_REPORT_EVERY;
        }
        if self.out_of_range_reported {
            if let Err(failure) = self.place_out_of_range() {
                // The runtime fails the pipeline when a worker panics, with this message and the
                // worker named: a source has no other way to stop it.
                panic!("{failure}");
            }
            if self.out_of_range_reported {
                return PollStatus::IdleUntil(now + self.backoff());
            }
        }
        if let Some(held) = self.held.take() {
            match self.decode(held) {
                Ok(record) => into.push(record),
                Err(wait) => return PollStatus::IdleUntil(now + wait),
            }
        }
        let (consumer, topics) = (&self.consumer, &self.topics);
        let watermarks = |(topic, partition)| cached_watermarks(consumer, topics.name(topic), partition);
        for (partition, offset) in self.landings.stalled(now, watermarks) {
            self.fetch_again(partition, offset);
        }
        let mut read = 0;
        while read < max_records {
            match self.consumer.poll(Duration::ZERO) {
                Some(Ok(message)) => {
                    let Some(topic) = self.role(message.topic()) else { continue };
                    let partition = (topic, message.partition());
                    let (consumer, name) = (&self.consumer, self.topics.name(topic));
                    let earliest = || cached_earliest(consumer, name, partition.1);
                    match self.landings.verdict(partition, message.offset(), earliest, now) {
                        Verdict::Read => {}
                        Verdict::Drop => continue,
                        Verdict::FetchFrom(offset) => {
                            self.fetch_again(partition, offset);
                            continue;
                        }
                    }
                    let record = take(topic, &message);
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
                Some(Err(KafkaError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset))) => {
                    self.out_of_range_reported = true;
                    break;
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "kafka consumer error");
                    break;
                }
                None => break,
            }
        }
        // Idle until the consumer's queue wakes the worker (the waker), or the next housekeeping;
        // an offset reported out of range is placed at once.
        if self.out_of_range_reported {
            return PollStatus::Ready;
        }
        let mut housekeeping = now + partition_watch::REFRESH;
        if let Some(patience_end) = self.landings.next_patience_end() {
            housekeeping = housekeeping.min(patience_end);
        }
        if read == 0 {
            PollStatus::IdleUntil(self.retry_at.map_or(housekeeping, |at| at.min(housekeeping)))
        } else {
            PollStatus::Ready
        }
    }

    fn set_waker(&mut self, waker: flowmart_runtime::Waker) {
        let waker = Arc::new(waker);
        self.waker = Some(Arc::clone(&waker));
        self.consumer.set_nonempty_callback(move || waker());
    }

    fn checkpoint(&mut self, progress: &SourceProgress) {
        let mut offsets = TopicPartitionList::new();
        for (topic, partition, next) in progress.iter() {
            let name = self.topics.name(topic);
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
