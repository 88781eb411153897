//! How a Kafka client reaches the brokers: their addresses and the librdkafka properties every
//! client takes (security above all).

use std::collections::BTreeMap;

use rdkafka::ClientConfig;

/// The brokers and the librdkafka properties every client of them takes: `security.protocol`,
/// `ssl.*`, `sasl.*` and any other property meant for consumers and producers alike.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaConnection {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Further librdkafka properties, for every client.
    pub properties: BTreeMap<String, String>,
}

impl KafkaConnection {
    /// A client configuration with the brokers and the properties, for role-specific ones to
    /// follow.
    pub fn client_config(&self) -> ClientConfig {
        let mut client = ClientConfig::new();
        client.set("bootstrap.servers", &self.brokers);
        for (key, value) in &self.properties {
            client.set(key, value);
        }
        client
    }
}

/// Whether librdkafka knows the property `name` and takes `value` for it (checked without
/// connecting); what it says otherwise. `plugin.library.paths` is not checked: setting it loads
/// the libraries at once.
pub fn check_property(name: &str, value: &str) -> Result<(), String> {
    if name == "plugin.library.paths" {
        return Ok(());
    }
    match ClientConfig::new().set(name, value).create_native_config() {
        Ok(_) => Ok(()),
        Err(rdkafka::error::KafkaError::ClientConfig(_, description, _, _)) => Err(description),
        Err(error) => Err(error.to_string()),
    }
}

/// Brokers reached in plain text, with librdkafka's defaults.
impl From<&str> for KafkaConnection {
    fn from(brokers: &str) -> Self {
        KafkaConnection { brokers: brokers.to_string(), properties: BTreeMap::new() }
    }
}

impl From<&String> for KafkaConnection {
    fn from(brokers: &String) -> Self {
        KafkaConnection::from(brokers.as_str())
    }
}

impl From<&KafkaConnection> for KafkaConnection {
    fn from(connection: &KafkaConnection) -> Self {
        connection.clone()
    }
}

/// Shows the properties with every password and secret hidden.
impl std::fmt::Debug for KafkaConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let properties = self
            .properties
            .iter()
            .map(|(key, value)| (key.as_str(), if is_secret(key) { "<hidden>" } else { value.as_str() }))
            .collect::<BTreeMap<_, _>>();
        f.debug_struct("KafkaConnection").field("brokers", &self.brokers).field("properties", &properties).finish()
    }
}

/// Whether a librdkafka property holds a secret (`sasl.password`, `ssl.key.password`,
/// `sasl.oauthbearer.client.secret`, `ssl.key.pem`, …).
fn is_secret(key: &str) -> bool {
    key.contains("password") || key.contains("secret") || key == "ssl.key.pem"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_passwords_and_secrets() {
        let connection = KafkaConnection {
            brokers: "kafka:9093".into(),
            properties: [("sasl.password", "hunter2"), ("ssl.key.password", "s3"), ("sasl.username", "flowmart")]
                .into_iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        };
        let shown = format!("{connection:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("s3\""), "{shown}");
        assert!(shown.contains("flowmart"), "{shown}");
    }
}
