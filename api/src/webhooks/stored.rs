//! The webhook table in Postgres (`api/migrations/1002_webhooks.sql`): registrations survive a
//! restart, and each webhook goes on after the last change whose delivery finished.

use serde_json::json;
use sqlx::PgPool;

use crate::audit::{Action, Actor, AuditEntry, append_in};
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

    /// Stores `webhook`, registered by `actor`, and its audit record in the same transaction.
    pub(super) async fn insert(&self, webhook: &StoredWebhook, actor: &Actor) -> Result<(), StoreError> {
        let mut transaction = self.0.begin().await?;
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
        .execute(&mut *transaction)
        .await?;
        let details = json!({ "webhook_id": webhook.webhook_id, "url": without_password(&webhook.url) });
        let entry = AuditEntry::new(actor.clone(), Action::WebhookRegistered, Some(&webhook.tenant_id), details);
        append_in(&mut transaction, &entry).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Deletes `tenant_id`'s webhook `webhook_id`, removed by `actor`, with its audit record in
    /// the same transaction.
    pub(super) async fn delete(&self, tenant_id: &str, webhook_id: &str, actor: &Actor) -> Result<(), StoreError> {
        let mut transaction = self.0.begin().await?;
        let deleted = sqlx::query("DELETE FROM webhooks WHERE webhook_id = $1 AND tenant_id = $2")
            .bind(webhook_id)
            .bind(tenant_id)
            .execute(&mut *transaction)
            .await?;
        if deleted.rows_affected() > 0 {
            let details = json!({ "webhook_id": webhook_id });
            append_in(
                &mut transaction,
                &AuditEntry::new(actor.clone(), Action::WebhookRemoved, Some(tenant_id), details),
            )
            .await?;
        }
        transaction.commit().await?;
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

/// `url` with any password in it left out: the audit log shows where deliveries go, not a
/// credential the receiver may have put in its URL.
fn without_password(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("redacted"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn a_password_in_a_webhook_url_is_not_audited() {
        assert_eq!(without_password("https://u:hunter2@hooks.example.com/x"), "https://u:redacted@hooks.example.com/x");
        assert_eq!(without_password("https://hooks.example.com/x?a=1"), "https://hooks.example.com/x?a=1");
    }
}
