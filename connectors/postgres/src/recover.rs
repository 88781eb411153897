//! Reading back what the sink stored: the operator state, the offsets it covers, the alerts the
//! serving index starts with, and the alert changes that may not have reached the alerts topic.

use flowmart_runtime::{InputTopic, Resume, Topics};
use flowmart_schemas::{AlertView, Id, Outputs, ReorderAlert, Retention, Time};
use sqlx::PgConnection;

use crate::tables::{
    alert_outbox, event_ids, orders, policies, progress, reorder_alerts, settlement_totals, stock_levels,
};

/// Everything a restarted pipeline takes from the database.
#[derive(Clone, Debug, Default)]
pub struct Recovered {
    /// Where the pipeline resumes: its operator state, offsets, and alert numbering.
    pub resume: Resume,
    /// Every open alert and those resolved within the retention, with their tenant: with the
    /// stock and settlements of `resume.state`, what the serving index starts with.
    pub alerts: Vec<(Id, AlertView)>,
    /// The alert changes not known to be on the alerts topic (those above the stored "published
    /// up to" mark), numbered: the alert sink publishes those not yet there before anything else.
    pub unconfirmed_alerts: Vec<(u64, ReorderAlert)>,
    /// The last alert changes stored (up to 65,536), numbered, in order: what the serving index
    /// starts with, for streams and webhooks to resume from.
    pub recent_alerts: Vec<(u64, ReorderAlert)>,
}

/// Why stored state could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// The database failed.
    #[error("cannot read the stored state: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value does not parse.
    #[error("stored state is corrupt: {0}")]
    Corrupt(String),
}

/// Reads the stored state. `retention` is the pipeline's (orders and ids it would have
/// forgotten are left out); resolved alerts older than `resolved_alert_retention_ms` are left out,
/// as the index would have expired them.
pub(crate) async fn recover(
    connection: &mut PgConnection,
    topics: &Topics,
    retention: Retention,
    resolved_alert_retention_ms: Time,
) -> Result<Recovered, RecoverError> {
    let Some(frontier) = progress::read_frontier(connection).await? else {
        return Ok(Recovered::default());
    };
    let (as_of, alerts_before) = (frontier.as_of, frontier.alert_changes);
    let forgotten_before = |retention: Option<Time>| retention.map_or(i64::MIN, |ms| as_of.saturating_sub(ms) as i64);
    let alerts = reorder_alerts::read(connection, as_of.saturating_sub(resolved_alert_retention_ms)).await?;
    let since_ids = forgotten_before(retention.event_ids_ms);
    let state = Outputs {
        stock: stock_levels::read(connection).await?,
        settlements: settlement_totals::read(connection).await?,
        alerts: reorder_alerts::open_alerts(&alerts),
        orders: orders::read(connection, forgotten_before(retention.orders_ms)).await?,
        policies: policies::read(connection).await?,
        inventory_ids: event_ids::read(connection, topics.name(InputTopic::Inventory), since_ids).await?,
        payment_ids: event_ids::read(connection, topics.name(InputTopic::Payments), since_ids).await?,
        // Lineage is a log of what records did, not state.
        stock_history: Vec::new(),
        settlement_history: Vec::new(),
        // Refused records are dead-lettered, not stored.
        refused: Vec::new(),
    };
    let progress = progress::read(connection, topics).await?;
    let outbox = alert_outbox::read(connection, frontier.alerts_published).await?;
    Ok(Recovered {
        resume: Resume { as_of, state, progress, alerts_before },
        alerts,
        unconfirmed_alerts: outbox.unconfirmed,
        recent_alerts: outbox.recent,
    })
}
