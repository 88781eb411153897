//! `[webhooks]`: where webhook deliveries may go.

use std::path::PathBuf;

use flowmart_api::{CaFileError, OutboundTls};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::ca_file_problem;

/// `[webhooks]`: where deliveries may go (README "Webhooks").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookSettings {
    /// A PEM file of CA certificates trusted for https receivers besides the system's. Default
    /// none.
    pub ca_file: Option<PathBuf>,
    /// Networks (CIDR) whose private, loopback or link-local addresses receivers may have, e.g.
    /// `["10.20.0.0/16"]` for receivers inside a company network. Default none: only public
    /// addresses (cloud metadata addresses never).
    pub allowed_networks: Vec<IpNet>,
}

impl WebhookSettings {
    /// The API's view (the CA file is checked by [`load`]).
    pub fn api(&self) -> Result<flowmart_api::webhooks::WebhookSettings, CaFileError> {
        Ok(flowmart_api::webhooks::WebhookSettings {
            tls: OutboundTls::new(self.ca_file.as_deref())?,
            allowed_networks: self.allowed_networks.clone(),
        })
    }

    /// Its rules, as (setting, problem).
    pub(super) fn problems(&self) -> Vec<(String, String)> {
        ca_file_problem("webhooks.ca_file", self.ca_file.as_deref()).into_iter().collect()
    }
}
