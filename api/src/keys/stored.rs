//! The key table in Postgres (`api/migrations/`): keys issued or revoked by one process are
//! written through, and a process starting with a database loads every live key.

use serde_json::json;
use sqlx::PgPool;

use super::KeyDigest;
use crate::audit::{Action, Actor, AuditEntry, append_in};
use crate::{Store, StoreError};

/// A live key as stored.
pub(super) struct StoredKey {
    pub(super) key_id: String,
    pub(super) tenant_id: String,
    pub(super) digest: KeyDigest,
    pub(super) created_at_ms: i64,
}

/// A connection pool to the key table.
#[derive(Clone)]
pub(super) struct KeyTable(PgPool);

impl KeyTable {
    pub(super) fn new(store: &Store) -> KeyTable {
        KeyTable(store.0.clone())
    }

    /// Every key not revoked.
    pub(super) async fn live(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query_as::<_, (String, String, Vec<u8>, i64)>(
            "SELECT key_id, tenant_id, key_digest, (extract(epoch FROM created_at) * 1000)::int8
             FROM api_keys WHERE revoked_at IS NULL",
        )
        .fetch_all(&self.0)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(key_id, tenant_id, digest, created_at_ms)| {
                let digest = KeyDigest::try_from(digest.as_slice()).ok()?;
                Some(StoredKey { key_id, tenant_id, digest, created_at_ms })
            })
            .collect())
    }

    /// The live key whose digest is `digest`, if there is one.
    pub(super) async fn live_by_digest(&self, digest: &KeyDigest) -> Result<Option<StoredKey>, StoreError> {
        let row = sqlx::query_as::<_, (String, String, i64)>(
            "SELECT key_id, tenant_id, (extract(epoch FROM created_at) * 1000)::int8
             FROM api_keys WHERE key_digest = $1 AND revoked_at IS NULL",
        )
        .bind(digest.as_slice())
        .fetch_optional(&self.0)
        .await?;
        Ok(row.map(|(key_id, tenant_id, created_at_ms)| StoredKey {
            key_id,
            tenant_id,
            digest: *digest,
            created_at_ms,
        }))
    }

    /// Stores `key`, and its audit record in the same transaction.
    pub(super) async fn insert(&self, key: &StoredKey) -> Result<(), StoreError> {
        let mut transaction = self.0.begin().await?;
        sqlx::query(
            "INSERT INTO api_keys (key_id, tenant_id, key_digest, created_at)
             VALUES ($1, $2, $3, to_timestamp($4::float8 / 1000))",
        )
        .bind(&key.key_id)
        .bind(&key.tenant_id)
        .bind(key.digest.as_slice())
        .bind(key.created_at_ms)
        .execute(&mut *transaction)
        .await?;
        let details = json!({ "key_id": key.key_id });
        append_in(
            &mut transaction,
            &AuditEntry::new(Actor::Admin, Action::ApiKeyIssued, Some(&key.tenant_id), details),
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Marks the key revoked, with its audit record in the same transaction; whether it was live.
    pub(super) async fn revoke(&self, tenant_id: &str, key_id: &str) -> Result<bool, StoreError> {
        let mut transaction = self.0.begin().await?;
        let revoked = sqlx::query(
            "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND tenant_id = $2 AND revoked_at IS NULL",
        )
        .bind(key_id)
        .bind(tenant_id)
        .execute(&mut *transaction)
        .await?;
        let revoked = revoked.rows_affected() == 1;
        if revoked {
            let entry =
                AuditEntry::new(Actor::Admin, Action::ApiKeyRevoked, Some(tenant_id), json!({ "key_id": key_id }));
            append_in(&mut transaction, &entry).await?;
        }
        transaction.commit().await?;
        Ok(revoked)
    }
}
