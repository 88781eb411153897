//! `recovery_event_ids`: the event ids the dedupe counted within its retention, per input topic,
//! as their 16-byte digests concatenated per pipeline time they were counted at.

use std::collections::BTreeMap;

use flowmart_schemas::{EventDigest, SeenEventId, Time};
use sqlx::{PgConnection, Row};

use crate::RecoverError;

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
        let mut digests_at = BTreeMap::<Time, Vec<u8>>::new();
        for (digest, time) in seen {
            digests_at.entry(*time).or_default().extend_from_slice(&digest.0);
        }
        let (times, digests): (Vec<i64>, Vec<Vec<u8>>) =
            digests_at.into_iter().map(|(time, digests)| (time as i64, digests)).unzip();
        sqlx::query(
            "INSERT INTO recovery_event_ids (topic, seen_at, digests)
             SELECT $1, seen_at, digests FROM UNNEST($2::int8[], $3::bytea[]) AS read(seen_at, digests)
             ON CONFLICT (topic, seen_at) DO NOTHING",
        )
        .bind(topic)
        .bind(times)
        .bind(digests)
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
) -> Result<Vec<SeenEventId>, RecoverError> {
    let rows = sqlx::query("SELECT seen_at, digests FROM recovery_event_ids WHERE topic = $1 AND seen_at > $2")
        .bind(topic)
        .bind(forgotten_before)
        .fetch_all(connection)
        .await?;
    let mut seen = Vec::new();
    for row in rows {
        let seen_at = row.get::<i64, _>("seen_at") as Time;
        let digests = row.get::<&[u8], _>("digests");
        let (whole, rest) = digests.as_chunks::<16>();
        if !rest.is_empty() {
            return Err(RecoverError::Corrupt(format!(
                "recovery_event_ids of {topic} at {seen_at} holds {} bytes, not 16-byte digests",
                digests.len()
            )));
        }
        seen.extend(whole.iter().map(|digest| (EventDigest(*digest), seen_at)));
    }
    Ok(seen)
}
