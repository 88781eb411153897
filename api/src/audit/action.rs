//! What an audit record says happened: the privileged actions the regulator asks to see.

/// An audited action, stored as its name (the `action` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// An admin issued a tenant an API key (`details`: `key_id`).
    ApiKeyIssued,
    /// An admin revoked a tenant's API key (`details`: `key_id`).
    ApiKeyRevoked,
    /// A tenant's key registered a webhook (`details`: `webhook_id`, `url`).
    WebhookRegistered,
    /// A tenant's key removed a webhook (`details`: `webhook_id`).
    WebhookRemoved,
    /// A tenant's key acknowledged a reorder alert (`details`: `alert_id`, `note`).
    AlertAcknowledged,
    /// A tenant's key snoozed a reorder alert (`details`: `alert_id`, `until`, `note`).
    AlertSnoozed,
    /// The admin read one tenant's data (`details`: `route`, and the query when there is one).
    AdminRead,
    /// A process started with this configuration, secrets left out (`details`: the settings).
    ConfigurationAtStart,
}

impl Action {
    /// Its name in the log.
    pub fn name(self) -> &'static str {
        match self {
            Action::ApiKeyIssued => "api_key.issued",
            Action::ApiKeyRevoked => "api_key.revoked",
            Action::WebhookRegistered => "webhook.registered",
            Action::WebhookRemoved => "webhook.removed",
            Action::AlertAcknowledged => "alert.acknowledged",
            Action::AlertSnoozed => "alert.snoozed",
            Action::AdminRead => "admin.read",
            Action::ConfigurationAtStart => "configuration.at_start",
        }
    }
}
