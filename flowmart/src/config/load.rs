//! Loading the settings: file < environment < flags, every problem named at once.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::Value;

use super::{PipelineConfig, secret_files};

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
