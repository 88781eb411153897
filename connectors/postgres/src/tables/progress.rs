//! `pipeline_progress` (the next offset per input partition the results cover) and
//! `pipeline_frontier` (the pipeline time they are complete up to, how many alert changes they
//! hold, and how many of those are known to be on the alerts topic).

use flowmart_runtime::{InputTopic, SourceProgress, Topics};
use flowmart_schemas::Time;
use sqlx::{PgConnection, Row};

use crate::RecoverError;

/// The stored frontier.
pub(crate) struct Frontier {
    /// The results cover every pipeline time before this.
    pub(crate) as_of: Time,
    /// How many alert changes the results hold.
    pub(crate) alert_changes: u64,
    /// How many of them are known to be on the alerts topic (`None`: written before this was
    /// kept).
    pub(crate) alerts_published: Option<u64>,
}

/// Moves the stored offsets and frontier forward (never back: a batch applied twice is harmless).
pub(crate) async fn write(
    connection: &mut PgConnection,
    progress: &SourceProgress,
    topics: &Topics,
    frontier: &Frontier,
) -> Result<(), sqlx::Error> {
    let progress = progress.iter().collect::<Vec<_>>();
    if !progress.is_empty() {
        sqlx::query(
            "INSERT INTO pipeline_progress (topic, partition, next_offset)
             SELECT * FROM UNNEST($1::text[], $2::int4[], $3::int8[])
             ON CONFLICT (topic, partition) DO UPDATE SET next_offset = GREATEST(pipeline_progress.next_offset, EXCLUDED.next_offset)",
        )
        .bind(progress.iter().map(|(topic, _, _)| topics.name(*topic).to_string()).collect::<Vec<_>>())
        .bind(progress.iter().map(|(_, partition, _)| *partition as i32).collect::<Vec<_>>())
        .bind(progress.iter().map(|(_, _, next)| *next as i64).collect::<Vec<_>>())
        .execute(&mut *connection)
        .await?;
    }
    sqlx::query(
        "INSERT INTO pipeline_frontier (singleton, as_of, alert_changes, alerts_published) VALUES (true, $1, $2, $3)
         ON CONFLICT (singleton) DO UPDATE SET
           as_of = GREATEST(pipeline_frontier.as_of, EXCLUDED.as_of),
           alert_changes = GREATEST(pipeline_frontier.alert_changes, EXCLUDED.alert_changes),
           alerts_published = GREATEST(pipeline_frontier.alerts_published, EXCLUDED.alerts_published)",
    )
    .bind(frontier.as_of as i64)
    .bind(frontier.alert_changes as i64)
    .bind(frontier.alerts_published.map(|published| published as i64))
    .execute(connection)
    .await?;
    Ok(())
}

/// The stored frontier; `None` for a database nothing was stored in.
pub(crate) async fn read_frontier(connection: &mut PgConnection) -> Result<Option<Frontier>, sqlx::Error> {
    let row = sqlx::query("SELECT as_of, alert_changes, alerts_published FROM pipeline_frontier")
        .fetch_optional(connection)
        .await?;
    Ok(row.map(|row| Frontier {
        as_of: row.get::<i64, _>("as_of") as Time,
        alert_changes: row.get::<i64, _>("alert_changes") as u64,
        alerts_published: row.get::<Option<i64>, _>("alerts_published").map(|published| published as u64),
    }))
}

/// The stored offsets.
pub(crate) async fn read(connection: &mut PgConnection, topics: &Topics) -> Result<SourceProgress, RecoverError> {
    let mut progress = SourceProgress::default();
    for row in sqlx::query("SELECT topic, partition, next_offset FROM pipeline_progress").fetch_all(connection).await? {
        let name: &str = row.get("topic");
        let topic = InputTopic::ALL.into_iter().find(|topic| topics.name(*topic) == name).ok_or_else(|| {
            RecoverError::Corrupt(format!("stored progress names topic {name:?}, which is not an input"))
        })?;
        let next = row.get::<i64, _>("next_offset");
        if next > 0 {
            progress.consumed(topic, row.get::<i32, _>("partition") as u32, next as u64 - 1);
        }
    }
    Ok(progress)
}
