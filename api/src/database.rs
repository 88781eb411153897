//! The API's own tables in Postgres (`api/migrations/`: tenant keys, webhooks, the audit log),
//! beside the sink's.

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// The API's migrations, embedded. They are numbered apart from the sink's (1001…), and both
/// migrators ignore each other's entries in the shared migrations table.
static MIGRATIONS: sqlx::migrate::Migrator = {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.ignore_missing = true;
    migrator
};

/// Why the API's tables could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or is unreachable.
    #[error("api store: {0}")]
    Database(#[from] sqlx::Error),
    /// The audit record of a change could not be appended (the change is not made either).
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    /// A migration failed.
    #[error("api store migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The database holding the API's tables: one small pool, shared by the key and webhook stores.
#[derive(Clone)]
pub struct Store(pub(crate) PgPool);

impl Store {
    /// Connects to the database at `url` and applies the API's migrations (idempotent).
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let pool = PgPoolOptions::new().max_connections(2).connect(url).await?;
        MIGRATIONS.run(&pool).await?;
        Ok(Store(pool))
    }
}
