//! The pipeline file: one typed configuration for `flowmart run`, layered
//! file < environment < flags (`CONTRACT.md` §6), every unknown key refused (all of them named at
//! once, not just the first), every default written next to its field. `flowmart/flowmart.toml`
//! is the annotated example. The binary owns these settings; each part it wires takes its own
//! section (the runtime's `[runtime]` is [`RuntimeConfig`] itself).
//!
//! Every problem is named at once, as `flowmart validate` shows them: unknown keys, values of the
//! wrong type (each is set aside, its default taken, and the rest read on), and the rules on
//! values, each once.

mod kafka;
mod secret_files;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::Value;
use flowmart_api::{CaFileError, OutboundTls};
use flowmart_runtime::{ClusterConfig, RuntimeConfig, Topics};
use flowmart_schemas::Retention;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use kafka::{KafkaSettings, SaslMechanism, SecurityProtocol};
pub(crate) use secret_files::read as read_secret_file;

/// Everything `flowmart run` needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PipelineConfig {
    /// Where records come from.
    pub kafka: KafkaSettings,
    /// The topic names.
    #[serde(default)]
    pub topics: TopicSettings,
    /// Timely workers and flow control.
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// State retention.
    #[serde(default)]
    pub retention: RetentionSettings,
    /// The query API.
    #[serde(default)]
    pub api: ApiSettings,
    /// Where results are stored.
    #[serde(default)]
    pub postgres: PostgresSettings,
    /// The timely cluster this process is part of.
    #[serde(default)]
    pub cluster: ClusterSettings,
    /// How webhook deliveries reach tenants' receivers.
    #[serde(default)]
    pub webhooks: WebhookSettings,
}

/// `[webhooks]`: where deliveries may go (README "Webhooks").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookSettings {
    /// A PEM file of CA certificates trusted for https receivers besides the system's. Default
    /// none.
    pub ca_file: Option<PathBuf>,
    /// Networks (CIDR) whose private, loopback or link-local addresses receivers may have, e.g.
    /// `["10.20.0.0/16"]` for receivers inside a company network. Default none: only public
    /// addresses (cloud metadata addresses never).
    pub allowed_networks: Vec<IpNet>,
}

impl WebhookSettings {
    /// The API's view (the CA file is checked by [`load`]).
    pub fn api(&self) -> Result<flowmart_api::webhooks::WebhookSettings, CaFileError> {
        Ok(flowmart_api::webhooks::WebhookSettings {
            tls: OutboundTls::new(self.ca_file.as_deref())?,
            allowed_networks: self.allowed_networks.clone(),
        })
    }
}

/// `[cluster]`: run as one of several processes forming one timely cluster (README "Scale out").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterSettings {
    /// Processes in the cluster (`FLOWMART_PROCESSES`, `--processes`). Default 1: this process
    /// alone.
    pub processes: usize,
    /// This process's index, from 0 (`FLOWMART_PROCESS_INDEX`, `--process-index`). Default 0.
    /// Process 0 writes the results (Postgres, alert and dead-letter topics).
    pub process_index: usize,
    /// The peers file (`FLOWMART_PEERS`, `--peers`), required with more than one process: line
    /// `i` is process `i`'s timely address and API URL, e.g. `10.0.0.7:2101 http://10.0.0.7:8080`;
    /// blank lines and `#` comments are skipped. Every process gets the same file.
    pub peers: Option<PathBuf>,
    /// A PEM file of CA certificates trusted besides the system's for `https://` API URLs in the
    /// peers file. Default none.
    pub ca_file: Option<PathBuf>,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings { processes: 1, process_index: 0, peers: None, ca_file: None }
    }
}

/// One process of a cluster, as the peers file gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Where its timely workers listen (`host:port`).
    pub timely: String,
    /// Where its API answers (`http://host:port`).
    pub api: String,
}

impl ClusterSettings {
    /// Every process of the cluster, in order (one, unnamed, when this process runs alone).
    pub fn peers(&self) -> Result<Vec<Peer>, String> {
        let Some(path) = &self.peers else {
            return if self.processes > 1 {
                Err("is required when cluster.processes is more than 1".into())
            } else {
                Ok(Vec::new())
            };
        };
        let text = std::fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let mut peers = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let fields = line.split_whitespace().collect::<Vec<_>>();
            // An API URL needs a host after its scheme (`http://#…` is `http://` and a comment).
            let has_host = |api: &str| {
                let rest = api.strip_prefix("http://").or_else(|| api.strip_prefix("https://"));
                rest.is_some_and(|rest| !rest.trim_end_matches('/').is_empty())
            };
            let well_formed = matches!(fields.as_slice(), [timely, api]
                if timely.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
                    && has_host(api));
            if !well_formed {
                return Err(format!(
                    "{} line {}: expected `<host:port> <http://api-host:port>`, got {line:?}",
                    path.display(),
                    number + 1
                ));
            }
            peers.push(Peer { timely: fields[0].to_string(), api: fields[1].trim_end_matches('/').to_string() });
        }
        if peers.len() != self.processes {
            return Err(format!(
                "{} names {} processes, cluster.processes is {}",
                path.display(),
                peers.len(),
                self.processes
            ));
        }
        Ok(peers)
    }

    /// The runtime's view: `None` for a process alone.
    fn runtime(&self, recovery_state: bool) -> Option<ClusterConfig> {
        let peers = self.peers().ok().filter(|peers| peers.len() > 1)?;
        let addresses = peers.into_iter().map(|peer| peer.timely).collect();
        Some(ClusterConfig { process: self.process_index, addresses, recovery_state })
    }
}

/// `[postgres]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PostgresSettings {
    /// `postgres://…` URL of the results database (`DATABASE_URL`, `--database-url`), with
    /// `sslmode` (up to `verify-full`) and `sslrootcert` for TLS. Default: none, results are only
    /// served.
    pub database_url: Option<String>,
    /// A file holding `database_url` (`DATABASE_URL_FILE`). Default none.
    pub database_url_file: Option<PathBuf>,
}

/// libpq's `sslmode` values, all of which the connection takes.
const SSL_MODES: [&str; 6] = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

impl PostgresSettings {
    /// Checks the URL's scheme and its TLS parameters; (setting, problem) for each rule broken.
    fn problems(&self) -> Vec<(String, String)> {
        let key = "postgres.database_url".to_string();
        let Some(url) = &self.database_url else { return Vec::new() };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return vec![(key, "must be a postgres:// URL".into())];
        }
        let query = url.split_once('?').map_or("", |(_, query)| query);
        let mut problems = Vec::new();
        for (name, value) in query.split('&').filter_map(|pair| pair.split_once('=')) {
            match name {
                "sslmode" if !SSL_MODES.contains(&value) => problems
                    .push((key.clone(), format!("sslmode must be one of {}, got {value:?}", SSL_MODES.join(", ")))),
                "sslrootcert" | "sslcert" | "sslkey" => {
                    if let Err(problem) = secret_files::readable(Path::new(value)) {
                        problems.push((key.clone(), format!("{name}: {problem}")));
                    }
                }
                _ => {}
            }
        }
        problems
    }
}

/// `[topics]`: defaults from `CONTRACT.md` §1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TopicSettings {
    /// Default `flowmart.inventory`.
    pub inventory: String,
    /// Default `flowmart.orders`.
    pub orders: String,
    /// Default `flowmart.payments`.
    pub payments: String,
    /// Default `flowmart.reorder-policies`.
    pub reorder_policies: String,
    /// Default `flowmart.reorder-alerts`.
    pub reorder_alerts: String,
    /// Default `flowmart.dlq`.
    pub dlq: String,
}

impl Default for TopicSettings {
    fn default() -> Self {
        let inputs = Topics::default();
        TopicSettings {
            inventory: inputs.inventory,
            orders: inputs.orders,
            payments: inputs.payments,
            reorder_policies: inputs.reorder_policies,
            reorder_alerts: "flowmart.reorder-alerts".into(),
            dlq: "flowmart.dlq".into(),
        }
    }
}

impl TopicSettings {
    /// The input topics.
    pub fn inputs(&self) -> Topics {
        Topics {
            inventory: self.inventory.clone(),
            orders: self.orders.clone(),
            payments: self.payments.clone(),
            reorder_policies: self.reorder_policies.clone(),
        }
    }
}

/// `[retention]`: how long per-key state is kept (days of pipeline time; 0 keeps forever).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionSettings {
    /// Event ids remembered for dedupe. Default 7.
    pub event_id_days: u64,
    /// Orders kept after their last change. Default 90.
    pub order_days: u64,
    /// Resolved alerts listed by the API. Default 1.
    pub resolved_alert_days: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings { event_id_days: 7, order_days: 90, resolved_alert_days: 1 }
    }
}

const DAY_MS: u64 = 24 * 60 * 60 * 1000;
/// The longest retention accepted (100 years): longer ones overflow milliseconds of pipeline
/// time (found by fuzzing, `fuzz/`); 0 keeps forever.
const MAX_RETENTION_DAYS: u64 = 36_500;

impl RetentionSettings {
    /// The operators' retention.
    pub fn operators(&self) -> Retention {
        let days = |days: u64| (days > 0).then(|| days * DAY_MS);
        Retention { event_ids_ms: days(self.event_id_days), orders_ms: days(self.order_days) }
    }

    /// How long resolved alerts stay listed (ms).
    pub fn resolved_alerts_ms(&self) -> u64 {
        if self.resolved_alert_days == 0 { u64::MAX } else { self.resolved_alert_days * DAY_MS }
    }
}

/// `[api]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiSettings {
    /// Listen address (`FLOWMART_LISTEN`, `--listen`). Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Requests per second each tenant may make (then 429 with Retry-After). Default 200.
    pub rate_limit_per_second: NonZeroU32,
    /// Requests a tenant may make at once above the rate. Default 400.
    pub rate_limit_burst: NonZeroU32,
    /// Origins a browser app on another site may call the API from (CORS), e.g.
    /// `["https://dash.example.com"]`. Default none.
    pub cors_origins: Vec<String>,
    /// How long a request may take to get its answer (then 503). Default 30,000 ms.
    pub request_timeout_ms: u64,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            rate_limit_per_second: NonZeroU32::new(200).expect("non-zero"),
            rate_limit_burst: NonZeroU32::new(400).expect("non-zero"),
            cors_origins: Vec::new(),
            request_timeout_ms: 30_000,
        }
    }
}

impl ApiSettings {
    /// The API's HTTP conventions (the origins are checked by [`load`]).
    pub fn http(&self) -> flowmart_api::HttpSettings {
        flowmart_api::HttpSettings {
            cors_origins: self.cors_origins.iter().filter_map(|origin| origin.parse().ok()).collect(),
            request_timeout: std::time::Duration::from_millis(self.request_timeout_ms),
        }
    }
}

/// Whether `origin` is what a browser sends as `Origin`: `http(s)://host[:port]`, no path.
fn is_origin(origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://")) else { return false };
    !rest.is_empty() && !rest.contains('/') && rest.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
}

impl PipelineConfig {
    /// The runtime's configuration: `[runtime]`, with what the other sections say of it.
    pub fn runtime(&self) -> RuntimeConfig {
        RuntimeConfig {
            cluster: self.cluster.runtime(self.postgres.database_url.is_some()),
            retention: self.retention.operators(),
            topics: self.topics.inputs(),
            ..self.runtime.clone()
        }
    }
}

/// One thing wrong with the configuration: where it came from and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The setting: `FILE: section.key`, an environment variable, or a flag.
    pub setting: String,
    /// What is wrong with it.
    pub problem: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.setting, self.problem)
    }
}

/// The environment variables of `CONTRACT.md` §6 and the keys they set.
const NAMED_VARIABLES: [(&str, &str); 10] = [
    ("DATABASE_URL", "postgres.database_url"),
    ("DATABASE_URL_FILE", "postgres.database_url_file"),
    ("FLOWMART_BROKERS", "kafka.brokers"),
    ("FLOWMART_SCHEMA_REGISTRY_URL", "kafka.schema_registry_url"),
    ("FLOWMART_LISTEN", "api.listen"),
    ("FLOWMART_WORKERS", "runtime.workers"),
    ("FLOWMART_START", "kafka.start"),
    ("FLOWMART_PROCESSES", "cluster.processes"),
    ("FLOWMART_PROCESS_INDEX", "cluster.process_index"),
    ("FLOWMART_PEERS", "cluster.peers"),
];

/// The flags of `flowmart run` and the keys they set.
const FLAGS: [(&str, &str); 9] = [
    ("--database-url", "postgres.database_url"),
    ("--brokers", "kafka.brokers"),
    ("--schema-registry", "kafka.schema_registry_url"),
    ("--listen", "api.listen"),
    ("--workers", "runtime.workers"),
    ("--start", "kafka.start"),
    ("--processes", "cluster.processes"),
    ("--process-index", "cluster.process_index"),
    ("--peers", "cluster.peers"),
];

/// Loads the configuration: `file` (if any), then the environment, then `flags` (`(key, value)`
/// pairs such as `("kafka.brokers", "…")`, their values read as environment values are).
/// Returns every problem found, each naming its setting.
pub fn load(file: Option<&Path>, flags: &[(&'static str, String)]) -> Result<PipelineConfig, Vec<ConfigProblem>> {
    let mut figment = Figment::new();
    if let Some(file) = file {
        if !file.is_file() {
            return Err(vec![ConfigProblem { setting: file.display().to_string(), problem: "no such file".into() }]);
        }
        figment = figment.merge(Toml::file_exact(file));
    }
    figment = figment.merge(Env::prefixed("FLOWMART__").split("__")).merge(Env::raw().filter_map(|variable| {
        NAMED_VARIABLES.iter().find(|(name, _)| variable == *name).map(|(_, key)| (*key).into())
    }));
    for (key, value) in flags {
        let value: figment::value::Value = value.parse().unwrap_or_else(|never| match never {});
        figment = figment.merge(Serialized::default(key, value));
    }
    let names = Names { figment: &figment, file };
    let merged = match figment.extract::<Value>() {
        Ok(merged) => merged,
        // The file is not TOML: nothing more can be read.
        Err(error) => return Err(error.into_iter().map(|error| names.of_type_error(&error)).collect()),
    };
    let (config, mistyped, read) = extract_setting_aside(merged, &names);
    // Looked for in what was read: a value of the wrong type would stop the search at it.
    let mut problems = unknown_keys(&read).iter().map(|key| names.of_unknown(key)).collect::<Vec<_>>();
    problems.extend(mistyped.iter().map(|(_, problem)| problem.clone()));
    let Some(mut config) = config else { return Err(problems) };
    let mut values = config.kafka.read_secret_files();
    values.extend(secret_files::resolve(
        "postgres.database_url",
        &mut config.postgres.database_url,
        &config.postgres.database_url_file,
    ));
    values.extend(config.problems());
    // A setting whose value was set aside is named once, for its type.
    let set_aside = |key: &str| {
        mistyped
            .iter()
            .any(|(bad, _)| key == bad || key.strip_prefix(bad.as_str()).is_some_and(|rest| rest.starts_with('.')))
    };
    problems.extend(
        values
            .into_iter()
            .filter(|(key, _)| !set_aside(key))
            .map(|(key, problem)| ConfigProblem { setting: names.of_value(&key), problem }),
    );
    if let Some(file) = std::env::var_os(crate::serve::ADMIN_TOKEN_FILE) {
        let problem = match std::env::var_os("FLOWMART_ADMIN_TOKEN") {
            Some(_) => Some("and FLOWMART_ADMIN_TOKEN are both set; set one".to_string()),
            None => secret_files::read(Path::new(&file)).err(),
        };
        problems
            .extend(problem.map(|problem| ConfigProblem { setting: crate::serve::ADMIN_TOKEN_FILE.into(), problem }));
    }
    if problems.is_empty() { Ok(config) } else { Err(problems) }
}

/// Deserializes `merged`, setting aside each value of the wrong type (its default is taken) and
/// giving a missing required one a stand-in, until the rest reads. Returns the configuration,
/// if it could be read, (key, problem) for each value set aside, and the values last read.
fn extract_setting_aside(
    mut merged: Value,
    names: &Names<'_>,
) -> (Option<PipelineConfig>, Vec<(String, ConfigProblem)>, Value) {
    let mut set_aside = Vec::<(String, ConfigProblem)>::new();
    loop {
        let error = match Figment::from(Serialized::defaults(&merged)).extract::<PipelineConfig>() {
            Ok(config) => return (Some(config), set_aside, merged),
            Err(error) => error,
        };
        let mut path = error.path.clone();
        let fixed = match &error.kind {
            figment::error::Kind::MissingField(field) => {
                path.push(field.to_string());
                // The only required values are kafka's two addresses (strings).
                let stand_in = match path.as_slice() {
                    [section] if section == "kafka" => Value::from(
                        [("brokers", ""), ("schema_registry_url", "")]
                            .map(|(name, value)| (name.to_string(), Value::from(value)))
                            .into_iter()
                            .collect::<figment::value::Dict>(),
                    ),
                    _ => Value::from(""),
                };
                insert(&mut merged, &path, stand_in)
            }
            _ => remove(&mut merged, &path),
        };
        let key = path.join(".");
        // A stand-in refused too: nothing more can be read.
        if set_aside.iter().any(|(seen, _)| *seen == key) {
            return (None, set_aside, merged);
        }
        set_aside.push((key, names.of_type_error(&error)));
        if !fixed {
            return (None, set_aside, merged);
        }
    }
}

/// Every key `merged` sets that [`PipelineConfig`] does not have.
fn unknown_keys(merged: &Value) -> Vec<String> {
    let mut unknown = Vec::new();
    // Type errors are reported by the typed extraction that follows; this pass looks for keys only.
    let _: Result<PipelineConfig, _> = serde_ignored::deserialize(merged, |path| unknown.push(path.to_string()));
    unknown
}

/// Removes the value at `path`; whether there was one.
fn remove(value: &mut Value, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else { return false };
    let mut value = value;
    for parent in parents {
        match value {
            Value::Dict(_, dict) => match dict.get_mut(parent) {
                Some(child) => value = child,
                None => return false,
            },
            _ => return false,
        }
    }
    match value {
        Value::Dict(_, dict) => dict.remove(last).is_some(),
        _ => false,
    }
}

/// Sets the value at `path`, making the sections on the way; whether it could.
fn insert(value: &mut Value, path: &[String], new: Value) -> bool {
    let Some((last, parents)) = path.split_last() else { return false };
    let mut value = value;
    for parent in parents {
        let Value::Dict(_, dict) = value else { return false };
        value = dict.entry(parent.clone()).or_insert_with(|| Value::from(figment::value::Dict::new()));
    }
    match value {
        Value::Dict(_, dict) => dict.insert(last.clone(), new).is_none(),
        _ => false,
    }
}

/// Names settings as their user set them: `FILE: section.key`, the environment variable, or the
/// flag.
struct Names<'a> {
    figment: &'a Figment,
    file: Option<&'a Path>,
}

/// Where a setting's value came from.
enum Origin {
    File(PathBuf),
    Environment(String),
    Flag(&'static str),
    /// Nowhere: a default, or a key the file cannot be asked about (a quoted dotted one).
    Unknown,
}

impl Names<'_> {
    fn origin(&self, key: &str) -> Origin {
        // A librdkafka property (`kafka.consumer."fetch.min.bytes"`) is found under the name the
        // environment gives it (`kafka.consumer.fetch_min_bytes`); the file's dotted one is not.
        let lookup = match key.split_once(".\"") {
            Some((table, name)) => format!("{table}.{}", name.trim_end_matches('"').replace('.', "_")),
            None => key.to_string(),
        };
        let Some(metadata) = self.figment.find_metadata(&lookup) else { return Origin::Unknown };
        if metadata.name.contains("environment") {
            let named = NAMED_VARIABLES.iter().find(|(_, named)| *named == key).map(|(name, _)| (*name).to_string());
            return Origin::Environment(
                named.unwrap_or_else(|| format!("FLOWMART__{}", lookup.replace('.', "__").to_uppercase())),
            );
        }
        match &metadata.source {
            Some(figment::Source::File(path)) => Origin::File(path.clone()),
            _ => FLAGS
                .iter()
                .find(|(_, flagged)| *flagged == key)
                .map_or(Origin::Unknown, |(flag, _)| Origin::Flag(flag)),
        }
    }

    fn in_file(&self, key: &str) -> String {
        self.file.map_or_else(|| key.to_string(), |file| format!("{}: {key}", file.display()))
    }

    /// The key a type error is about (the whole `kafka` section's two addresses when it is
    /// missing).
    fn key_of(&self, error: &figment::Error) -> String {
        match (&error.kind, error.path.is_empty()) {
            // `kafka` is the one section without defaults.
            (figment::error::Kind::MissingField(field), true) if field == "kafka" => {
                "kafka.brokers (FLOWMART_BROKERS, --brokers) and kafka.schema_registry_url \
                 (FLOWMART_SCHEMA_REGISTRY_URL, --schema-registry)"
                    .to_string()
            }
            (figment::error::Kind::MissingField(field), _) => {
                error.path.iter().map(String::as_str).chain([&**field]).collect::<Vec<_>>().join(".")
            }
            _ => error.path.join("."),
        }
    }

    fn of_unknown(&self, key: &str) -> ConfigProblem {
        let setting = match self.origin(key) {
            Origin::Environment(variable) => variable,
            _ => self.in_file(key),
        };
        ConfigProblem { setting, problem: format!("unknown key {key:?}") }
    }

    fn of_type_error(&self, error: &figment::Error) -> ConfigProblem {
        let key = self.key_of(error);
        let setting = match self.origin(&error.path.join(".")) {
            Origin::File(path) => format!("{}: {key}", path.display()),
            Origin::Environment(variable) => variable,
            Origin::Flag(flag) => flag.to_string(),
            Origin::Unknown => self.in_file(&key),
        };
        ConfigProblem { setting: setting.trim_end_matches(": ").to_string(), problem: error.kind.to_string() }
    }

    fn of_value(&self, key: &str) -> String {
        match self.origin(key) {
            Origin::File(path) => format!("{}: {key}", path.display()),
            Origin::Environment(variable) => format!("{variable} ({key})"),
            Origin::Flag(flag) => format!("{flag} ({key})"),
            Origin::Unknown => self.in_file(key),
        }
    }
}

impl PipelineConfig {
    /// Checks what types cannot: every rule on values, as (setting, problem).
    fn problems(&self) -> Vec<(String, String)> {
        let mut problems = self.kafka.problems();
        problems.extend(self.postgres.problems());
        let mut check = |ok: bool, key: &str, problem: &str| {
            if !ok {
                problems.push((key.to_string(), problem.to_string()));
            }
        };
        check((1..=1024).contains(&self.runtime.workers), "runtime.workers", "must be from 1 to 1024");
        check((1..=1024).contains(&self.cluster.processes), "cluster.processes", "must be from 1 to 1024");
        check(
            self.cluster.process_index < self.cluster.processes,
            "cluster.process_index",
            "must be less than cluster.processes",
        );
        if let Err(problem) = self.cluster.peers() {
            check(false, "cluster.peers", &problem);
        }
        for (key, ca_file) in [("cluster.ca_file", &self.cluster.ca_file), ("webhooks.ca_file", &self.webhooks.ca_file)]
        {
            if let Some(Err(problem)) = ca_file.as_deref().map(|path| OutboundTls::new(Some(path))) {
                check(false, key, &problem.to_string());
            }
        }
        check(self.runtime.poll_batch > 0, "runtime.poll_batch", "must be at least 1");
        check(self.runtime.idle_tick_ms > 0, "runtime.idle_tick_ms", "must be at least 1");
        check((0..=19).contains(&self.runtime.nice), "runtime.nice", "must be between 0 and 19");
        check(self.runtime.stall_after_ms >= 1000, "runtime.stall_after_ms", "must be at least 1000");
        check(
            self.api.cors_origins.iter().all(|origin| is_origin(origin)),
            "api.cors_origins",
            "must be origins like \"https://dash.example.com\" (scheme, host, optional port; no path)",
        );
        check(self.api.request_timeout_ms >= 100, "api.request_timeout_ms", "must be at least 100");
        let retention = [
            ("retention.event_id_days", self.retention.event_id_days),
            ("retention.order_days", self.retention.order_days),
            ("retention.resolved_alert_days", self.retention.resolved_alert_days),
        ];
        for (key, days) in retention {
            check(days <= MAX_RETENTION_DAYS, key, "must be at most 36500 days (0 keeps forever)");
        }
        let topics = [
            ("topics.inventory", &self.topics.inventory),
            ("topics.orders", &self.topics.orders),
            ("topics.payments", &self.topics.payments),
            ("topics.reorder_policies", &self.topics.reorder_policies),
            ("topics.reorder_alerts", &self.topics.reorder_alerts),
            ("topics.dlq", &self.topics.dlq),
        ];
        for (key, name) in topics {
            let valid = !name.is_empty()
                && name.len() <= 249
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            check(valid, key, "must be a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)");
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flowmart_kafka::{OnOffsetOutOfRange, StartFrom};

    use super::*;

    /// A pipeline file in the temp dir, removed on drop.
    struct TempFile(std::path::PathBuf);

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn file(text: &str) -> TempFile {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let next = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("flowmart-config-{}-{next}.toml", std::process::id()));
        std::fs::File::create(&path).and_then(|mut file| file.write_all(text.as_bytes())).unwrap();
        TempFile(path)
    }

    const MINIMAL: &str = "[kafka]\nbrokers = \"kafka:9092\"\nschema_registry_url = \"http://registry:8081\"\n";

    #[test]
    fn the_example_pipeline_file_is_valid() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("flowmart.toml");
        let config = load(Some(&example), &[]).expect("flowmart/flowmart.toml is valid");
        assert_eq!(config.topics, TopicSettings::default());
    }

    #[test]
    fn a_minimal_file_takes_every_default() {
        let minimal = file(MINIMAL);
        let config = load(Some(&minimal.0), &[]).unwrap();
        assert_eq!(config.kafka.group_id, "flowmart");
        assert_eq!(config.kafka.start, StartFrom::Earliest);
        assert_eq!(config.kafka.on_offset_out_of_range, OnOffsetOutOfRange::Earliest);
        assert_eq!(config.api.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.retention.operators(), Retention::default());
    }

    #[test]
    fn flags_win_over_the_file() {
        let minimal = file(MINIMAL);
        let flags = [("kafka.brokers", "other:9092".to_string()), ("kafka.start", "2026-01-05T00:00:00Z".to_string())];
        let config = load(Some(&minimal.0), &flags).unwrap();
        assert_eq!(config.kafka.brokers, "other:9092");
        assert_eq!(config.kafka.start, StartFrom::Timestamp(1_767_571_200_000));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named_with_their_file() {
        let bad = file(&format!("{MINIMAL}colour = \"blue\"\n[runtime]\nworkerz = 2\n[topics]\ninventry = \"x\"\n"));
        let problems = load(Some(&bad.0), &[]).unwrap_err();
        assert_eq!(problems.len(), 3, "every unknown key at once: {problems:?}");
        for key in ["kafka.colour", "runtime.workerz", "topics.inventry"] {
            let problem = problems
                .iter()
                .find(|problem| problem.to_string().contains(key))
                .unwrap_or_else(|| panic!("{key}: {problems:?}"));
            assert!(problem.setting.contains(&bad.0.display().to_string()), "{problem}");
        }

        let bad = file(
            "[kafka]\nbrokers = \"\"\nschema_registry_url = \"registry:8081\"\n[runtime]\nworkers = 0\nnice = 20\n[topics]\ndlq = \"has space\"\n",
        );
        let problems =
            load(Some(&bad.0), &[]).unwrap_err().into_iter().map(|problem| problem.to_string()).collect::<Vec<_>>();
        assert_eq!(problems.len(), 5, "{problems:?}");
        for key in ["kafka.brokers", "kafka.schema_registry_url", "runtime.workers", "runtime.nice", "topics.dlq"] {
            assert!(problems.iter().any(|problem| problem.contains(key)), "{key} in {problems:?}");
        }

        let bad = file("[kafka]\nbrokers = \"k:9092\"\nschema_registry_url = \"http://r\"\nstart = \"yesterday\"\n");
        let problems = load(Some(&bad.0), &[]).unwrap_err();
        assert!(
            problems[0].to_string().contains("kafka.start") && problems[0].to_string().contains("RFC 3339"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn an_out_of_range_offset_policy_is_read_and_a_bad_one_or_a_competing_auto_offset_reset_is_named() {
        let failing = file(&format!("{MINIMAL}on_offset_out_of_range = \"fail\"\n"));
        assert_eq!(load(Some(&failing.0), &[]).unwrap().kafka.on_offset_out_of_range, OnOffsetOutOfRange::Fail);

        let bad = file(&format!("{MINIMAL}on_offset_out_of_range = \"latest\"\n"));
        let problems = load(Some(&bad.0), &[]).unwrap_err();
        let problem = problems[0].to_string();
        assert!(problem.contains("kafka.on_offset_out_of_range"), "{problem}");
        assert!(problem.contains("earliest") && problem.contains("fail"), "names what it may be: {problem}");

        let competing = file(&format!("{MINIMAL}[kafka.consumer]\n\"auto.offset.reset\" = \"latest\"\n"));
        let problems = load(Some(&competing.0), &[]).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        let problem = problems[0].to_string();
        assert!(problem.contains("auto.offset.reset") && problem.contains("on_offset_out_of_range"), "{problem}");
    }

    #[test]
    fn a_retention_too_long_for_milliseconds_is_a_problem_not_an_overflow() {
        let long = file(&format!(
            "{MINIMAL}[retention]\nevent_id_days = 213503982334602\norder_days = 36501\nresolved_alert_days = 213503982335\n"
        ));
        let problems = load(Some(&long.0), &[]).unwrap_err();
        for key in ["retention.event_id_days", "retention.order_days", "retention.resolved_alert_days"] {
            assert!(problems.iter().any(|problem| problem.setting.ends_with(key)), "{key} in {problems:?}");
        }
        let longest = file(&format!("{MINIMAL}[retention]\nevent_id_days = 36500\n"));
        assert_eq!(load(Some(&longest.0), &[]).unwrap().retention.operators().event_ids_ms, Some(36_500 * DAY_MS));
    }

    #[test]
    fn a_bad_flag_is_named_as_the_flag() {
        let minimal = file(MINIMAL);
        let problems = load(Some(&minimal.0), &[("runtime.workers", "many".to_string())]).unwrap_err();
        assert!(problems[0].to_string().starts_with("--workers: "), "{}", problems[0]);
        let config = load(Some(&minimal.0), &[("runtime.workers", "3".to_string())]).unwrap();
        assert_eq!(config.runtime.workers, 3);
    }

    #[test]
    fn a_cluster_is_read_from_flags_and_the_peers_file_and_every_mistake_is_named() {
        let minimal = file(MINIMAL);
        let peers =
            file("# the cluster\n127.0.0.1:2101 http://127.0.0.1:8080\n\n127.0.0.1:2102 http://127.0.0.1:8081/\n");
        let flags = |processes: &str, index: &str, peers: &std::path::Path| {
            vec![
                ("cluster.processes", processes.to_string()),
                ("cluster.process_index", index.to_string()),
                ("cluster.peers", peers.display().to_string()),
            ]
        };
        let config = load(Some(&minimal.0), &flags("2", "1", &peers.0)).unwrap();
        let runtime = config.runtime().cluster.expect("a cluster");
        assert_eq!(
            (runtime.process, runtime.addresses.as_slice()),
            (1, &["127.0.0.1:2101".to_string(), "127.0.0.1:2102".into()][..])
        );
        assert_eq!(config.cluster.peers().unwrap()[1].api, "http://127.0.0.1:8081");
        assert!(load(Some(&minimal.0), &[]).unwrap().runtime().cluster.is_none(), "alone by default");

        let problems = |flags: Vec<(&'static str, String)>| {
            load(Some(&minimal.0), &flags)
                .unwrap_err()
                .into_iter()
                .map(|problem| problem.to_string())
                .collect::<Vec<_>>()
        };
        let wrong = problems(flags("3", "1", &peers.0));
        assert!(
            wrong.iter().any(|problem| problem.contains("cluster.peers") && problem.contains("names 2 processes")),
            "{wrong:?}"
        );
        let wrong = problems(flags("2", "2", &peers.0));
        assert!(wrong.iter().any(|problem| problem.contains("cluster.process_index")), "{wrong:?}");
        let malformed = file("127.0.0.1 http://127.0.0.1:8080\n127.0.0.1:2102 http://127.0.0.1:8081\n");
        let wrong = problems(flags("2", "0", &malformed.0));
        assert!(wrong.iter().any(|problem| problem.contains("line 1")), "{wrong:?}");
        // Found by fuzzing: the comment leaves `http://`, which used to pass as the URL `http:`.
        let no_host = file("127.0.0.1:2101 http://#127.0.0.1:8080\n127.0.0.1:2102 https:///\n");
        let wrong = problems(flags("2", "0", &no_host.0));
        assert!(wrong.iter().any(|problem| problem.contains("line 1")), "{wrong:?}");
        let wrong = problems(vec![("cluster.processes", "2".to_string())]);
        assert!(
            wrong.iter().any(|problem| problem.contains("cluster.peers") && problem.contains("required")),
            "{wrong:?}"
        );
    }

    #[test]
    fn the_webhook_allow_list_is_read_and_a_bad_network_or_ca_file_is_named() {
        let allowed = file(&format!("{MINIMAL}[webhooks]\nallowed_networks = [\"10.20.0.0/16\", \"fd00::/8\"]\n"));
        let config = load(Some(&allowed.0), &[]).unwrap();
        let networks: Vec<IpNet> = vec!["10.20.0.0/16".parse().unwrap(), "fd00::/8".parse().unwrap()];
        assert_eq!(config.webhooks.allowed_networks, networks);
        // As the environment gives it (FLOWMART__WEBHOOKS__ALLOWED_NETWORKS='["127.0.0.0/8"]').
        let minimal = file(MINIMAL);
        let from_env = load(Some(&minimal.0), &[("webhooks.allowed_networks", r#"["127.0.0.0/8"]"#.to_string())]);
        assert_eq!(from_env.unwrap().webhooks.allowed_networks, vec!["127.0.0.0/8".parse::<IpNet>().unwrap()]);

        let bad = file(&format!("{MINIMAL}[webhooks]\nallowed_networks = [\"10.20.0.0/33\"]\n"));
        let problems = load(Some(&bad.0), &[]).unwrap_err();
        assert!(problems[0].to_string().contains("webhooks.allowed_networks"), "{}", problems[0]);

        let missing = file(&format!(
            "{MINIMAL}[webhooks]\nca_file = \"/no/such/ca.pem\"\n[cluster]\nca_file = \"/no/such/peers-ca.pem\"\n"
        ));
        let problems =
            load(Some(&missing.0), &[]).unwrap_err().into_iter().map(|problem| problem.to_string()).collect::<Vec<_>>();
        for (key, path) in [("webhooks.ca_file", "/no/such/ca.pem"), ("cluster.ca_file", "/no/such/peers-ca.pem")] {
            assert!(
                problems.iter().any(|problem| problem.contains(key) && problem.contains(path)),
                "{key}: {problems:?}"
            );
        }
    }

    #[test]
    fn no_kafka_settings_at_all_name_what_is_needed() {
        let empty = file("");
        let problems = load(Some(&empty.0), &[]).unwrap_err();
        assert!(problems[0].setting.contains("kafka.brokers (FLOWMART_BROKERS, --brokers)"), "{}", problems[0]);
    }

    #[test]
    fn a_missing_file_is_named() {
        let problems = load(Some(Path::new("/no/such/flowmart.toml")), &[]).unwrap_err();
        assert_eq!(problems[0].to_string(), "/no/such/flowmart.toml: no such file");
    }
    #[test]
    fn every_problem_is_named_at_once_unknown_keys_bad_types_bad_addresses_and_broken_rules() {
        let bad = file(&format!(
            "{MINIMAL}colour = \"blue\"\nstart = \"yesterday\"\n[runtime]\nworkers = \"many\"\nnice = 20\n[api]\nlisten = \"nowhere\"\n"
        ));
        let problems = load(Some(&bad.0), &[]).unwrap_err();
        let lines = problems.iter().map(ToString::to_string).collect::<Vec<_>>();
        for (key, says) in [
            ("kafka.colour", "unknown key"),
            ("kafka.start", "RFC 3339"),
            ("runtime.workers", "many"),
            ("runtime.nice", "between 0 and 19"),
            ("api.listen", "socket address"),
        ] {
            let named = lines.iter().filter(|line| line.contains(key)).collect::<Vec<_>>();
            assert_eq!(named.len(), 1, "{key} named once: {lines:#?}");
            assert!(named[0].contains(says) && named[0].contains(&bad.0.display().to_string()), "{}", named[0]);
        }
        assert_eq!(lines.len(), 5, "{lines:#?}");
    }

    #[test]
    fn kafka_security_settings_become_properties_of_every_client_and_secrets_come_from_files() {
        let ca = file("-----BEGIN CERTIFICATE-----\n");
        let password = file("from-a-file\n");
        let text = format!(
            "{MINIMAL}security_protocol = \"SASL_SSL\"\nssl_ca_file = {:?}\nsasl_mechanism = \"SCRAM-SHA-512\"\n\
             sasl_username = \"flowmart\"\nsasl_password_file = {:?}\n\
             [kafka.properties]\nssl_endpoint_identification_algorithm = \"none\"\n\
             [kafka.producer]\n\"compression.type\" = \"zstd\"\n\"linger.ms\" = 20\n",
            ca.0.display().to_string(),
            password.0.display().to_string()
        );
        let secured = file(&text);
        let config = load(Some(&secured.0), &[]).unwrap();
        let producer = config.kafka.client_properties(&config.kafka.producer);
        for (property, value) in [
            ("security.protocol", "SASL_SSL"),
            ("ssl.ca.location", ca.0.to_str().unwrap()),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "flowmart"),
            ("sasl.password", "from-a-file"),
            ("ssl.endpoint.identification.algorithm", "none"),
            ("compression.type", "zstd"),
            ("linger.ms", "20"),
        ] {
            assert_eq!(producer.get(property).map(String::as_str), Some(value), "{property}");
        }
        let consumer = config.kafka.client_properties(&config.kafka.consumer);
        assert_eq!(consumer.get("sasl.password").map(String::as_str), Some("from-a-file"));
        assert!(!consumer.contains_key("compression.type"), "producer properties stay the producer's");
    }

    #[test]
    fn kafka_security_mistakes_are_each_named() {
        let both = file("x\n");
        let text = format!(
            "{MINIMAL}sasl_username = \"flowmart\"\nsasl_password = \"p\"\nsasl_password_file = {:?}\n\
             ssl_ca_file = \"/no/such/ca.pem\"\nschema_registry_ca_file = \"/no/such/registry-ca.pem\"\n\
             [kafka.properties]\n\"sasl.username\" = \"twice\"\n\"no.such.property\" = \"1\"\n\
             [kafka.consumer]\n\"fetch.min.bytes\" = \"lots\"\n",
            both.0.display().to_string()
        );
        let bad = file(&text);
        let lines = load(Some(&bad.0), &[]).unwrap_err().iter().map(ToString::to_string).collect::<Vec<_>>();
        for (key, says) in [
            ("kafka.sasl_password_file", "both set"),
            ("kafka.sasl_username", "needs kafka.security_protocol SASL_SSL or SASL_PLAINTEXT"),
            ("kafka.ssl_ca_file", "/no/such/ca.pem"),
            ("kafka.ssl_ca_file", "needs kafka.security_protocol SSL or SASL_SSL"),
            ("kafka.schema_registry_ca_file", "https://"),
            ("kafka.schema_registry_ca_file", "/no/such/registry-ca.pem"),
            ("kafka.properties.\"sasl.username\"", "is set by kafka.sasl_username"),
            ("kafka.properties.\"no.such.property\"", "No such configuration property"),
            ("kafka.consumer.\"fetch.min.bytes\"", "fetch.min.bytes"),
        ] {
            assert!(lines.iter().any(|line| line.contains(key) && line.contains(says)), "{key}: {says} in {lines:#?}");
        }

        let sasl = file(&format!("{MINIMAL}security_protocol = \"SASL_SSL\"\n"));
        let lines = load(Some(&sasl.0), &[]).unwrap_err().iter().map(ToString::to_string).collect::<Vec<_>>();
        assert!(
            lines.iter().any(|line| line.contains("kafka.sasl_mechanism") && line.contains("required")),
            "{lines:?}"
        );
        let scram = file(&format!("{MINIMAL}security_protocol = \"SASL_SSL\"\nsasl_mechanism = \"SCRAM-SHA-256\"\n"));
        let lines = load(Some(&scram.0), &[]).unwrap_err().iter().map(ToString::to_string).collect::<Vec<_>>();
        for key in ["kafka.sasl_username", "kafka.sasl_password"] {
            assert!(lines.iter().any(|line| line.contains(key) && line.contains("required")), "{key} in {lines:?}");
        }
        let gssapi = file(&format!("{MINIMAL}security_protocol = \"SASL_SSL\"\nsasl_mechanism = \"GSSAPI\"\n"));
        let problems = load(Some(&gssapi.0), &[]).unwrap_err();
        assert!(problems[0].to_string().contains("kafka.sasl_mechanism"), "{}", problems[0]);
    }

    #[test]
    fn postgres_tls_parameters_are_checked_and_the_url_may_come_from_a_file() {
        let url = file("postgres://flowmart:secret@db:5432/flowmart?sslmode=verify-full\n");
        let from_file = file(&format!("{MINIMAL}[postgres]\ndatabase_url_file = {:?}\n", url.0.display().to_string()));
        let config = load(Some(&from_file.0), &[]).unwrap();
        assert_eq!(
            config.postgres.database_url.as_deref(),
            Some("postgres://flowmart:secret@db:5432/flowmart?sslmode=verify-full")
        );

        let bad = file(&format!(
            "{MINIMAL}[postgres]\ndatabase_url = \"postgres://db/flowmart?sslmode=verify-everything&sslrootcert=/no/such/root.crt\"\n"
        ));
        let lines = load(Some(&bad.0), &[]).unwrap_err().iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("postgres.database_url") && lines[0].contains("verify-full"), "{}", lines[0]);
        assert!(lines[1].contains("sslrootcert") && lines[1].contains("/no/such/root.crt"), "{}", lines[1]);
    }
}
