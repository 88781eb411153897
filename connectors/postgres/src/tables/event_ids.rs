//! `recovery_event_ids`: the event ids the dedupe counted within its retention, per input topic,
//! grouped by the pipeline time they were counted at.

use flowmart_schemas::{Id, SeenEventId, Time};
use sqlx::{PgConnection, Row};

/// Stores the ids `topic`'s dedupe counted in the batch, and forgets those it no longer
/// remembers at `upper`.
pub(crate) async fn write(
    connection: &mut PgConnection,
    topic: &str,
    seen: &[SeenEventId],
    upper: Time,
    retention_ms: Option<Time>,
) -> Result<(), sqlx::Error> {
    if !seen.is_empty() {
        sqlx::query(
            "INSERT INTO recovery_event_ids (topic, seen_at, event_ids)
             SELECT $1, seen_at, array_agg(event_id)
             FROM UNNEST($2::int8[], $3::text[]) AS read(seen_at, event_id)
             GROUP BY seen_at
             ON CONFLICT (topic, seen_at) DO NOTHING",
        )
        .bind(topic)
        .bind(seen.iter().map(|(_, time)| *time as i64).collect::<Vec<_>>())
        .bind(seen.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>())
        .execute(&mut *connection)
        .await?;
    }
    if let Some(retention) = retention_ms {
        sqlx::query("DELETE FROM recovery_event_ids WHERE topic = $1 AND seen_at <= $2")
            .bind(topic)
            .bind(upper.saturating_sub(retention) as i64)
            .execute(connection)
            .await?;
    }
    Ok(())
}

/// The ids of `topic` counted after `forgotten_before`.
pub(crate) async fn read(
    connection: &mut PgConnection,
    topic: &str,
    forgotten_before: i64,
) -> Result<Vec<SeenEventId>, sqlx::Error> {
    let rows = sqlx::query("SELECT seen_at, event_ids FROM recovery_event_ids WHERE topic = $1 AND seen_at > $2")
        .bind(topic)
        .bind(forgotten_before)
        .fetch_all(connection)
        .await?;
    let mut seen = Vec::new();
    for row in rows {
        let seen_at = row.get::<i64, _>("seen_at") as Time;
        seen.extend(row.get::<Vec<String>, _>("event_ids").into_iter().map(|event_id| (Id::from(event_id), seen_at)));
    }
    Ok(seen)
}
