//! Only one writer per database (`CONTRACT.md` §5): the sink holds a session advisory lock on its
//! connection; a second sink is refused, naming the holder, while the first lives, and a sink that
//! lost its connection while another took the lock commits nothing — nor ever again once the
//! other has committed.

use flowmart_postgres::{PostgresError, PostgresSink, WRITER_LOCK_KEY, WriterLockError};
use flowmart_runtime::{ChangeBatch, Sink, Topics};
use flowmart_schemas::{PositionKey, Retention, StockLevels};
use flowmart_testkit::{TestDatabase, stock_batch};

fn open(database: &TestDatabase) -> Result<PostgresSink, PostgresError> {
    PostgresSink::open(&database.url(), Topics::default(), Retention::default(), u64::MAX).map(|(sink, _)| sink)
}

/// The server process holding the writer lock of `database`, if any. (Advisory locks are per
/// database; other tests' databases have their own.)
fn lock_holder(database: &TestDatabase) -> Option<String> {
    let rows = database.rows(&format!(
        "SELECT pid::text FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND (classid::int8 << 32) | objid::int8 = {WRITER_LOCK_KEY}"
    ));
    rows.first().map(|row| row[0].clone())
}

fn application_name(database: &TestDatabase, pid: &str) -> String {
    database.rows(&format!("SELECT application_name FROM pg_stat_activity WHERE pid = {pid}"))[0][0].clone()
}

/// One position's stock levels, at pipeline times `[upper - 1, upper)`.
fn batch(upper: u64, on_hand: i64) -> ChangeBatch {
    let position = PositionKey::new("acme-wholesale".to_string(), "rotterdam".to_string(), "SKU-00001".to_string());
    stock_batch(upper - 1, upper, vec![(position, Some(StockLevels { on_hand, reserved: 0, on_order: 0, records: 1 }))])
}

fn stored_on_hand(database: &TestDatabase) -> Vec<Vec<String>> {
    database.rows("SELECT on_hand::text FROM stock_levels")
}

#[test]
fn a_second_sink_is_refused_naming_the_first_while_it_lives_and_takes_over_once_it_is_gone() {
    let database = TestDatabase::create();
    let first = open(&database).expect("the first writer opens");
    let refused = open(&database).err().expect("a second writer is refused while the first lives");
    let holder = lock_holder(&database).expect("the first writer holds the lock");
    let name = application_name(&database, &holder);
    assert!(
        name.starts_with("flowmart ") && name.ends_with(&format!(" pid {}", std::process::id())),
        "the writer names itself: {name:?}"
    );
    let message = refused.to_string();
    assert!(
        matches!(&refused, PostgresError::WriterLock(WriterLockError::Held(session)) if session.pid.to_string() == holder),
        "{refused:?}"
    );
    assert!(message.starts_with("the database is being written by another pipeline (pid "), "{message}");
    for part in [format!("pid {holder},"), format!("application_name {name:?}"), "host ".into(), "since ".into()] {
        assert!(message.contains(&part), "{part:?} in {message}");
    }

    drop(first);
    let mut second = open(&database).expect("the second writer opens once the first is gone");
    assert_ne!(lock_holder(&database), Some(holder), "held by the second writer's session now");
    second.apply(&batch(1_000, 7)).expect("the second writer commits");
    assert_eq!(stored_on_hand(&database), vec![vec!["7".to_string()]]);
}

#[test]
fn a_sink_whose_connection_was_killed_while_another_took_the_lock_commits_nothing() {
    let database = TestDatabase::create();
    let mut first = open(&database).expect("the first writer opens");
    let first_pid = lock_holder(&database).expect("held");
    // Its session ends (a network partition, an operator), and with it the lock.
    let terminated = database.rows(&format!("SELECT pg_terminate_backend({first_pid}, 10000)::text"));
    assert_eq!(terminated, vec![vec!["true".to_string()]]);
    let second = open(&database).expect("another writer takes the lock meanwhile");
    let second_pid = lock_holder(&database).expect("held by the second");

    // The first writer's next batch: its broken connection fails, and every retry after it
    // connects again, finds the lock taken and writes nothing.
    let mut last_error = None;
    for attempt in 0..3 {
        let error = first.apply(&batch(1_000 + attempt, 5)).expect_err("the first writer must not commit");
        last_error = Some(error);
    }
    let error = last_error.unwrap();
    assert!(
        error.message.starts_with("the database is being written by another pipeline")
            && error.message.contains(&format!("pid {second_pid},")),
        "{error:?}"
    );
    assert_eq!(error.class, flowmart_runtime::ErrorClass::Transient, "retried, in case the other writer goes");
    assert!(stored_on_hand(&database).is_empty(), "nothing written by the fenced writer");
    assert!(database.rows("SELECT as_of FROM pipeline_frontier").is_empty(), "no progress either");

    // The other goes without committing: the database is as the first left it, which goes on.
    drop(second);
    first.apply(&batch(3_000, 11)).expect("the first writer takes over once the other is gone");
    assert_eq!(stored_on_hand(&database), vec![vec!["11".to_string()]]);
}

#[test]
fn a_sink_whose_database_another_writer_committed_to_while_it_was_disconnected_stops() {
    let database = TestDatabase::create();
    let mut first = open(&database).expect("the first writer opens");
    first.apply(&batch(1_000, 5)).expect("commits");
    let first_pid = lock_holder(&database).expect("held");
    database.rows(&format!("SELECT pg_terminate_backend({first_pid}, 10000)::text"));
    let mut second = open(&database).expect("another writer takes the lock meanwhile");
    second.apply(&batch(2_000, 9)).expect("and commits newer results");
    drop(second);

    // The first writer's state is older than the database's now: it must not write it over.
    assert!(first.apply(&batch(3_000, 11)).is_err(), "the broken connection fails the batch");
    let error = first.apply(&batch(3_000, 11)).expect_err("the first writer must not commit");
    assert_eq!(error.class, flowmart_runtime::ErrorClass::Fatal, "{error:?}");
    assert!(
        error.message.starts_with(
            "another pipeline stored results up to pipeline time 2000 while this one was disconnected (it had \
             stored up to 1000)"
        ),
        "{error:?}"
    );
    assert_eq!(stored_on_hand(&database), vec![vec!["9".to_string()]], "the newer results stay");
    assert_eq!(database.rows("SELECT as_of::text FROM pipeline_frontier"), [["2000"]]);
    assert!(lock_holder(&database).is_none(), "the stopped writer holds no lock");
}

#[test]
fn a_sink_that_lost_its_connection_takes_the_lock_again_and_commits() {
    let database = TestDatabase::create();
    let mut sink = open(&database).expect("opens");
    let pid = lock_holder(&database).expect("held");
    database.rows(&format!("SELECT pg_terminate_backend({pid}, 10000)::text"));
    assert!(sink.apply(&batch(1_000, 3)).is_err(), "the broken connection fails the batch");
    sink.apply(&batch(1_000, 3)).expect("the retry connects again, takes the lock again and commits");
    assert!(lock_holder(&database).is_some_and(|holder| holder != pid), "held by the new session");
    assert_eq!(stored_on_hand(&database), vec![vec!["3".to_string()]]);
}
