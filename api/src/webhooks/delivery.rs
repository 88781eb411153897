//! One webhook's delivery task.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use flowmart_schemas::Id;
use flowmart_serving::{AlertEvent, Missed, ServingIndex};
use sha2::Digest;
use tokio::sync::broadcast::error::RecvError;

use super::delivery_failure::Failed;
use super::receiver_guard::ReceiverGuard;
use super::signature::{SIGNATURE_HEADER, TIMESTAMPED_SIGNATURE_HEADER, sign, sign_timestamped};
use super::{Delivery, now_ms};

/// Where one webhook delivers.
pub(super) struct Target {
    pub(super) webhook_id: String,
    pub(super) tenant_id: Id,
    pub(super) url: reqwest::Url,
    pub(super) secret: String,
}

/// Delivers every change of the target's tenant numbered after `after`, in order, forever.
pub(super) async fn run(
    target: Target,
    index: ServingIndex,
    client: reqwest::Client,
    guard: ReceiverGuard,
    mut after: u64,
    record: impl Fn(Delivery) + Send + 'static,
) {
    let mut wake = index.subscribe_alerts();
    let mut annotated = None;
    loop {
        match index.alerts_after(after) {
            Missed::Changes(changes) => {
                for event in changes {
                    if event.alert.tenant_id == target.tenant_id {
                        record(deliver(&target, &client, &guard, &event).await);
                    }
                    after = event.sequence;
                }
            }
            Missed::Gone { up_to } => {
                // Only the changes no longer kept: the kept ones after them are sent next.
                tracing::warn!(webhook = %target.webhook_id, from = after + 1, to = up_to, "alert changes no longer kept; skipped");
                record(Delivery {
                    sequence: up_to,
                    alert_id: Id::default(),
                    outcome: "skipped",
                    attempts: 0,
                    response_status: None,
                    error: Some(format!("changes {} to {up_to} are no longer kept", after + 1)),
                    finished_at: now_ms(),
                });
                after = up_to;
                continue;
            }
        }
        // An acknowledgement or snooze is delivered live (after the changes numbered before
        // it), and logged under the last change delivered: it is not one of the numbered changes
        // a restarted API resends.
        if let Some(event) = annotated.take() {
            record(Delivery { sequence: after, ..deliver(&target, &client, &guard, &event).await });
        }
        match wake.recv().await {
            Ok(event) if event.annotation.is_some() && event.alert.tenant_id == target.tenant_id => {
                annotated = Some(event);
            }
            Ok(_) => {}
            Err(RecvError::Lagged(missed)) => {
                // Numbered changes are read again from the index; live-only updates are not.
                record(Delivery {
                    sequence: after,
                    alert_id: Id::default(),
                    outcome: "skipped",
                    attempts: 0,
                    response_status: None,
                    error: Some(format!(
                        "fell {missed} live updates behind: acknowledgements or snoozes among them are not sent"
                    )),
                    finished_at: now_ms(),
                });
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Posts one change, retrying with exponential backoff (0.2 s doubling to 30 s, 8 retries)
/// while the failure may be temporary. Each attempt checks the receiver's address again (a name
/// through `client`'s resolver, a literal here) and is signed at the time it is sent.
async fn deliver(
    target: &Target,
    client: &reqwest::Client,
    guard: &ReceiverGuard,
    event: &Arc<AlertEvent>,
) -> Delivery {
    let body = event.to_json().into_bytes();
    let signature = sign(&target.secret, &body);
    let delivery_id = match event.annotation {
        None => format!("{}:{}", target.webhook_id, event.sequence),
        // One per distinct update: the alert, when it was acted on, and a digest of what it says
        // (two identical updates in one millisecond may be taken as one).
        Some(_) => {
            let digest = sha2::Sha256::digest(&body);
            let short = digest[..4].iter().map(|byte| format!("{byte:02x}")).collect::<String>();
            format!(
                "{}:{}:{}@{}#{short}",
                target.webhook_id, event.sequence, event.alert.alert_id, event.alert.changed_at
            )
        }
    };
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let attempt = || async {
        attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        guard.check_literal(&target.url).map_err(|_| Failed::refused())?;
        let timestamp = (now_ms() / 1000) as u64;
        let response = client
            .post(target.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, &signature)
            .header(TIMESTAMPED_SIGNATURE_HEADER, sign_timestamped(&target.secret, timestamp, &delivery_id, &body))
            .header("x-flowmart-delivery", &delivery_id)
            .header("x-flowmart-event", "reorder-alert")
            .body(body.clone())
            .send()
            .await
            .map_err(|error| {
                tracing::debug!(webhook = %target.webhook_id, %error, "webhook request failed");
                Failed::unanswered(&error)
            })?;
        let status = response.status();
        if status.is_success() { Ok(status.as_u16()) } else { Err(Failed::answered(status)) }
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
            tracing::warn!(webhook = %target.webhook_id, sequence = event.sequence, attempts, error = %failed.class, "webhook delivery failed");
            ("failed", failed.status, Some(failed.class))
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::http::StatusCode;
    use flowmart_schemas::{ReorderAlert, ReorderAlertStatus};
    use flowmart_serving::{AlertEvent, ServingIndex};
    use hmac::{KeyInit, Mac};

    use super::super::delivery_failure::Failed;
    use super::super::{WebhookSettings, Webhooks};
    use super::{Target, deliver};
    use crate::OutboundTls;
    use crate::test_receiver::{self, Answer, TestCa};

    const SECRET: &str = "whsec_test";

    /// Webhooks delivering with `tls`, to public addresses and `allowed_networks`.
    fn webhooks(tls: OutboundTls, allowed_networks: &[&str]) -> Webhooks {
        let allowed_networks = allowed_networks.iter().map(|network| network.parse().unwrap()).collect();
        Webhooks::with_settings(ServingIndex::new(u64::MAX).0, WebhookSettings { tls, allowed_networks })
    }

    async fn deliver_to(webhooks: &Webhooks, url: reqwest::Url) -> crate::webhooks::Delivery {
        let target = Target { webhook_id: "wh_test".into(), tenant_id: "acme".into(), url, secret: SECRET.into() };
        let alert = ReorderAlert {
            alert_id: "alert-1".into(),
            tenant_id: "acme".into(),
            warehouse_id: "rotterdam".into(),
            sku: "SKU-1".into(),
            status: ReorderAlertStatus::Opened,
            projected: 3,
            reorder_point: 10,
            suggested_quantity: 20,
            changed_at: 1_764_000_000_000,
        };
        deliver(
            &target,
            &webhooks.client,
            &webhooks.guard,
            &Arc::new(AlertEvent { sequence: 42, alert, annotation: None }),
        )
        .await
    }

    fn hmac_hex(message: &[u8]) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(message);
        mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect()
    }

    #[tokio::test]
    async fn an_https_receiver_trusted_through_the_ca_file_gets_the_change_signed_with_a_timestamp_and_its_delivery_id()
    {
        let ca = TestCa::new();
        let receiver = test_receiver::tls(&ca, Answer::Status(StatusCode::OK)).await;
        let webhooks = webhooks(OutboundTls::new(Some(&ca.pem_file)).unwrap(), &["127.0.0.0/8"]);
        let delivery = deliver_to(&webhooks, receiver.url.clone()).await;
        assert_eq!((delivery.outcome, delivery.response_status, delivery.attempts), ("delivered", Some(200), 1));

        let received = receiver.received.lock().unwrap().clone();
        assert_eq!(received.len(), 1);
        let (headers, body) = (&received[0].headers, &received[0].body);
        let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_string();
        let delivery_id = header("x-flowmart-delivery");
        assert_eq!(delivery_id, "wh_test:42");
        assert_eq!(header("x-flowmart-signature"), format!("sha256={}", hmac_hex(body)), "the body's signature");

        // What a receiver does (README "Webhooks"): split t and v1, recompute, compare, and
        // refuse a timestamp outside its window.
        let signed = header("x-flowmart-timestamped-signature");
        let fields = signed.split(',').filter_map(|field| field.split_once('=')).collect::<Vec<_>>();
        let (timestamp, signature) = match fields.as_slice() {
            [("t", timestamp), ("v1", signature)] => (timestamp.parse::<i64>().unwrap(), *signature),
            other => panic!("t=<unix>,v1=<hex>: {other:?}"),
        };
        let message = [format!("{timestamp}.{delivery_id}.").as_bytes(), body].concat();
        assert_eq!(signature, hmac_hex(&message));
        let now = super::super::now_ms() / 1000;
        assert!((now - timestamp).abs() <= 60, "signed when sent: t={timestamp}, now {now}");
        let replayed = [format!("{timestamp}.wh_test:41.").as_bytes(), body].concat();
        assert_ne!(signature, hmac_hex(&replayed), "bound to its delivery id");
    }

    #[tokio::test]
    async fn an_https_receiver_whose_certificate_no_trusted_root_signs_fails_as_a_tls_error() {
        let ca = TestCa::new();
        let receiver = test_receiver::tls(&ca, Answer::Status(StatusCode::OK)).await;
        let webhooks = webhooks(OutboundTls::default(), &["127.0.0.0/8"]);
        let error = webhooks.client.post(receiver.url.clone()).send().await.unwrap_err();
        let failed = Failed::unanswered(&error);
        assert_eq!((failed.class.as_str(), failed.status, failed.retry), ("tls handshake failed", None, true));
        assert!(receiver.received.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_redirect_to_another_loopback_address_is_not_followed() {
        let elsewhere = test_receiver::plain([127, 0, 0, 2], Answer::Status(StatusCode::OK)).await;
        let redirecting = test_receiver::plain([127, 0, 0, 1], Answer::RedirectTo(elsewhere.url.to_string())).await;
        let webhooks = webhooks(OutboundTls::default(), &["127.0.0.1/32"]);
        let delivery = deliver_to(&webhooks, redirecting.url.clone()).await;
        assert_eq!((delivery.outcome, delivery.response_status, delivery.attempts), ("failed", Some(302), 1));
        assert_eq!(delivery.error.as_deref(), Some("answered 302 Found: redirects are not followed"));
        assert_eq!(redirecting.received.lock().unwrap().len(), 1);
        assert!(elsewhere.received.lock().unwrap().is_empty(), "nothing reached the redirect's target");
    }

    #[tokio::test]
    async fn a_receiver_whose_address_is_no_longer_allowed_gets_nothing_and_the_log_says_only_that() {
        let receiver = test_receiver::plain([127, 0, 0, 1], Answer::Status(StatusCode::OK)).await;
        let port = receiver.url.port().unwrap();
        let webhooks = webhooks(OutboundTls::default(), &[]);
        // Registered when allowed (or when its name pointed elsewhere): each delivery checks
        // again, the literal before sending, the name as it is resolved.
        for url in [format!("http://127.0.0.1:{port}/hook"), format!("http://localhost:{port}/hook")] {
            let delivery = deliver_to(&webhooks, url.parse().unwrap()).await;
            assert_eq!((delivery.outcome, delivery.response_status, delivery.attempts), ("failed", None, 1), "{url}");
            assert_eq!(delivery.error.as_deref(), Some("address not allowed"), "{url}");
        }
        assert!(receiver.received.lock().unwrap().is_empty());
    }
}
