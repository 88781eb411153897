//! Webhooks: a tenant registers a URL and receives each of its alert changes there as a signed
//! JSON `POST`, retried with backoff, with a delivery log it can read back.
//!
//! Each webhook has its own delivery task. It reads the changes after the last one it finished
//! from the serving index (the live broadcast only wakes it), so a slow receiver delays only its
//! own webhook and misses nothing the index still keeps (the last 65,536 changes). A change is
//! finished once delivered (2xx) or given up on (a 4xx other than 408/429, or every retry
//! failed); it is never sent again after a 2xx. Every request carries
//! `X-FlowMart-Delivery: <webhook_id>:<change number>`, the same on each retry, so a receiver
//! can drop a repeat whose 2xx it sent but the sender never saw.
//!
//! With a database, registrations are stored, and each webhook's progress (the last change whose
//! delivery finished) is written after every delivery: a restarted API goes on from there. The
//! changes it can resend are those its serving index still keeps; changes made while it was down
//! beyond those are logged as `skipped`. Without a database, registrations live in memory.
//!
//! Receivers are reached over http or https (the system's roots and an optional CA file), never
//! through a redirect or a proxy, and only at addresses the SSRF guard (`receiver_guard.rs`)
//! allows — checked at registration and at every delivery.

mod address_class;
mod delivery;
mod delivery_failure;
mod receiver_guard;
mod signature;
mod stored;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use flowmart_schemas::Id;
use flowmart_serving::ServingIndex;
use ipnet::IpNet;
use serde::Serialize;
use utoipa::ToSchema;

pub use receiver_guard::AddressRefused;
use receiver_guard::ReceiverGuard;
pub use signature::{SIGNATURE_HEADER, TIMESTAMPED_SIGNATURE_HEADER, sign, sign_timestamped};
use stored::{StoredWebhook, WebhookTable};

use crate::audit::Actor;
use crate::{OutboundTls, Store, StoreError};

/// How many deliveries each webhook's log keeps (the oldest go first).
const LOG_CAPACITY: usize = 1_000;

/// One finished delivery, as the log shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Delivery {
    /// The alert change's number (the stream's event id).
    pub sequence: u64,
    /// The alert it changed.
    #[schema(value_type = String)]
    pub alert_id: Id,
    /// `delivered` (a 2xx came back), `failed` (given up) or `skipped` (no longer kept when this
    /// webhook came to it; `sequence` is then the last one skipped).
    pub outcome: &'static str,
    /// How many requests were made.
    pub attempts: u32,
    /// The last HTTP status received, if any.
    pub response_status: Option<u16>,
    /// Why the last attempt failed, if it did: a class of failure (`address not allowed`,
    /// `could not connect`, `timed out`, `tls handshake failed`, `answered 503 Service
    /// Unavailable`, …), never what the receiver sent.
    pub error: Option<String>,
    /// When it finished (ms since the epoch).
    pub finished_at: i64,
}

/// A registered webhook, as listed (the secret is shown only at registration).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WebhookInfo {
    /// Its id.
    pub webhook_id: String,
    /// Where changes are posted.
    pub url: String,
    /// When it was registered (ms since the epoch).
    pub created_at: i64,
}

struct Webhook {
    tenant_id: Id,
    info: WebhookInfo,
    log: Arc<Mutex<VecDeque<Delivery>>>,
    task: tokio::task::AbortHandle,
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why a webhook could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The URL is not an absolute `http` or `https` URL.
    #[error("url must be an absolute http(s) URL, got {0:?}")]
    BadUrl(String),
    /// The URL's host is not one webhooks may reach.
    #[error("url refused: {0}")]
    AddressRefused(#[from] AddressRefused),
    /// The OS gave no randomness for the secret.
    #[error("no randomness available to make a secret")]
    Randomness,
    /// The webhook table failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How deliveries reach receivers.
#[derive(Clone, Debug, Default)]
pub struct WebhookSettings {
    /// The roots https receivers' certificates are checked against. Default: the system's.
    pub tls: OutboundTls,
    /// Networks whose private (loopback, link-local, …) addresses receivers may have, for
    /// receivers inside a company network. Default none: public addresses only.
    pub allowed_networks: Vec<IpNet>,
}

/// Every tenant's webhooks and their delivery tasks.
pub struct Webhooks {
    index: ServingIndex,
    client: reqwest::Client,
    guard: ReceiverGuard,
    hooks: RwLock<HashMap<String, Arc<Webhook>>>,
    table: Option<WebhookTable>,
}

impl Webhooks {
    /// No webhooks yet, in memory only, delivering to public addresses; changes are read from
    /// `index`.
    pub fn new(index: ServingIndex) -> Webhooks {
        Webhooks::with_settings(index, WebhookSettings::default())
    }

    /// As [`new`](Webhooks::new), delivering as `settings` say.
    pub fn with_settings(index: ServingIndex, settings: WebhookSettings) -> Webhooks {
        let guard = ReceiverGuard::new(settings.allowed_networks);
        let client = settings
            .tls
            .client_builder()
            .dns_resolver(guard.clone())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("an HTTP client with rustls and a resolver");
        Webhooks { index, client, guard, hooks: RwLock::new(HashMap::new()), table: None }
    }

    /// The webhooks stored in `store`'s database, each delivering again after its last finished
    /// change. Must be called within a tokio runtime.
    pub async fn stored(index: ServingIndex, store: &Store, settings: WebhookSettings) -> Result<Webhooks, StoreError> {
        Webhooks::stored_for(index, store, settings, |_| true).await
    }

    /// As [`stored`](Webhooks::stored), only the webhooks of the tenants `serves` accepts (in a
    /// cluster, those this process serves; the others' owners deliver theirs).
    pub async fn stored_for(
        index: ServingIndex,
        store: &Store,
        settings: WebhookSettings,
        serves: impl Fn(&str) -> bool,
    ) -> Result<Webhooks, StoreError> {
        let table = WebhookTable::new(store);
        let stored = table.all().await?;
        let webhooks = Webhooks { table: Some(table), ..Webhooks::with_settings(index, settings) };
        for webhook in stored.into_iter().filter(|webhook| serves(&webhook.tenant_id)) {
            match reqwest::Url::parse(&webhook.url) {
                Ok(url) => webhooks.start(webhook, url),
                Err(_) => {
                    tracing::error!(webhook = %webhook.webhook_id, url = %webhook.url, "stored webhook url does not parse")
                }
            }
        }
        Ok(webhooks)
    }

    /// Registers `url` for `tenant_id`'s alert changes from now on; returns it and its secret
    /// (for the signature headers). Its host is resolved (never connected to) and refused unless
    /// the guard allows an address of it. Must be called within a tokio runtime.
    ///
    /// `actor` (the tenant key that asked) is named in the audit record, stored with it.
    pub async fn register(
        &self,
        tenant_id: &Id,
        url: &str,
        actor: &Actor,
    ) -> Result<(WebhookInfo, String), WebhookError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| WebhookError::BadUrl(url.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(WebhookError::BadUrl(url.to_string()));
        }
        self.guard.check(&parsed).await?;
        let secret = crate::keys::random_secret("whsec_").map_err(|_| WebhookError::Randomness)?;
        let webhook_id = crate::keys::random_secret("wh_").map_err(|_| WebhookError::Randomness)?[..19].to_string();
        let webhook = StoredWebhook {
            webhook_id,
            tenant_id: tenant_id.to_string(),
            url: parsed.to_string(),
            secret,
            created_at: now_ms(),
            delivered_up_to: self.index.snapshot().alerts_published,
        };
        if let Some(table) = &self.table {
            table.insert(&webhook, actor).await?;
        }
        let info = WebhookInfo {
            webhook_id: webhook.webhook_id.clone(),
            url: webhook.url.clone(),
            created_at: webhook.created_at,
        };
        let secret = webhook.secret.clone();
        self.start(webhook, parsed);
        Ok((info, secret))
    }

    /// Starts delivering for `webhook`.
    fn start(&self, webhook: StoredWebhook, url: reqwest::Url) {
        let info =
            WebhookInfo { webhook_id: webhook.webhook_id.clone(), url: webhook.url, created_at: webhook.created_at };
        let tenant_id = Id::from(webhook.tenant_id);
        let target = delivery::Target {
            webhook_id: webhook.webhook_id.clone(),
            tenant_id: tenant_id.clone(),
            url,
            secret: webhook.secret,
        };
        let table = self.table.clone();
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let entries = Arc::clone(&log);
        let webhook_id = webhook.webhook_id.clone();
        let finished = move |delivery: Delivery| {
            if let Some(table) = &table {
                let (table, webhook_id, sequence) = (table.clone(), webhook_id.clone(), delivery.sequence);
                tokio::spawn(async move {
                    if let Err(error) = table.advance(&webhook_id, sequence).await {
                        tracing::warn!(webhook = %webhook_id, %error, "cannot store webhook progress");
                    }
                });
            }
            let mut entries = entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if entries.len() == LOG_CAPACITY {
                entries.pop_front();
            }
            entries.push_back(delivery);
        };
        let run = delivery::run(
            target,
            self.index.clone(),
            self.client.clone(),
            self.guard.clone(),
            webhook.delivered_up_to,
            finished,
        );
        let task = tokio::spawn(run).abort_handle();
        let hook = Arc::new(Webhook { tenant_id, info, log, task });
        self.hooks.write().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(webhook.webhook_id, hook);
    }

    /// `tenant_id`'s webhooks, oldest first.
    pub fn list(&self, tenant_id: &Id) -> Vec<WebhookInfo> {
        let hooks = self.hooks.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut infos = hooks
            .values()
            .filter(|hook| hook.tenant_id == *tenant_id)
            .map(|hook| hook.info.clone())
            .collect::<Vec<_>>();
        infos.sort_by(|a, b| (a.created_at, &a.webhook_id).cmp(&(b.created_at, &b.webhook_id)));
        infos
    }

    /// Removes `tenant_id`'s webhook `webhook_id` and stops its deliveries; whether it existed.
    /// `actor` is named in the audit record, stored with the removal.
    pub async fn remove(&self, tenant_id: &Id, webhook_id: &str, actor: &Actor) -> Result<bool, WebhookError> {
        let owned = {
            let hooks = self.hooks.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            hooks.get(webhook_id).is_some_and(|hook| hook.tenant_id == *tenant_id)
        };
        if !owned {
            return Ok(false);
        }
        if let Some(table) = &self.table {
            table.delete(tenant_id, webhook_id, actor).await?;
        }
        Ok(self.hooks.write().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(webhook_id).is_some())
    }

    /// The delivery log of `tenant_id`'s webhook `webhook_id`, oldest first; `None` if it has no
    /// such webhook.
    pub fn deliveries(&self, tenant_id: &Id, webhook_id: &str) -> Option<Vec<Delivery>> {
        let hooks = self.hooks.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let hook = hooks.get(webhook_id).filter(|hook| hook.tenant_id == *tenant_id)?;
        let log = hook.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(log.iter().cloned().collect())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_millis() as i64)
}
