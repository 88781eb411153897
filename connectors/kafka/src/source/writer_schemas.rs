//! Writer schemas by id, fetched once from the Schema Registry and cached for every worker.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use apache_avro::Schema;
use flowmart_schemas::WriterSchema;
use schema_registry_converter::blocking::schema_registry::{SrSettings, get_schema_by_id};

use crate::{RegistryClientError, SchemaRegistryConfig};

/// Why a writer schema could not be had.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The registry does not know the id: the record cannot be decoded (it goes to the DLQ).
    #[error("schema id {0} is not registered")]
    UnknownId(u32),
    /// The registry knows it but it does not parse as Avro: the record cannot be decoded.
    #[error("schema id {id} is not a valid Avro schema: {message}")]
    Invalid {
        /// The id.
        id: u32,
        /// What apache-avro said.
        message: String,
    },
    /// The registry could not be asked (down, unreachable, answering errors): no fault of the
    /// record's, so it must be retried, never dead-lettered.
    #[error("schema registry unavailable: {0}")]
    Unavailable(String),
}

/// Where writer schemas come from.
pub trait SchemaLookup: Send + Sync {
    /// The schema text registered under `id`.
    fn schema_text(&self, id: u32) -> Result<String, LookupError>;
}

/// A Confluent-compatible Schema Registry, asked through `schema_registry_converter`.
pub struct Registry {
    settings: SrSettings,
}

impl Registry {
    /// The registry `config` describes.
    pub fn new(config: &SchemaRegistryConfig) -> Result<Self, RegistryClientError> {
        Ok(Registry { settings: config.settings()? })
    }
}

impl SchemaLookup for Registry {
    fn schema_text(&self, id: u32) -> Result<String, LookupError> {
        get_schema_by_id(id, &self.settings).map(|registered| registered.schema).map_err(|error| {
            let text = format!("{error}");
            // A definite "not found" is the record's problem; anything else is the registry's.
            if !error.retriable && (text.contains("404") || text.contains("40403")) {
                LookupError::UnknownId(id)
            } else {
                LookupError::Unavailable(text)
            }
        })
    }
}

/// Parsed writer schemas by id, each with the record whose reader schema it equals found once,
/// shared by every worker of the process.
pub struct WriterSchemas {
    lookup: Box<dyn SchemaLookup>,
    parsed: RwLock<HashMap<u32, Arc<WriterSchema>>>,
}

impl WriterSchemas {
    /// A cache in front of `lookup`.
    pub fn new(lookup: Box<dyn SchemaLookup>) -> Self {
        WriterSchemas { lookup, parsed: RwLock::default() }
    }

    /// The writer schema `id`, from the cache or else from the registry. Unknown and invalid ids
    /// are not cached: registering the schema later makes the next record with it decode.
    pub fn get(&self, id: u32) -> Result<Arc<WriterSchema>, LookupError> {
        if let Some(schema) = self.parsed.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&id) {
            return Ok(Arc::clone(schema));
        }
        let text = self.lookup.schema_text(id)?;
        let schema =
            Schema::parse_str(&text).map_err(|error| LookupError::Invalid { id, message: error.to_string() })?;
        super::safe_schema::check(&schema).map_err(|message| LookupError::Invalid { id, message })?;
        let schema = Arc::new(WriterSchema::from(schema));
        self.parsed.write().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(id, Arc::clone(&schema));
        Ok(schema)
    }
}
