//! Only one writer per database (`CONTRACT.md` §5). The sink's connection holds a session advisory
//! lock, [`WRITER_LOCK_KEY`], from before it reads or writes anything: a second pipeline pointed
//! at the same database is refused, naming the session that holds it, and retries until the
//! first goes. The lock lives and dies with the connection, so a sink that lost its connection
//! takes the lock again on the new one before it commits anything.

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgConnection, Row};

/// The writer's advisory lock: `pg_try_advisory_lock(5074553438329729652)`, "FlowMart" in ASCII.
/// `pg_locks` shows it as `locktype = 'advisory'`, `classid = 1181511543`,
/// `objid = 1298231924`, `objsubid = 1`, in the pipeline's database.
pub const WRITER_LOCK_KEY: i64 = i64::from_be_bytes(*b"FlowMart");

/// A database session, as `pg_stat_activity` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The server process serving it (`pg_terminate_backend` takes it).
    pub pid: i32,
    /// Its client's address (`local` for a Unix socket, `unknown` when not visible to this role).
    pub host: String,
    /// When it connected (UTC).
    pub since: String,
    /// Its `application_name`: a pipeline's is `flowmart <hostname> pid <process id>`.
    pub application_name: String,
}

impl std::fmt::Display for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {}, host {}, since {}, application_name {:?}",
            self.pid, self.host, self.since, self.application_name
        )
    }
}

/// Why the writer lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum WriterLockError {
    /// Another session holds it.
    #[error("the database is being written by another pipeline ({0})")]
    Held(Session),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Connects to `url` as the writer: named `flowmart <hostname> pid <process id>` in
/// `pg_stat_activity` (unless the URL names an `application_name` itself), so that a refused
/// writer can say who holds the lock.
pub(crate) async fn connect(url: &str) -> Result<PgConnection, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    let options = match options.get_application_name() {
        Some(_) => options,
        None => options.application_name(&application_name()),
    };
    options.connect().await
}

/// `flowmart <hostname> pid <process id>`.
fn application_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|host| host.trim().to_string())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "unknown-host".into());
    format!("flowmart {host} pid {}", std::process::id())
}

/// How often, and how long apart, the lock is tried again while this sink's own earlier session
/// still holds it (ending, or ended on request).
const OWN_SESSION_ATTEMPTS: usize = 50;
const OWN_SESSION_WAIT: std::time::Duration = std::time::Duration::from_millis(40);

/// Takes the writer lock for `connection`'s session and returns that session. `previous` is the
/// session this sink held it with before, if any: when that one still holds it (its connection
/// broke on this side only, or the server has not noticed yet), it is ended first — it belongs to
/// this sink, which will never use it again.
pub(crate) async fn take(
    connection: &mut PgConnection,
    previous: Option<&Session>,
) -> Result<Session, WriterLockError> {
    let mut attempts = 0;
    loop {
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(WRITER_LOCK_KEY)
            .fetch_one(&mut *connection)
            .await?;
        if taken {
            return Ok(own_session(connection).await?);
        }
        attempts += 1;
        let holder = holder(connection).await?;
        match holder {
            Some(holder) if previous != Some(&holder) || attempts >= OWN_SESSION_ATTEMPTS => {
                return Err(WriterLockError::Held(holder));
            }
            Some(own) => {
                sqlx::query("SELECT pg_terminate_backend($1)").bind(own.pid).execute(&mut *connection).await?;
            }
            // Released between the two queries, again and again.
            None if attempts >= OWN_SESSION_ATTEMPTS => {
                return Err(WriterLockError::Database(sqlx::Error::Protocol(
                    "the writer lock kept changing hands while this writer tried to take it".into(),
                )));
            }
            None => {}
        }
        tokio::time::sleep(OWN_SESSION_WAIT).await;
    }
}

/// Gives the lock up at once, for the next writer not to wait until the server notices the
/// connection closed.
pub(crate) async fn release(connection: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_unlock($1)").bind(WRITER_LOCK_KEY).execute(connection).await?;
    Ok(())
}

/// The columns of [`Session`], from `pg_stat_activity a`.
macro_rules! session_columns {
    () => {
        "SELECT a.pid,
                coalesce(host(a.client_addr), CASE WHEN a.client_port = -1 THEN 'local' ELSE 'unknown' END) AS host,
                coalesce(to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'unknown') AS since,
                coalesce(a.application_name, 'unknown') AS application_name"
    };
}

/// The session holding the writer lock of this database, if any.
async fn holder(connection: &mut PgConnection) -> Result<Option<Session>, sqlx::Error> {
    let row = sqlx::query(concat!(
        session_columns!(),
        " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND (l.classid::int8 << 32) | l.objid::int8 = $1"
    ))
    .bind(WRITER_LOCK_KEY)
    .fetch_optional(connection)
    .await?;
    Ok(row.map(|row| session(&row)))
}

async fn own_session(connection: &mut PgConnection) -> Result<Session, sqlx::Error> {
    let row = sqlx::query(concat!(session_columns!(), " FROM pg_stat_activity a WHERE a.pid = pg_backend_pid()"))
        .fetch_one(connection)
        .await?;
    Ok(session(&row))
}

fn session(row: &sqlx::postgres::PgRow) -> Session {
    Session {
        pid: row.get("pid"),
        host: row.get("host"),
        since: row.get("since"),
        application_name: row.get("application_name"),
    }
}
