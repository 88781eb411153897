//! One webhook's delivery task.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use flowmart_schemas::Id;
use flowmart_serving::{AlertEvent, Missed, ServingIndex};
use tokio::sync::broadcast::error::RecvError;

use super::{Delivery, SIGNATURE_HEADER, now_ms, sign};

/// Where one webhook delivers.
pub(super) struct Target {
    pub(super) webhook_id: String,
    pub(super) tenant_id: Id,
    pub(super) url: reqwest::Url,
    pub(super) secret: String,
}

/// Why an attempt failed, and whether another may succeed.
struct Failed {
    status: Option<u16>,
    message: String,
    retry: bool,
}

/// Delivers every change of the target's tenant numbered after `after`, in order, forever.
pub(super) async fn run(
    target: Target,
    index: ServingIndex,
    client: reqwest::Client,
    mut after: u64,
    record: impl Fn(Delivery) + Send + 'static,
) {
    let mut wake = index.subscribe_alerts();
    loop {
        match index.alerts_after(after) {
            Missed::Changes(changes) => {
                for event in changes {
                    if event.alert.tenant_id == target.tenant_id {
                        record(deliver(&target, &client, &event).await);
                    }
                    after = event.sequence;
                }
            }
            Missed::Gone => {
                let now = index.snapshot().alerts_published;
                tracing::warn!(webhook = %target.webhook_id, from = after + 1, to = now, "alert changes no longer kept; skipped");
                record(Delivery {
                    sequence: now,
                    alert_id: Id::default(),
                    outcome: "skipped",
                    attempts: 0,
                    response_status: None,
                    error: Some(format!("changes {} to {now} are no longer kept", after + 1)),
                    finished_at: now_ms(),
                });
                after = now;
            }
        }
        match wake.recv().await {
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}

/// Posts one change, retrying with exponential backoff (0.2 s doubling to 30 s, 8 retries)
/// while the failure may be temporary.
async fn deliver(target: &Target, client: &reqwest::Client, event: &Arc<AlertEvent>) -> Delivery {
    let body = serde_json::to_vec(&event.alert).expect("alerts serialize");
    let signature = sign(&target.secret, &body);
    let delivery_id = format!("{}:{}", target.webhook_id, event.sequence);
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let attempt = || async {
        attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let response = client
            .post(target.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, &signature)
            .header("x-flowmart-delivery", &delivery_id)
            .header("x-flowmart-event", "reorder-alert")
            .body(body.clone())
            .send()
            .await
            .map_err(|error| Failed { status: None, message: error.to_string(), retry: true })?;
        let status = response.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            let retry = status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429;
            Err(Failed { status: Some(status.as_u16()), message: format!("answered {status}"), retry })
        }
    };
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(30))
        .with_max_times(8)
        .with_jitter();
    let result = attempt.retry(backoff).when(|failed: &Failed| failed.retry).await;
    let attempts = attempts.into_inner();
    let (outcome, response_status, error) = match result {
        Ok(status) => ("delivered", Some(status), None),
        Err(failed) => {
            tracing::warn!(webhook = %target.webhook_id, sequence = event.sequence, attempts, error = %failed.message, "webhook delivery failed");
            ("failed", failed.status, Some(failed.message))
        }
    };
    metrics::counter!("flowmart_webhook_deliveries_total", "outcome" => outcome).increment(1);
    Delivery {
        sequence: event.sequence,
        alert_id: event.alert.alert_id.clone(),
        outcome,
        attempts,
        response_status,
        error,
        finished_at: now_ms(),
    }
}
