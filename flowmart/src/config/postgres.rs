//! `[postgres]`: where results are stored, and the TLS the URL asks for.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::secret_files;

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
    pub(super) fn problems(&self) -> Vec<(String, String)> {
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
