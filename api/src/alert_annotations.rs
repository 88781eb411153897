//! Acknowledgements and snoozes of reorder alerts: kept in the serving index beside the alerts
//! (and gone with them), written through to `alert_annotations` with their audit record when the
//! API has a database, and loaded again when it restarts.

use flowmart_schemas::Id;
use flowmart_serving::{AlertAnnotation, ServingIndex};
use sqlx::PgPool;

use crate::audit::{AuditEntry, append_in};
use crate::{Store, StoreError};

/// The `alert_annotations` table.
#[derive(Clone)]
pub struct AnnotationTable(PgPool);

impl AnnotationTable {
    /// The table in `store`'s database.
    pub fn new(store: &Store) -> AnnotationTable {
        AnnotationTable(store.0.clone())
    }

    /// Deletes the rows of alerts that are gone — resolved more than
    /// `resolved_alert_retention_ms` ago, or unknown to the sink — when the sink's
    /// `reorder_alerts` table is in this database; then keeps every remaining row whose alert the
    /// index holds.
    pub async fn restore(&self, index: &ServingIndex, resolved_alert_retention_ms: u64) -> Result<(), StoreError> {
        let sink_here: bool =
            sqlx::query_scalar("SELECT to_regclass('reorder_alerts') IS NOT NULL").fetch_one(&self.0).await?;
        if sink_here {
            let retention = i64::try_from(resolved_alert_retention_ms).unwrap_or(i64::MAX);
            sqlx::query(
                "DELETE FROM alert_annotations a WHERE NOT EXISTS
                   (SELECT 1 FROM reorder_alerts r WHERE r.tenant_id = a.tenant_id AND r.alert_id = a.alert_id
                      AND (r.resolved_at IS NULL
                           OR r.resolved_at >= (extract(epoch FROM now()) * 1000)::int8 - $1))",
            )
            .bind(retention)
            .execute(&self.0)
            .await?;
        }
        let rows = sqlx::query_as::<_, (String, String, Option<i64>, Option<String>, Option<String>, Option<i64>)>(
            "SELECT tenant_id, alert_id, acknowledged_at, acknowledged_by, note, snoozed_until FROM alert_annotations",
        )
        .fetch_all(&self.0)
        .await?;
        index.restore_annotations(rows.into_iter().map(
            |(tenant_id, alert_id, acknowledged_at, acknowledged_by, note, snoozed_until)| {
                let annotation = AlertAnnotation { acknowledged_at, acknowledged_by, note, snoozed_until };
                (Id::from(tenant_id), Id::from(alert_id), annotation)
            },
        ));
        Ok(())
    }

    /// Stores the alert's annotation, and `audit` in the same transaction.
    pub(crate) async fn store(
        &self,
        tenant_id: &str,
        alert_id: &str,
        annotation: &AlertAnnotation,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut transaction = self.0.begin().await?;
        sqlx::query(
            "INSERT INTO alert_annotations (tenant_id, alert_id, acknowledged_at, acknowledged_by, note, snoozed_until)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (tenant_id, alert_id) DO UPDATE SET acknowledged_at = excluded.acknowledged_at,
               acknowledged_by = excluded.acknowledged_by, note = excluded.note, snoozed_until = excluded.snoozed_until",
        )
        .bind(tenant_id)
        .bind(alert_id)
        .bind(annotation.acknowledged_at)
        .bind(&annotation.acknowledged_by)
        .bind(&annotation.note)
        .bind(annotation.snoozed_until)
        .execute(&mut *transaction)
        .await?;
        append_in(&mut transaction, audit).await?;
        transaction.commit().await?;
        Ok(())
    }
}
