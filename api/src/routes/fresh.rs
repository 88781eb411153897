//! `?min_as_of=`: answers at least that fresh, waiting (bounded) for the pipeline to get there.

use std::sync::Arc;
use std::time::Duration;

use flowmart_serving::Snapshot;
use serde::Deserialize;

use crate::{ApiError, ApiState};

/// How long a request waits for results as fresh as it asked.
const PATIENCE: Duration = Duration::from_secs(5);

/// How far ahead of this server's clock `min_as_of` may be (clock skew between the processes of a
/// cluster). Pipeline time follows the wall clock, so a later time cannot be reached in time: it
/// is answered at once (409) rather than waited for.
const MAX_AHEAD_MS: u64 = 1_000;

/// The latest `min_as_of` there is (before 2100-01-01, the end of the contract's time range);
/// beyond it, 400. The OpenAPI document declares it as the parameter's `maximum`.
const LAST_PIPELINE_TIME: u64 = 4_102_444_799_999;

/// The freshness a request asks for, for routes that take no other query parameter.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct Freshness {
    /// Wait (up to 5 s) for results complete up to at least this pipeline time (ms): 409 at once
    /// if it is ahead of the server's clock.
    #[param(maximum = 4_102_444_799_999_u64)]
    pub(super) min_as_of: Option<u64>,
}

/// The current snapshot, or — with `min_as_of` — the first complete up to at least that pipeline
/// time, waiting up to 5 s for it (then 503); 409 at once for a `min_as_of` ahead of this server's
/// clock, 400 for one past 2100.
pub(super) async fn snapshot(state: &ApiState, min_as_of: Option<u64>) -> Result<Arc<Snapshot>, ApiError> {
    let latest = super::now_ms().max(0) as u64 + MAX_AHEAD_MS;
    match min_as_of {
        Some(min_as_of) if min_as_of > LAST_PIPELINE_TIME => {
            return Err(ApiError::BadRequest(format!(
                "min_as_of must be at most {LAST_PIPELINE_TIME} (2100-01-01), got {min_as_of}"
            )));
        }
        Some(min_as_of) if min_as_of > latest => {
            return Err(ApiError::Conflict(format!(
                "min_as_of ({min_as_of}) is ahead of this server's clock ({latest}); pipeline time follows \
                 the clock, so no answer is that fresh yet"
            )));
        }
        _ => {}
    }
    match min_as_of {
        None => Ok(state.index.snapshot()),
        Some(min_as_of) => state
            .index
            .fresh(min_as_of, PATIENCE)
            .await
            .ok_or(ApiError::Unavailable("no results as fresh as min_as_of within 5 s; retry later")),
    }
}
