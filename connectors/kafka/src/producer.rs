//! The producer both Kafka sinks use: idempotent, and counting failed deliveries.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext, PurgeConfig};
use serde::{Deserialize, Serialize};

/// How to reach Kafka for the sinks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Further librdkafka producer properties (e.g. `enable.idempotence`, security settings).
    pub properties: BTreeMap<String, String>,
}

/// Why a Kafka sink could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSinkError {
    /// The producer settings are wrong.
    #[error("kafka producer settings: {0}")]
    Config(String),
    /// The schema of the alert records could not be registered.
    #[error("cannot register the {subject} schema with the schema registry: {message}")]
    Registry {
        /// The subject.
        subject: String,
        /// What the registry client said.
        message: String,
    },
}

/// Counts deliveries that failed since the last flush.
#[derive(Default)]
pub(super) struct DeliveryFailures(AtomicUsize);

impl ClientContext for DeliveryFailures {}

impl ProducerContext for DeliveryFailures {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            tracing::warn!(%error, "kafka delivery failed");
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A producer whose [`send_all`](SinkProducer::send_all) returns only once every record is
/// acknowledged, or says how many were not — and, either way, with none of its records left in
/// librdkafka's queues or in flight: what a caller reads back from the topic afterwards is final,
/// and a record it sends again can never land behind a late first copy.
pub(super) struct SinkProducer {
    producer: Arc<BaseProducer<DeliveryFailures>>,
    /// Longer than any record can live in the producer (`message.timeout.ms` plus a margin).
    flush_timeout: Duration,
}

/// How long a record may wait for its acknowledgement (`message.timeout.ms`) unless the
/// producer properties say otherwise; librdkafka's own default is 5 minutes.
const MESSAGE_TIMEOUT_MS: u64 = 20_000;

/// How long opening a producer waits for its topic's metadata.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The first and the longest pause between two looks for delivery reports: the pause doubles
/// while none is due, so an acknowledgement within a millisecond is seen within tens of
/// microseconds, and a slow broker costs a wake-up every 2 ms. (A wake-up costs the waiting
/// thread ~50 µs of CPU on a 2-vCPU VM: one a millisecond put a long wait at 5 % of a core.
/// rdkafka's own `poll` waits out its whole timeout, and one under a millisecond, which it
/// truncates to zero, it spends spinning: its 1 ms poll kept the collector busy for every
/// batch's acknowledgements.)
const FIRST_PAUSE: Duration = Duration::from_micros(25);
const LONGEST_PAUSE: Duration = Duration::from_millis(2);

/// Beyond `message.timeout.ms`, how long a flush waits for the last delivery reports.
const REPORT_MARGIN: Duration = Duration::from_secs(10);

impl SinkProducer {
    /// A producer for `topic`, connected: it asks for the topic's metadata at once, and an answer
    /// from a broker also starts the idempotent producer's request for its id. (Otherwise
    /// librdkafka asks for the id on a 500 ms timer, and only once a broker is connected, which it
    /// does at the first record: the first batch waited 0.5–1 s.) Asked on a thread of its own; a
    /// broker that does not answer is not an error here, the first send reports it.
    pub(super) fn new(config: &KafkaSinkConfig, client_id: &str, topic: &str) -> Result<Self, KafkaSinkError> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.brokers)
            .set("client.id", client_id)
            .set("enable.idempotence", "true")
            // Every batch is flushed as soon as it is queued: lingering would only delay it.
            .set("linger.ms", "0")
            .set("message.timeout.ms", MESSAGE_TIMEOUT_MS.to_string());
        for (key, value) in &config.properties {
            client.set(key, value);
        }
        let message_timeout = match client.get("message.timeout.ms").map(str::parse::<u64>) {
            Some(Ok(ms)) if ms > 0 => Duration::from_millis(ms),
            _ => return Err(KafkaSinkError::Config("message.timeout.ms must be a positive number of ms".into())),
        };
        let producer: Arc<BaseProducer<DeliveryFailures>> = Arc::new(
            client
                .create_with_context(DeliveryFailures::default())
                .map_err(|error| KafkaSinkError::Config(error.to_string()))?,
        );
        // Beside the start, which a broker not answering yet must not hold up. Twice: the first
        // answer may come from the bootstrap connection, which librdkafka drops once it knows
        // the brokers, and then finds no broker to ask for the id; the second comes from a
        // broker it keeps.
        let (connecting, topic) = (Arc::clone(&producer), topic.to_string());
        std::thread::Builder::new()
            .name("sink-connect".into())
            .spawn(move || {
                for _ in 0..2 {
                    if let Err(error) = connecting.client().fetch_metadata(Some(&topic), CONNECT_TIMEOUT) {
                        tracing::debug!(%error, topic, "the broker did not answer for the sink's topic yet");
                        break;
                    }
                }
            })
            .map_err(|error| KafkaSinkError::Config(format!("cannot start a thread: {error}")))?;
        Ok(SinkProducer { producer, flush_timeout: message_timeout + REPORT_MARGIN })
    }

    /// Sends what lingers at once and serves delivery reports until none is outstanding, or
    /// until `flush_timeout`. Not rdkafka's `Producer::flush`: that polls in 100 ms slices which
    /// (rdkafka 0.39) always run to their end, so a batch acknowledged within a millisecond
    /// held the collector for 100 ms — every batch with a dead letter or an alert change did.
    ///
    /// librdkafka's flush is asked once, to send lingering records now; after that the count of
    /// records in flight (an atomic read) says when all are acknowledged, which keeps each
    /// wake-up of a long wait to a few microseconds.
    fn flush(&self) -> Result<(), KafkaError> {
        let deadline = Instant::now() + self.flush_timeout;
        let mut pause = FIRST_PAUSE;
        let mut flushed = self.producer.flush(Duration::ZERO);
        while let Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)) = flushed
            && Instant::now() < deadline
        {
            self.serve_reports(&mut pause);
            if self.producer.in_flight_count() == 0 {
                flushed = Ok(());
            }
        }
        flushed
    }

    /// Serves a delivery report that has arrived; when none had, pauses for `pause`, which
    /// doubles up to [`LONGEST_PAUSE`] for the next call.
    fn serve_reports(&self, pause: &mut Duration) {
        let outstanding = self.producer.in_flight_count();
        self.producer.poll(Duration::ZERO);
        if self.producer.in_flight_count() < outstanding {
            *pause = FIRST_PAUSE;
        } else {
            std::thread::sleep(*pause);
            *pause = (*pause * 2).min(LONGEST_PAUSE);
        }
    }

    /// Drops what is still queued (never sent) and waits for the delivery report of everything in
    /// flight: afterwards no record of this producer can still land.
    fn settle(&self) {
        self.producer.purge(PurgeConfig::default().queue());
        if let Err(error) = self.flush() {
            tracing::warn!(%error, "delivery reports still missing after the message timeout");
        }
        self.producer.context().0.store(0, Ordering::Relaxed);
    }

    /// Sends every record and waits for all acknowledgements.
    pub(super) fn send_all<'a>(
        &self,
        records: impl IntoIterator<Item = BaseRecord<'a, [u8], [u8]>>,
    ) -> Result<usize, String> {
        let (mut sent, mut pause) = (0, FIRST_PAUSE);
        for record in records {
            let mut pending = record;
            loop {
                match self.producer.send(pending) {
                    Ok(()) => break,
                    Err((error, returned))
                        if matches!(error.rdkafka_error_code(), Some(rdkafka::types::RDKafkaErrorCode::QueueFull)) =>
                    {
                        self.serve_reports(&mut pause);
                        pending = returned;
                    }
                    Err((error, _)) => {
                        self.settle();
                        return Err(format!("cannot queue a record: {error}"));
                    }
                }
            }
            sent += 1;
        }
        // Every record times out within `message.timeout.ms`, so the flush ends with each one
        // acknowledged or failed; if it does not, nothing of this batch may stay behind.
        if let Err(error) = self.flush() {
            self.settle();
            return Err(format!("records not acknowledged: {error}"));
        }
        match self.producer.context().0.swap(0, Ordering::Relaxed) {
            0 => Ok(sent),
            failed => Err(format!("{failed} of {sent} records were not delivered")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(properties: &[(&str, &str)]) -> KafkaSinkConfig {
        let properties = properties.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect();
        KafkaSinkConfig { brokers: "127.0.0.1:9".into(), properties }
    }

    #[test]
    fn a_flush_always_outlasts_every_record_so_nothing_is_left_behind_a_failed_send() {
        let producer = SinkProducer::new(&config(&[]), "test", "t").unwrap();
        assert_eq!(producer.flush_timeout, Duration::from_millis(MESSAGE_TIMEOUT_MS) + REPORT_MARGIN);
        let producer = SinkProducer::new(&config(&[("message.timeout.ms", "600000")]), "test", "t").unwrap();
        assert_eq!(producer.flush_timeout, Duration::from_secs(600) + REPORT_MARGIN, "a longer timeout is waited out");
        assert!(SinkProducer::new(&config(&[("message.timeout.ms", "soon")]), "test", "t").is_err());
    }

    /// The CPU time the calling thread has had, from the scheduler's own account.
    fn thread_cpu_time() -> Duration {
        let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux's schedstat");
        Duration::from_nanos(schedstat.split_whitespace().next().and_then(|ns| ns.parse().ok()).expect("ns on a CPU"))
    }

    #[test]
    fn waiting_for_acknowledgements_leaves_the_cpu_to_the_pipeline() {
        let cluster = rdkafka::mocking::MockCluster::new(1).expect("a mock cluster");
        cluster.create_topic("t", 1, 1).expect("a topic");
        let sink = KafkaSinkConfig { brokers: cluster.bootstrap_servers(), properties: Default::default() };
        let producer = SinkProducer::new(&sink, "test", "t").expect("a producer");
        let record = || BaseRecord::to("t").key(b"k".as_slice()).payload(b"v".as_slice());
        // Connected, with its producer id, before the broker slows down.
        assert_eq!(producer.send_all([record()]), Ok(1));
        cluster.broker_round_trip_time(1, Duration::from_millis(300)).expect("a slower broker");

        let (started, cpu) = (Instant::now(), thread_cpu_time());
        for _ in 0..3 {
            assert_eq!(producer.send_all([record()]), Ok(1));
        }
        let (waited, spent) = (started.elapsed(), thread_cpu_time() - cpu);
        assert!(waited >= Duration::from_millis(900), "three acknowledgements 300 ms away took {waited:?}");
        assert!(spent < waited / 20, "{spent:?} on the CPU while waiting {waited:?} for acknowledgements");
    }
}
