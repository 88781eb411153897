//! The audit chain in a real Postgres: appends from several connections at once — as from the
//! processes of a cluster sharing the database — make one gapless chain; a record appended in a
//! transaction that rolls back leaves no trace.

use flowmart_api::Store;
use flowmart_api::audit::{Action, Actor, AuditEntry, AuditLog, ChainCheck, append_in};
use flowmart_testkit::TestDatabase;
use serde_json::json;

fn entry(process: usize, n: usize) -> AuditEntry {
    AuditEntry::new(Actor::Admin, Action::AdminRead, Some("acme"), json!({ "process": process, "n": n }))
}

#[test]
fn appends_racing_from_separate_stores_make_one_gapless_chain() {
    let database = TestDatabase::create();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let records = runtime.block_on(async {
        // Three stores (three pools), as three processes of a cluster would have.
        let mut logs = Vec::new();
        for _ in 0..3 {
            logs.push(AuditLog::new(&Store::open(&database.url()).await.unwrap()));
        }
        let appends = logs.iter().enumerate().flat_map(|(process, log)| {
            (0..15).map(move |n| {
                let log = log.clone();
                tokio::spawn(async move { log.append(&entry(process, n)).await.unwrap() })
            })
        });
        let appends = appends.collect::<Vec<_>>();
        for append in appends {
            append.await.unwrap();
        }
        logs[0].page(&Default::default(), 0, 1_000).await.unwrap()
    });
    assert_eq!(records.len(), 45);
    let mut check = ChainCheck::new();
    for record in &records {
        check.check(record).unwrap_or_else(|broken| panic!("{broken}"));
    }
}

#[test]
fn a_record_appended_in_a_rolled_back_transaction_is_not_kept() {
    let database = TestDatabase::create();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = Store::open(&database.url()).await.unwrap();
        let log = AuditLog::new(&store);
        log.append(&entry(0, 0)).await.unwrap();
        {
            use sqlx::Connection;
            let mut connection = sqlx::PgConnection::connect(&database.url()).await.unwrap();
            let mut transaction = connection.begin().await.unwrap();
            let abandoned = append_in(&mut transaction, &entry(0, 1)).await.unwrap();
            assert_eq!(abandoned.seq, 2);
            transaction.rollback().await.unwrap();
        }
        let next = log.append(&entry(0, 2)).await.unwrap();
        assert_eq!(next.seq, 2, "the chain goes on from the last record kept");
        let records = log.page(&Default::default(), 0, 10).await.unwrap();
        let mut check = ChainCheck::new();
        assert!(records.iter().all(|record| check.check(record).is_ok()));
        assert_eq!(records.iter().map(|record| record.details["n"].as_i64()).collect::<Vec<_>>(), [Some(0), Some(2)]);
    });
}
