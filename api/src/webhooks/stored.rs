//! The webhook table in Postgres (`api/migrations/1002_webhooks.sql`): registrations survive a
//! restart, and each webhook goes on after the last change whose delivery finished.

use sqlx::PgPool;

use crate::{Store, StoreError};

/// A registration as stored.
pub(super) struct StoredWebhook {
    pub(super) webhook_id: String,
    pub(super) tenant_id: String,
    pub(super) url: String,
    pub(super) secret: String,
    pub(super) created_at: i64,
    pub(super) delivered_up_to: u64,
}

/// A connection pool to the webhook table.
#[derive(Clone)]
pub(super) struct WebhookTable(PgPool);

impl WebhookTable {
    pub(super) fn new(store: &Store) -> WebhookTable {
        WebhookTable(store.0.clone())
    }

    pub(super) async fn all(&self) -> Result<Vec<StoredWebhook>, StoreError> {
        let rows = sqlx::query_as::<_, (String, String, String, String, i64, i64)>(
            "SELECT webhook_id, tenant_id, url, secret, created_at, delivered_up_to FROM webhooks",
        )
        .fetch_all(&self.0)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(webhook_id, tenant_id, url, secret, created_at, delivered_up_to)| StoredWebhook {
                webhook_id,
                tenant_id,
                url,
                secret,
                created_at,
                delivered_up_to: delivered_up_to as u64,
            })
            .collect())
    }

    pub(super) async fn insert(&self, webhook: &StoredWebhook) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhooks (webhook_id, tenant_id, url, secret, created_at, delivered_up_to)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&webhook.webhook_id)
        .bind(&webhook.tenant_id)
        .bind(&webhook.url)
        .bind(&webhook.secret)
        .bind(webhook.created_at)
        .bind(webhook.delivered_up_to as i64)
        .execute(&self.0)
        .await?;
        Ok(())
    }

    pub(super) async fn delete(&self, webhook_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM webhooks WHERE webhook_id = $1").bind(webhook_id).execute(&self.0).await?;
        Ok(())
    }

    /// Records that deliveries up to change `sequence` finished.
    pub(super) async fn advance(&self, webhook_id: &str, sequence: u64) -> Result<(), StoreError> {
        sqlx::query("UPDATE webhooks SET delivered_up_to = GREATEST(delivered_up_to, $2) WHERE webhook_id = $1")
            .bind(webhook_id)
            .bind(sequence as i64)
            .execute(&self.0)
            .await?;
        Ok(())
    }
}
