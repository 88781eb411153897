//! The SSRF guard: the addresses a webhook may be delivered to.
//!
//! A receiver's address must be public ([`classify`]) or inside a network of the operator's
//! allow-list (receivers inside a company network); cloud metadata and unspecified addresses
//! are refused whatever the list says. The guard is checked when a webhook is registered and
//! again at every delivery, where it is the delivery client's DNS resolver: the addresses it
//! returns — resolved and checked in one step — are the only ones the request can connect to,
//! so a name re-pointed between the check and the connection (DNS rebinding) gains nothing.
//! A name with some refused addresses is delivered to the others; with none left, it is refused.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::address_class::{AddressClass, classify};

/// Which addresses deliveries may reach.
#[derive(Clone, Debug)]
pub(super) struct ReceiverGuard {
    allowed_networks: Arc<[IpNet]>,
}

/// A receiver host that resolves to no address deliveries may reach. The message does not say
/// whether the name did not resolve or resolved to refused addresses: a tenant learns nothing
/// about the internal network from it.
#[derive(Debug, thiserror::Error)]
#[error("{host} does not resolve to an address webhooks may reach (a public one, or one on the allow-list)")]
pub struct AddressRefused {
    host: String,
}

impl ReceiverGuard {
    /// Public addresses, and those in `allowed_networks`.
    pub(super) fn new(allowed_networks: Vec<IpNet>) -> ReceiverGuard {
        ReceiverGuard { allowed_networks: allowed_networks.into() }
    }

    /// Whether a delivery may connect to `address`.
    pub(super) fn allows(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        match classify(address) {
            AddressClass::Public => true,
            AddressClass::Metadata | AddressClass::Unspecified => false,
            _ => self.allowed_networks.iter().any(|network| network.contains(&address)),
        }
    }

    /// Whether `url`'s host, an address literal, may be reached; `Ok` for a name (checked as it
    /// is resolved: see [`ReceiverGuard::resolve_allowed`]).
    pub(super) fn check_literal(&self, url: &Url) -> Result<(), AddressRefused> {
        match literal(url) {
            Err(()) => Err(AddressRefused { host: String::new() }),
            Ok(Some(address)) if !self.allows(address) => {
                tracing::info!(%address, class = classify(address).name(), "webhook address refused");
                Err(AddressRefused { host: address.to_string() })
            }
            Ok(_) => Ok(()),
        }
    }

    /// Whether `url`'s host may be reached: an address literal checked, a name resolved (at
    /// least one of its addresses allowed).
    pub(super) async fn check(&self, url: &Url) -> Result<(), AddressRefused> {
        self.check_literal(url)?;
        match (literal(url), url.host_str()) {
            (Ok(None), Some(name)) => self.resolve_allowed(name).await.map(drop),
            _ => Ok(()),
        }
    }

    /// `name`'s addresses that deliveries may reach; `Err` when there are none.
    pub(super) async fn resolve_allowed(&self, name: &str) -> Result<Vec<IpAddr>, AddressRefused> {
        let refused = || AddressRefused { host: name.to_string() };
        let resolved = tokio::net::lookup_host((name, 0)).await.map_err(|error| {
            tracing::info!(name, %error, "webhook host does not resolve");
            refused()
        })?;
        let (allowed, refused_addresses): (Vec<IpAddr>, Vec<IpAddr>) =
            resolved.map(|address| address.ip()).partition(|address| self.allows(*address));
        if !refused_addresses.is_empty() {
            let classes = refused_addresses.iter().map(|address| classify(*address).name()).collect::<Vec<_>>();
            tracing::info!(name, addresses = ?refused_addresses, ?classes, "webhook addresses refused");
        }
        if allowed.is_empty() { Err(refused()) } else { Ok(allowed) }
    }
}

/// `url`'s host as an address if it is one (`Ok(None)` for a name; `Err` without a host). The URL
/// parser has already turned every IPv4 spelling (`127.1`, `0x7f.0.0.1`, `2130706433`) into
/// dotted decimal.
fn literal(url: &Url) -> Result<Option<IpAddr>, ()> {
    let host = url.host_str().ok_or(())?;
    Ok(host.trim_start_matches('[').trim_end_matches(']').parse().ok())
}

impl Resolve for ReceiverGuard {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.clone();
        Box::pin(async move {
            let allowed = guard.resolve_allowed(name.as_str()).await?;
            // Port 0: the connector puts the URL's port in.
            let addresses: Addrs = Box::new(allowed.into_iter().map(|address| SocketAddr::new(address, 0)));
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(networks: &[&str]) -> ReceiverGuard {
        ReceiverGuard::new(networks.iter().map(|network| network.parse().unwrap()).collect())
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn without_an_allow_list_only_public_addresses_are_allowed() {
        let guard = guard(&[]);
        for address in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "::1",
            "fc00::1",
            "224.0.0.1",
            "::",
        ] {
            assert!(!guard.allows(address.parse().unwrap()), "{address}");
        }
        assert!(guard.allows("93.184.215.14".parse().unwrap()));
        assert!(guard.allows("2606:4700:4700::1111".parse().unwrap()));
    }

    #[test]
    fn the_allow_list_opens_its_networks_but_never_metadata_or_unspecified_addresses() {
        let guard = guard(&["10.20.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/0"]);
        assert!(guard.allows("10.20.3.4".parse().unwrap()));
        assert!(guard.allows("127.0.0.1".parse().unwrap()));
        assert!(guard.allows("::ffff:127.0.0.1".parse().unwrap()), "an IPv4-mapped form of an allowed address");
        assert!(!guard.allows("::1".parse().unwrap()), "not in an IPv4 network");
        assert!(!guard.allows("169.254.169.254".parse().unwrap()));
        assert!(!guard.allows("fd00:ec2::254".parse().unwrap()));
        assert!(!guard.allows("0.0.0.0".parse().unwrap()));
    }

    #[test]
    fn address_literals_in_urls_are_checked_in_every_spelling() {
        let guard = guard(&[]);
        for text in [
            "http://127.0.0.1:5432/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://[::1]/",
            "http://[::ffff:7f00:1]/",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fc00::1]/",
            "http://0.0.0.0:8080/",
        ] {
            assert!(guard.check_literal(&url(text)).is_err(), "{text}");
        }
        assert!(guard.check_literal(&url("https://93.184.215.14/hook")).is_ok());
        assert!(guard.check_literal(&url("https://hooks.example.com/")).is_ok(), "names are checked as resolved");
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_allow_listed() {
        let refused = guard(&[]).check(&url("http://localhost:9/hook")).await.unwrap_err();
        assert!(!refused.to_string().contains("127.0.0.1"), "says nothing of where it resolves: {refused}");
        let allowed = guard(&["127.0.0.0/8", "::1/128"]).resolve_allowed("localhost").await.unwrap();
        assert!(allowed.iter().all(|address| address.is_loopback()), "{allowed:?}");
        // Only allowed addresses are handed to the connector (`::1` dropped where localhost has it).
        let ipv4_only = guard(&["127.0.0.0/8"]).resolve_allowed("localhost").await.unwrap();
        assert!(!ipv4_only.is_empty() && ipv4_only.iter().all(|address| address.is_ipv4()), "{ipv4_only:?}");
    }
}
