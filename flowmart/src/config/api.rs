//! `[api]`: where the query API listens, its HTTP conventions and its limits.

use std::net::SocketAddr;
use std::num::NonZeroU32;

use flowmart_api::SessionLimits;
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
    /// Live sessions (event streams) the process holds open in all; one more gets 503. Each
    /// takes a file descriptor (the process raises its limit at start and says if it cannot give
    /// this many) and about 13 KiB of memory (BENCHMARKS.md, "Live sessions"). Default 60,000.
    pub max_sessions: usize,
    /// Live sessions one tenant may hold open; one more gets 429. Default 20,000.
    pub max_sessions_per_tenant: usize,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            rate_limit_per_second: NonZeroU32::new(200).expect("non-zero"),
            rate_limit_burst: NonZeroU32::new(400).expect("non-zero"),
            cors_origins: Vec::new(),
            request_timeout_ms: 30_000,
            max_sessions: SessionLimits::default().total,
            max_sessions_per_tenant: SessionLimits::default().per_tenant,
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

    /// The limits on live sessions.
    pub fn session_limits(&self) -> SessionLimits {
        SessionLimits { total: self.max_sessions, per_tenant: self.max_sessions_per_tenant }
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
            (self.max_sessions >= 1, "api.max_sessions", "must be at least 1"),
            (
                (1..=self.max_sessions).contains(&self.max_sessions_per_tenant),
                "api.max_sessions_per_tenant",
                "must be at least 1 and at most api.max_sessions",
            ),
        ])
    }
}

/// Whether `origin` is what a browser sends as `Origin`: `http(s)://host[:port]`, no path.
fn is_origin(origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://")) else { return false };
    !rest.is_empty() && !rest.contains('/') && rest.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_limits_below_one_or_a_tenants_above_the_total_are_refused_by_name() {
        let limits = |total, per_tenant| ApiSettings {
            max_sessions: total,
            max_sessions_per_tenant: per_tenant,
            ..ApiSettings::default()
        };
        assert_eq!(limits(60_000, 20_000).problems(), Vec::<(String, String)>::new());
        assert_eq!(limits(60_000, 20_000).session_limits(), SessionLimits { total: 60_000, per_tenant: 20_000 });
        let keys = |settings: ApiSettings| settings.problems().into_iter().map(|(key, _)| key).collect::<Vec<_>>();
        assert_eq!(keys(limits(0, 1)), ["api.max_sessions", "api.max_sessions_per_tenant"]);
        assert_eq!(keys(limits(10, 0)), ["api.max_sessions_per_tenant"]);
        assert_eq!(keys(limits(10, 11)), ["api.max_sessions_per_tenant"]);
        assert_eq!(keys(limits(10, 10)), Vec::<String>::new());
    }
}
