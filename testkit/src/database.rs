use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::{Connection, PgConnection};

/// A database of its own on the test Postgres server (`DATABASE_URL`, default
/// `postgres://postgres@127.0.0.1:5432/test`), dropped at the end, so tests run in parallel.
pub struct TestDatabase {
    server: String,
    name: String,
    runtime: tokio::runtime::Runtime,
}

impl TestDatabase {
    /// Creates an empty database.
    pub fn create() -> TestDatabase {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let server = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let name = format!("flowmart_test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mut admin =
                PgConnection::connect(&server).await.expect("the test Postgres answers (scripts/test.sh starts it)");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .expect("create database");
        });
        TestDatabase { server, name, runtime }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        match self.server.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{}", self.name),
            None => self.server.clone(),
        }
    }

    /// Runs `query` and returns its rows as text columns.
    pub fn rows(&self, query: &str) -> Vec<Vec<String>> {
        use sqlx::Row;
        self.runtime.block_on(async {
            let mut connection = PgConnection::connect(&self.url()).await.unwrap();
            // The tests' own queries, never outside input.
            sqlx::query(sqlx::AssertSqlSafe(query.to_owned()))
                .fetch_all(&mut connection)
                .await
                .unwrap()
                .iter()
                .map(|row| (0..row.len()).map(|column| row.try_get::<String, _>(column).unwrap_or_default()).collect())
                .collect()
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        self.runtime.block_on(async move {
            if let Ok(mut admin) = PgConnection::connect(&server).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .execute(&mut admin)
                    .await;
            }
        });
    }
}
