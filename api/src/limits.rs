//! Per-tenant request rate limits (`governor`: a generic cell rate limiter per tenant) and the
//! request-size limit.

use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use flowmart_schemas::Id;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::ApiError;

/// The largest request body the API reads (64 KiB): its bodies are small JSON documents.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How fast each tenant may call the API.
pub struct RateLimits {
    per_tenant: DefaultKeyedRateLimiter<Id>,
    clock: DefaultClock,
}

impl RateLimits {
    /// `per_second` requests per second per tenant, with bursts of up to `burst`.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> RateLimits {
        let quota = Quota::per_second(per_second).allow_burst(burst);
        RateLimits { per_tenant: RateLimiter::keyed(quota), clock: DefaultClock::default() }
    }

    /// Counts a request of `tenant`; `Err` with how long to wait when over its limit.
    pub(crate) fn check(&self, tenant: &Id) -> Result<(), Duration> {
        self.per_tenant.check_key(tenant).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets tenants that have been idle long enough to be back at their full burst.
    pub fn shrink(&self) {
        self.per_tenant.retain_recent();
        self.per_tenant.shrink_to_fit();
    }
}

/// Refuses a request whose declared body is larger than [`MAX_BODY_BYTES`] with 413, before
/// reading it (bodies read by extractors are capped by axum's `DefaultBodyLimit` as well).
pub(crate) async fn refuse_large_bodies(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    match declared {
        Some(length) if length > MAX_BODY_BYTES => ApiError::PayloadTooLarge(length).into_response(),
        _ => next.run(request).await,
    }
}
