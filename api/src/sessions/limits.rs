//! How many sessions may be open: in all, so the process stays within its memory and file
//! descriptors (503 beyond), and per tenant, so one tenant cannot take them all (429 beyond).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flowmart_schemas::Id;

use super::Sessions;

/// The most sessions the API holds open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    /// In all; a session beyond is refused with 503. Default 60,000.
    pub total: usize,
    /// Per tenant; a session beyond is refused with 429. Default 20,000.
    pub per_tenant: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits { total: 60_000, per_tenant: 20_000 }
    }
}

/// Sessions open, in all and per tenant.
#[derive(Default)]
pub(super) struct SessionCounts {
    limits: SessionLimits,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    /// Only tenants with a session open.
    per_tenant: HashMap<Id, usize>,
}

/// Why a session was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The process holds as many sessions as it may (503).
    Total(usize),
    /// The tenant holds as many sessions as it may (429).
    Tenant(usize),
}

impl SessionCounts {
    pub(super) fn new(limits: SessionLimits) -> SessionCounts {
        SessionCounts { limits, open: Mutex::default() }
    }

    pub(super) fn limits(&self) -> SessionLimits {
        self.limits
    }

    pub(super) fn open(&self) -> usize {
        self.lock().total
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn admit(sessions: &Arc<Sessions>, tenant_id: &Id) -> Result<SessionPermit, Refused> {
        let counts = &sessions.counts;
        let mut open = counts.lock();
        let refused = if open.total >= counts.limits.total {
            Some(Refused::Total(counts.limits.total))
        } else if open.per_tenant.get(tenant_id).is_some_and(|tenant| *tenant >= counts.limits.per_tenant) {
            Some(Refused::Tenant(counts.limits.per_tenant))
        } else {
            None
        };
        if let Some(refused) = refused {
            let limit = match refused {
                Refused::Total(_) => "total",
                Refused::Tenant(_) => "tenant",
            };
            metrics::counter!("flowmart_api_sessions_refused_total", "limit" => limit).increment(1);
            return Err(refused);
        }
        open.total += 1;
        *open.per_tenant.entry(tenant_id.clone()).or_default() += 1;
        metrics::gauge!("flowmart_api_sessions").set(open.total as f64);
        Ok(SessionPermit { sessions: Arc::clone(sessions), tenant_id: tenant_id.clone() })
    }
}

/// One open session, counted until dropped (when its response body is: the client went away,
/// or the server stopped).
pub(crate) struct SessionPermit {
    sessions: Arc<Sessions>,
    tenant_id: Id,
}

impl Drop for SessionPermit {
    fn drop(&mut self) {
        let mut open = self.sessions.counts.lock();
        open.total -= 1;
        if let Some(tenant) = open.per_tenant.get_mut(&self.tenant_id) {
            *tenant -= 1;
            if *tenant == 0 {
                open.per_tenant.remove(&self.tenant_id);
            }
        }
        metrics::gauge!("flowmart_api_sessions").set(open.total as f64);
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let (status, error) = match self {
            Refused::Total(limit) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the server holds its limit of {limit} live sessions; retry later"),
            ),
            Refused::Tenant(limit) => (
                StatusCode::TOO_MANY_REQUESTS,
                format!("the tenant holds its limit of {limit} live sessions; close one first"),
            ),
        };
        let mut response = (status, Json(serde_json::json!({ "error": error }))).into_response();
        // A session ends when its client goes away: a retry soon may find room.
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_over_the_tenants_limit_or_the_total_is_refused_until_one_closes() {
        let sessions = Arc::new(Sessions::new(SessionLimits { total: 3, per_tenant: 2 }));
        let (acme, globex, initech) = (Id::from("acme"), Id::from("globex"), Id::from("initech"));
        let first = sessions.admit(&acme).unwrap();
        let _second = sessions.admit(&acme).unwrap();
        assert_eq!(sessions.admit(&acme).err(), Some(Refused::Tenant(2)));
        let _third = sessions.admit(&globex).unwrap();
        assert_eq!(sessions.admit(&initech).err(), Some(Refused::Total(3)));
        assert_eq!(sessions.open(), 3);
        drop(first);
        assert_eq!(sessions.open(), 2);
        let _again = sessions.admit(&acme).unwrap();
        assert_eq!(sessions.counts.lock().per_tenant.len(), 2, "only tenants with sessions are kept");
    }
}
