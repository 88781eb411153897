//! The audit record of the configuration a process starts with: every setting as it took
//! effect (file < environment < flags), secrets replaced by `"[redacted]"`.
//!
//! Secrets are the settings `flowmart/src/config/` reads from `…_file` siblings —
//! `kafka.sasl_password`, `kafka.ssl_key_password`, `kafka.schema_registry_password`,
//! `postgres.database_url` (it may hold a password) — and any librdkafka property in
//! `[kafka.properties]`, `[kafka.consumer]`, `[kafka.producer]` whose name says it holds one
//! (`password`, `secret`, `jaas`, `token`, `credential`). The `…_file` settings are paths and
//! stay. The admin token is not a setting of the file and never reaches the record.

use flowmart_api::audit::{Action, Actor, AuditEntry};
use serde_json::{Value, json};

use crate::config::PipelineConfig;

/// What stands in for a secret.
const REDACTED: &str = "[redacted]";

/// The settings holding secrets, by their key within their section.
const SECRET_SETTINGS: &[&str] = &["sasl_password", "ssl_key_password", "schema_registry_password", "database_url"];

/// Words that mark a librdkafka property (or any other key) as holding a secret.
const SECRET_WORDS: &[&str] = &["password", "secret", "jaas", "token", "credential"];

/// The record of `config` taking effect in this process (`details`: `process`, `settings`).
pub(crate) fn configuration_at_start(config: &PipelineConfig) -> AuditEntry {
    let settings =
        serde_json::to_value(config).map(redacted).unwrap_or_else(|error| json!({ "unreadable": error.to_string() }));
    let details = json!({ "process": config.cluster.process_index, "settings": settings });
    AuditEntry::new(Actor::System, Action::ConfigurationAtStart, None, details)
}

/// `value` with every secret replaced and every fraction written as a string (audit records hold
/// integers only).
fn redacted(value: Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .map(|(key, item)| {
                    let item = if holds_secret(&key) && !item.is_null() { json!(REDACTED) } else { redacted(item) };
                    (key, item)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redacted).collect()),
        Value::Number(number) if number.as_i64().is_none() && number.as_u64().is_none() => {
            Value::String(number.to_string())
        }
        other => other,
    }
}

fn holds_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    !key.ends_with("_file")
        && (SECRET_SETTINGS.contains(&key.as_str()) || SECRET_WORDS.iter().any(|word| key.contains(word)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_their_file_paths_kept() {
        let settings = json!({
            "kafka": {
                "sasl_username": "flowmart",
                "sasl_password": "hunter2",
                "sasl_password_file": "/run/secrets/sasl",
                "ssl_key_password": null,
                "properties": { "sasl.oauthbearer.client.secret": "s", "sasl.jaas.config": "j", "linger.ms": 5 },
            },
            "postgres": { "database_url": "postgres://flowmart:pw@db/flowmart" },
        });
        let shown = redacted(settings);
        assert_eq!(shown["kafka"]["sasl_username"], "flowmart");
        assert_eq!(shown["kafka"]["sasl_password"], REDACTED);
        assert_eq!(shown["kafka"]["sasl_password_file"], "/run/secrets/sasl");
        assert_eq!(shown["kafka"]["ssl_key_password"], Value::Null, "an unset secret shows as unset");
        assert_eq!(shown["kafka"]["properties"]["sasl.oauthbearer.client.secret"], REDACTED);
        assert_eq!(shown["kafka"]["properties"]["sasl.jaas.config"], REDACTED);
        assert_eq!(shown["kafka"]["properties"]["linger.ms"], 5);
        assert_eq!(shown["postgres"]["database_url"], REDACTED);
        assert!(!shown.to_string().contains("hunter2") && !shown.to_string().contains(":pw@"));
    }

    #[test]
    fn the_example_configuration_is_recorded_with_a_canonical_text_and_without_its_password() {
        let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("flowmart.toml");
        let flags = [("postgres.database_url", "postgres://flowmart:pw-0451@db/flowmart".to_string())];
        let config = crate::config::load(Some(&example), &flags).expect("flowmart/flowmart.toml is valid");
        let entry = configuration_at_start(&config);
        assert_eq!(
            (entry.actor.name(), entry.action, entry.tenant_id.as_deref()),
            ("system", Action::ConfigurationAtStart, None)
        );
        let text = flowmart_api::audit::canonical_json(&entry.details).expect("a canonical text");
        assert!(!text.contains("pw-0451"), "{text}");
        assert_eq!(entry.details["settings"]["kafka"]["brokers"], json!(config.kafka.brokers));
        assert_eq!(entry.details["settings"]["postgres"]["database_url"], REDACTED);
    }

    #[test]
    fn fractions_become_strings_so_the_record_has_a_canonical_text() {
        assert_eq!(redacted(json!({ "ratio": 0.25, "count": 3 })), json!({ "ratio": "0.25", "count": 3 }));
    }
}
