//! How to reach the Schema Registry: its URL, basic auth, and a CA file for https.

use std::path::PathBuf;

use schema_registry_converter::blocking::schema_registry::SrSettings;

/// A Confluent-compatible Schema Registry: `http://` or `https://` (checked against the system's
/// roots and, when given, a CA file), with basic auth when a username is given.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SchemaRegistryConfig {
    /// Its base URL.
    pub url: String,
    /// The basic-auth username (Confluent Cloud: the API key). Default none: no authentication.
    pub username: Option<String>,
    /// The basic-auth password (Confluent Cloud: the API secret).
    pub password: Option<String>,
    /// PEM certificate(s) of the CA(s) an https registry's certificate is checked against, on
    /// top of the system's. Default none.
    pub ca_file: Option<PathBuf>,
}

/// Why the registry's client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RegistryClientError {
    /// The CA file cannot be read or holds no PEM certificate.
    #[error("schema registry CA file {path}: {message}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The HTTP client refused the settings.
    #[error("schema registry client: {0}")]
    Client(String),
}

impl SchemaRegistryConfig {
    /// The registry at `url`, without authentication or a CA file of its own.
    pub fn new(url: &str) -> Self {
        SchemaRegistryConfig { url: url.to_string(), ..SchemaRegistryConfig::default() }
    }

    /// The registry client's settings (reads the CA file).
    pub fn settings(&self) -> Result<SrSettings, RegistryClientError> {
        let mut client = reqwest::blocking::Client::builder();
        if let Some(path) = &self.ca_file {
            let ca_file = |message: String| RegistryClientError::CaFile { path: path.clone(), message };
            let pem = std::fs::read(path).map_err(|error| ca_file(error.to_string()))?;
            let certificates =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| ca_file(error.to_string()))?;
            if certificates.is_empty() {
                return Err(ca_file("holds no PEM certificate".into()));
            }
            client = client.tls_certs_merge(certificates);
        }
        let mut settings = SrSettings::new_builder(self.url.clone());
        if let Some(username) = &self.username {
            settings.set_basic_authorization(username, self.password.as_deref());
        }
        settings.build_with(client).map_err(|error| RegistryClientError::Client(error.to_string()))
    }
}

/// Shows the URL and the username, never the password.
impl std::fmt::Debug for SchemaRegistryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaRegistryConfig")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}
