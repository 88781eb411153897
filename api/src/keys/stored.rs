//! The key table in Postgres (`api/migrations/`): keys issued or revoked by one process are
//! written through, and a process starting with a database loads every live key.

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::KeyDigest;

/// The API's migrations, embedded. They are numbered apart from the sink's (1001…), and both
/// migrators ignore each other's entries in the shared migrations table.
pub static MIGRATIONS: sqlx::migrate::Migrator = {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.ignore_missing = true;
    migrator
};

/// Why the key table could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    /// The database failed or is unreachable.
    #[error("api key store: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("api key store migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

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
    /// Connects to `url` and applies the API's migrations.
    pub(super) async fn open(url: &str) -> Result<KeyTable, KeyStoreError> {
        let pool = PgPoolOptions::new().max_connections(2).connect(url).await?;
        MIGRATIONS.run(&pool).await?;
        Ok(KeyTable(pool))
    }

    /// Every key not revoked.
    pub(super) async fn live(&self) -> Result<Vec<StoredKey>, KeyStoreError> {
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

    pub(super) async fn insert(&self, key: &StoredKey) -> Result<(), KeyStoreError> {
        sqlx::query(
            "INSERT INTO api_keys (key_id, tenant_id, key_digest, created_at)
             VALUES ($1, $2, $3, to_timestamp($4::float8 / 1000))",
        )
        .bind(&key.key_id)
        .bind(&key.tenant_id)
        .bind(key.digest.as_slice())
        .bind(key.created_at_ms)
        .execute(&self.0)
        .await?;
        Ok(())
    }

    /// Marks the key revoked; whether it was live.
    pub(super) async fn revoke(&self, tenant_id: &str, key_id: &str) -> Result<bool, KeyStoreError> {
        let revoked = sqlx::query(
            "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND tenant_id = $2 AND revoked_at IS NULL",
        )
        .bind(key_id)
        .bind(tenant_id)
        .execute(&self.0)
        .await?;
        Ok(revoked.rows_affected() == 1)
    }
}
