//! `[kafka]`: the brokers, how to reach them securely, the Schema Registry, and what to read and
//! publish.
//!
//! The security settings become librdkafka properties of every client (the consumers, the
//! producers, the alert sink's read-back consumer); `[kafka.properties]` adds any other property
//! for every client, `[kafka.consumer]` and `[kafka.producer]` for one kind. librdkafka's property
//! names have no `_`, so in these tables `_` stands for `.`: that is how a property is set from
//! the environment, e.g. `FLOWMART__KAFKA__PROPERTIES__SSL_ENDPOINT_IDENTIFICATION_ALGORITHM=none`
//! sets `ssl.endpoint.identification.algorithm`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use flowmart_kafka::{OnOffsetOutOfRange, SchemaRegistryConfig, StartFrom};
use serde::{Deserialize, Deserializer, Serialize};

use super::secret_files;

/// `[kafka]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaSettings {
    /// `bootstrap.servers` (required; `FLOWMART_BROKERS`, `--brokers`).
    pub brokers: String,
    /// Schema Registry URL, `http://` or `https://` (required; `FLOWMART_SCHEMA_REGISTRY_URL`,
    /// `--schema-registry`).
    pub schema_registry_url: String,
    /// Basic-auth username for the registry (Confluent Cloud: the API key). Default none.
    #[serde(default)]
    pub schema_registry_username: Option<String>,
    /// Its password (Confluent Cloud: the API secret); or `schema_registry_password_file`.
    /// Default none.
    #[serde(default)]
    pub schema_registry_password: Option<String>,
    /// A file holding `schema_registry_password`. Default none.
    #[serde(default)]
    pub schema_registry_password_file: Option<PathBuf>,
    /// PEM CA certificate(s) an https registry is checked against, besides the system's.
    /// Default none.
    #[serde(default)]
    pub schema_registry_ca_file: Option<PathBuf>,
    /// `security.protocol`: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`. Default
    /// `PLAINTEXT`.
    #[serde(default)]
    pub security_protocol: Option<SecurityProtocol>,
    /// PEM CA certificate(s) the brokers' certificates are checked against (`ssl.ca.location`).
    /// Default: the system's CA certificates (`probe`).
    #[serde(default)]
    pub ssl_ca_file: Option<PathBuf>,
    /// PEM client certificate, for brokers that authenticate clients by TLS
    /// (`ssl.certificate.location`). Default none.
    #[serde(default)]
    pub ssl_certificate_file: Option<PathBuf>,
    /// PEM private key of the client certificate (`ssl.key.location`). Default none.
    #[serde(default)]
    pub ssl_key_file: Option<PathBuf>,
    /// The password of an encrypted `ssl_key_file` (`ssl.key.password`); or
    /// `ssl_key_password_file`. Default none.
    #[serde(default)]
    pub ssl_key_password: Option<String>,
    /// A file holding `ssl_key_password`. Default none.
    #[serde(default)]
    pub ssl_key_password_file: Option<PathBuf>,
    /// `sasl.mechanism`: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (required with a `SASL_`
    /// protocol unless `[kafka.properties]` names another). Default none.
    #[serde(default)]
    pub sasl_mechanism: Option<SaslMechanism>,
    /// `sasl.username`. Default none.
    #[serde(default)]
    pub sasl_username: Option<String>,
    /// `sasl.password`; or `sasl_password_file`. Default none.
    #[serde(default)]
    pub sasl_password: Option<String>,
    /// A file holding `sasl_password`. Default none.
    #[serde(default)]
    pub sasl_password_file: Option<PathBuf>,
    /// Consumer group offsets are committed to, for lag tools. Default `flowmart`.
    #[serde(default = "default_group_id")]
    pub group_id: String,
    /// Where partitions without stored progress start (`FLOWMART_START`, `--start`). Default
    /// `earliest`.
    #[serde(default)]
    pub start: StartFrom,
    /// What to do with a partition whose next offset the broker does not hold — it fell off the
    /// topic's retention, or the topic was deleted and created again: `earliest` reads it again
    /// from its earliest offset, `fail` stops the pipeline naming the partition and offsets.
    /// Either way it is logged and counted in `flowmart_offset_out_of_range_total`. Default
    /// `earliest`.
    #[serde(default)]
    pub on_offset_out_of_range: OnOffsetOutOfRange,
    /// Further librdkafka properties of every client (`_` in a name stands for `.`). Default
    /// none.
    #[serde(default, deserialize_with = "librdkafka_properties")]
    pub properties: BTreeMap<String, String>,
    /// Further librdkafka consumer properties (all but `auto.offset.reset`, which
    /// `on_offset_out_of_range` decides). Default none.
    #[serde(default, deserialize_with = "librdkafka_properties")]
    pub consumer: BTreeMap<String, String>,
    /// Further librdkafka producer properties (DLQ and alerts), e.g. `compression.type` (`gzip`,
    /// `snappy`, `lz4`, `zstd`). Default none.
    #[serde(default, deserialize_with = "librdkafka_properties")]
    pub producer: BTreeMap<String, String>,
    /// Publish alert changes to the alerts topic even without a database. Default false: without
    /// one, a restart cannot know what was published, and would publish every change again from
    /// number 1 (with new alert ids); with it set, that is what happens, after a warning.
    #[serde(default)]
    pub alerts_without_database: bool,
}

fn default_group_id() -> String {
    "flowmart".into()
}

/// librdkafka's `security.protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SecurityProtocol {
    /// No TLS, no authentication.
    #[serde(alias = "plaintext")]
    Plaintext,
    /// TLS.
    #[serde(alias = "ssl")]
    Ssl,
    /// SASL authentication without TLS (a trusted network only: the password crosses it in
    /// clear with PLAIN).
    #[serde(alias = "sasl_plaintext")]
    SaslPlaintext,
    /// TLS, then SASL authentication.
    #[serde(alias = "sasl_ssl")]
    SaslSsl,
}

impl SecurityProtocol {
    fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    fn sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }

    fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
}

/// The SASL mechanisms librdkafka has built in (no Kerberos: GSSAPI needs Cyrus SASL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaslMechanism {
    /// Username and password, sent as they are: over TLS only.
    #[serde(rename = "PLAIN")]
    Plain,
    /// SCRAM with SHA-256.
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    /// SCRAM with SHA-512.
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// A librdkafka property table: names with `_` for `.` (from the environment) become dotted;
/// numbers and booleans (the environment's `5000`, `true`) become text.
fn librdkafka_properties<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Integer(i64),
        Decimal(f64),
        Flag(bool),
    }
    let table = BTreeMap::<String, Scalar>::deserialize(deserializer)?;
    Ok(table
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                Scalar::Text(text) => text,
                Scalar::Integer(number) => number.to_string(),
                Scalar::Decimal(number) => number.to_string(),
                Scalar::Flag(flag) => flag.to_string(),
            };
            (name.replace('_', "."), value)
        })
        .collect())
}

impl KafkaSettings {
    /// The librdkafka properties of one kind of client: the security settings, then
    /// `[kafka.properties]`, then `specific` (`[kafka.consumer]` or `[kafka.producer]`).
    pub fn client_properties(&self, specific: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut properties = self
            .typed_properties()
            .into_iter()
            .map(|(property, _, value)| (property.to_string(), value))
            .collect::<BTreeMap<_, _>>();
        properties.extend(self.properties.clone());
        properties.extend(specific.clone());
        properties
    }

    /// How to reach the Schema Registry.
    pub fn registry(&self) -> SchemaRegistryConfig {
        SchemaRegistryConfig {
            url: self.schema_registry_url.clone(),
            username: self.schema_registry_username.clone(),
            password: self.schema_registry_password.clone(),
            ca_file: self.schema_registry_ca_file.clone(),
        }
    }

    /// The librdkafka properties the typed settings set: (property, setting, value).
    fn typed_properties(&self) -> Vec<(&'static str, &'static str, String)> {
        let path = |file: &Option<PathBuf>| file.as_ref().map(|file| file.display().to_string());
        // librdkafka's OpenSSL is built from source and knows no system CA store of its own:
        // `probe` finds the system's.
        let system_roots = self.security_protocol.is_some_and(SecurityProtocol::tls)
            && !self.properties.contains_key("ssl.ca.location");
        let ca = path(&self.ssl_ca_file).or_else(|| system_roots.then(|| "probe".to_string()));
        [
            ("security.protocol", "security_protocol", self.security_protocol.map(|protocol| protocol.name().into())),
            ("ssl.ca.location", "ssl_ca_file", ca),
            ("ssl.certificate.location", "ssl_certificate_file", path(&self.ssl_certificate_file)),
            ("ssl.key.location", "ssl_key_file", path(&self.ssl_key_file)),
            ("ssl.key.password", "ssl_key_password", self.ssl_key_password.clone()),
            ("sasl.mechanism", "sasl_mechanism", self.sasl_mechanism.map(|mechanism| mechanism.name().into())),
            ("sasl.username", "sasl_username", self.sasl_username.clone()),
            ("sasl.password", "sasl_password", self.sasl_password.clone()),
        ]
        .into_iter()
        .filter_map(|(property, setting, value)| value.map(|value| (property, setting, value)))
        .collect()
    }

    /// Reads each secret its `_file` setting names; (setting, problem) for each that cannot be.
    pub(super) fn read_secret_files(&mut self) -> Vec<(String, String)> {
        let secrets = [
            ("kafka.sasl_password", &mut self.sasl_password, &self.sasl_password_file),
            ("kafka.ssl_key_password", &mut self.ssl_key_password, &self.ssl_key_password_file),
            ("kafka.schema_registry_password", &mut self.schema_registry_password, &self.schema_registry_password_file),
        ];
        secrets.into_iter().filter_map(|(key, value, file)| secret_files::resolve(key, value, file)).collect()
    }

    /// Checks what types cannot; (setting, problem) for each rule broken.
    pub(super) fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &str, problem: &str| {
            if !ok {
                problems.push((key.to_string(), problem.to_string()));
            }
        };
        check(!self.brokers.trim().is_empty(), "kafka.brokers", "must name at least one broker host:port");
        let https = self.schema_registry_url.starts_with("https://");
        check(
            https || self.schema_registry_url.starts_with("http://"),
            "kafka.schema_registry_url",
            "must be an http:// or https:// URL",
        );
        check(
            self.schema_registry_password.is_none() || self.schema_registry_username.is_some(),
            "kafka.schema_registry_password",
            "needs kafka.schema_registry_username",
        );
        check(
            self.schema_registry_username.is_none() || self.schema_registry_password.is_some(),
            "kafka.schema_registry_username",
            "needs kafka.schema_registry_password (or kafka.schema_registry_password_file)",
        );
        check(
            self.schema_registry_ca_file.is_none() || https,
            "kafka.schema_registry_ca_file",
            "is for an https:// kafka.schema_registry_url",
        );
        check(!self.group_id.is_empty(), "kafka.group_id", "must not be empty");
        check(
            !self.consumer.contains_key("auto.offset.reset"),
            "kafka.consumer.\"auto.offset.reset\"",
            "is decided by kafka.on_offset_out_of_range (earliest or fail); remove it",
        );

        let protocol = self.security_protocol.or_else(|| {
            let named = self.properties.get("security.protocol")?;
            [SecurityProtocol::Ssl, SecurityProtocol::SaslPlaintext, SecurityProtocol::SaslSsl]
                .into_iter()
                .find(|protocol| protocol.name().eq_ignore_ascii_case(named))
        });
        let protocol = protocol.unwrap_or(SecurityProtocol::Plaintext);
        let tls_files = [
            ("kafka.ssl_ca_file", &self.ssl_ca_file),
            ("kafka.ssl_certificate_file", &self.ssl_certificate_file),
            ("kafka.ssl_key_file", &self.ssl_key_file),
        ];
        for (key, file) in tls_files {
            check(file.is_none() || protocol.tls(), key, "needs kafka.security_protocol SSL or SASL_SSL");
        }
        check(
            self.ssl_certificate_file.is_some() == self.ssl_key_file.is_some(),
            "kafka.ssl_certificate_file",
            "and kafka.ssl_key_file go together (a client certificate and its key)",
        );
        let sasl = [
            ("kafka.sasl_mechanism", self.sasl_mechanism.is_some()),
            ("kafka.sasl_username", self.sasl_username.is_some()),
            ("kafka.sasl_password", self.sasl_password.is_some()),
        ];
        for (key, set) in sasl {
            check(!set || protocol.sasl(), key, "needs kafka.security_protocol SASL_SSL or SASL_PLAINTEXT");
        }
        if protocol.sasl() {
            check(
                self.sasl_mechanism.is_some() || self.properties.contains_key("sasl.mechanism"),
                "kafka.sasl_mechanism",
                "is required with SASL: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
            );
        }
        if self.sasl_mechanism.is_some() {
            check(self.sasl_username.is_some(), "kafka.sasl_username", "is required with kafka.sasl_mechanism");
            check(
                self.sasl_password.is_some(),
                "kafka.sasl_password",
                "is required with kafka.sasl_mechanism (or kafka.sasl_password_file)",
            );
        }
        problems.extend(self.file_problems());
        problems.extend(self.property_problems());
        problems
    }

    /// Every certificate and key file named must be a readable file.
    fn file_problems(&self) -> Vec<(String, String)> {
        [
            ("kafka.ssl_ca_file", &self.ssl_ca_file),
            ("kafka.ssl_certificate_file", &self.ssl_certificate_file),
            ("kafka.ssl_key_file", &self.ssl_key_file),
            ("kafka.schema_registry_ca_file", &self.schema_registry_ca_file),
        ]
        .into_iter()
        .filter_map(|(key, file)| {
            let problem = secret_files::readable(file.as_deref()?).err()?;
            Some((key.to_string(), problem))
        })
        .collect()
    }

    /// Every property must be one librdkafka knows, with a value it takes, and not one a typed
    /// setting already sets.
    fn property_problems(&self) -> Vec<(String, String)> {
        let typed = self.typed_properties();
        let tables = [
            ("kafka.properties", &self.properties),
            ("kafka.consumer", &self.consumer),
            ("kafka.producer", &self.producer),
        ];
        let mut problems = Vec::new();
        for (table, properties) in tables {
            for (name, value) in properties {
                let key = format!("{table}.\"{name}\"");
                if let Some((_, setting, _)) = typed.iter().find(|(property, _, _)| *property == name.as_str()) {
                    problems.push((key, format!("is set by kafka.{setting}; remove one of them")));
                } else if let Err(problem) = flowmart_kafka::check_property(name, value) {
                    problems.push((key, problem));
                }
            }
        }
        problems
    }
}
