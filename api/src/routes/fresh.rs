//! `?min_as_of=`: answers at least that fresh, waiting (bounded) for the pipeline to get there.

use std::sync::Arc;
use std::time::Duration;

use flowmart_serving::Snapshot;
use serde::Deserialize;

use crate::{ApiError, ApiState};

/// How long a request waits for results as fresh as it asked.
const PATIENCE: Duration = Duration::from_secs(5);

/// The freshness a request asks for, for routes that take no other query parameter.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct Freshness {
    /// Wait (up to 5 s) for results complete up to at least this pipeline time (ms).
    pub(super) min_as_of: Option<u64>,
}

/// The current snapshot, or — with `min_as_of` — the first complete up to at least that pipeline
/// time, waiting up to 5 s for it (then 503).
pub(super) async fn snapshot(state: &ApiState, min_as_of: Option<u64>) -> Result<Arc<Snapshot>, ApiError> {
    match min_as_of {
        None => Ok(state.index.snapshot()),
        Some(min_as_of) => state
            .index
            .fresh(min_as_of, PATIENCE)
            .await
            .ok_or(ApiError::Unavailable("no results as fresh as min_as_of within 5 s; retry later")),
    }
}
