//! The Kafka source: rdkafka consumers inside the timely workers, reading Confluent-framed Avro
//! through a Schema Registry.
//!
//! Partition `p` of every input topic belongs to worker `p mod workers` — no consumer-group
//! rebalancing decides it, so a cluster of processes agrees without talking. Offsets belong to
//! the pipeline: a reader resumes a partition at the offset the pipeline's stored results cover,
//! and starts one without stored progress where it is told ([`StartFrom`]); it commits what results cover
//! to the consumer group only so that standard lag tools see the pipeline. Partitions added while
//! running are picked up (from their beginning). A record that cannot be decoded is handed on as
//! a rejection (it becomes a dead letter); a registry that cannot be reached holds the reader
//! back instead, so no good record is ever dead-lettered for it.
//!
//! A partition whose next offset the broker does not hold (it fell off the topic's retention, or
//! the topic was re-created) is never moved silently: librdkafka's `auto.offset.reset` is
//! `error`, and the reader applies [`OnOffsetOutOfRange`] — loudly, and counted in
//! `flowmart_offset_out_of_range_total{topic,partition}`.

mod decode;
mod landing;
mod partition_watch;
mod reader;
mod safe_schema;
mod writer_schemas;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

pub use decode::decode_record;
pub use writer_schemas::{LookupError, Registry, SchemaLookup, WriterSchemas};

use flowmart_runtime::{Source, SourceError, SourceProgress, SourceReader, Topics};

/// Where a partition with no stored progress starts: `earliest`, `latest`, or an RFC 3339 time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum StartFrom {
    /// Its first offset.
    #[default]
    Earliest,
    /// Its end: only records produced from now on.
    Latest,
    /// The first offset whose timestamp is at or after this time (ms since the epoch).
    Timestamp(i64),
}

impl std::str::FromStr for StartFrom {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "earliest" => Ok(StartFrom::Earliest),
            "latest" => Ok(StartFrom::Latest),
            time => time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339)
                .map(|at| StartFrom::Timestamp((at.unix_timestamp_nanos() / 1_000_000) as i64))
                .map_err(|_| format!("must be earliest, latest or an RFC 3339 time, got {text:?}")),
        }
    }
}

impl TryFrom<String> for StartFrom {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<StartFrom> for String {
    fn from(start: StartFrom) -> String {
        match start {
            StartFrom::Earliest => "earliest".into(),
            StartFrom::Latest => "latest".into(),
            StartFrom::Timestamp(ms) => time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .ok()
                .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok())
                .unwrap_or_else(|| ms.to_string()),
        }
    }
}

/// What the reader does with a partition whose next offset the broker does not hold: below the
/// partition's first offset (it fell off the topic's retention) or beyond its end (the topic was
/// deleted and created again). Either way it logs a warning naming the topic, partition, offset
/// and range, and counts it in `flowmart_offset_out_of_range_total{topic,partition}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnOffsetOutOfRange {
    /// Read the partition again from its earliest offset.
    #[default]
    Earliest,
    /// Fail the pipeline, naming the partition and the offsets.
    Fail,
}

/// How to reach Kafka and what to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaSourceConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// The consumer group offsets are committed to (for lag tools only).
    pub group_id: String,
    /// The input topics.
    pub topics: Topics,
    /// Where partitions without stored progress start.
    pub start: StartFrom,
    /// Stored progress: a partition named here starts at its next offset.
    pub resume: SourceProgress,
    /// What to do when a partition's next offset is out of range.
    pub on_offset_out_of_range: OnOffsetOutOfRange,
    /// Further librdkafka consumer properties.
    pub properties: BTreeMap<String, String>,
}

/// The Kafka source: one [`reader`](Source::reader) per worker.
pub struct KafkaSource {
    config: KafkaSourceConfig,
    schemas: Arc<WriterSchemas>,
    /// Where the pipeline last rewound to: readers opened since start there, not at
    /// `config.resume`.
    rewound: Mutex<Option<SourceProgress>>,
}

impl KafkaSource {
    /// A source reading `config`'s topics, decoding with writer schemas from `schemas`.
    pub fn new(config: KafkaSourceConfig, schemas: Arc<WriterSchemas>) -> Self {
        KafkaSource { config, schemas, rewound: Mutex::default() }
    }
}

impl Source for KafkaSource {
    fn reader(&self, worker: usize, workers: usize) -> Result<Box<dyn SourceReader>, SourceError> {
        let rewound = self.rewound.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let config = match rewound {
            Some(resume) => &KafkaSourceConfig { resume, ..self.config.clone() },
            None => &self.config,
        };
        let reader = reader::KafkaReader::new(config, Arc::clone(&self.schemas), worker, workers)?;
        Ok(Box::new(reader))
    }

    fn can_rewind(&self) -> bool {
        true
    }

    fn rewind(&self, progress: &SourceProgress) {
        *self.rewound.lock().unwrap_or_else(PoisonError::into_inner) = Some(progress.clone());
    }
}
