//! `[api]`: where the query API listens, and its HTTP conventions.

use std::net::SocketAddr;
use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

use super::broken;

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

impl ApiSettings {
    /// Its rules, as (setting, problem).
    pub(super) fn problems(&self) -> Vec<(String, String)> {
        broken([
            (
                self.cors_origins.iter().all(|origin| is_origin(origin)),
                "api.cors_origins",
                "must be origins like \"https://dash.example.com\" (scheme, host, optional port; no path)",
            ),
            (self.request_timeout_ms >= 100, "api.request_timeout_ms", "must be at least 100"),
        ])
    }
}

/// Whether `origin` is what a browser sends as `Origin`: `http(s)://host[:port]`, no path.
fn is_origin(origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://")) else { return false };
    !rest.is_empty() && !rest.contains('/') && rest.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
}
