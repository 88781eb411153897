//! What kind of address an IP address is, for the SSRF guard: only `Public` addresses are
//! reached by webhooks unless an operator allow-lists a network (`receiver_guard.rs`).
//!
//! An IPv6 address that carries an IPv4 one (IPv4-mapped `::ffff:0:0/96`, NAT64
//! `64:ff9b::/96`, 6to4 `2002::/16`) is classified as the IPv4 address it reaches.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The kinds of address, by the IANA special-purpose registries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    /// Routable on the internet.
    Public,
    /// `0.0.0.0/8`, `::`: "this host" (Linux connects it to the local machine).
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10/8`, `172.16/12`, `192.168/16`, and carrier-grade NAT `100.64/10`.
    Private,
    /// `169.254/16`, `fe80::/10` (and the deprecated site-local `fec0::/10`).
    LinkLocal,
    /// `fc00::/7`.
    UniqueLocal,
    /// `224/4`, `255.255.255.255`, `ff00::/8`.
    Multicast,
    /// A cloud's instance metadata or platform endpoint (AWS, GCP, Azure, Oracle, Alibaba):
    /// never reached, whatever the allow-list says.
    Metadata,
    /// Documentation, benchmarking, protocol-assignment and reserved ranges, and IPv6
    /// transition forms that hide where they lead (Teredo, IPv4-compatible).
    Reserved,
}

impl AddressClass {
    /// Its name in messages and logs.
    pub fn name(self) -> &'static str {
        match self {
            AddressClass::Public => "public",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::LinkLocal => "link-local",
            AddressClass::UniqueLocal => "unique-local",
            AddressClass::Multicast => "multicast",
            AddressClass::Metadata => "cloud metadata",
            AddressClass::Reserved => "reserved",
        }
    }
}

/// Cloud metadata endpoints, some outside every special-purpose range (Azure's).
const METADATA_V4: [Ipv4Addr; 5] = [
    Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure, Oracle, DigitalOcean, OpenStack
    Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task metadata
    Ipv4Addr::new(168, 63, 129, 16),   // Azure WireServer
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
    Ipv4Addr::new(192, 0, 0, 192),     // Oracle Cloud
];
/// AWS's IPv6 instance metadata endpoint.
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);

/// The class of `address`.
pub fn classify(address: IpAddr) -> AddressClass {
    match address {
        IpAddr::V4(address) => classify_v4(address),
        IpAddr::V6(address) => classify_v6(address),
    }
}

fn classify_v4(address: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = address.octets();
    if METADATA_V4.contains(&address) {
        AddressClass::Metadata
    } else if a == 0 {
        AddressClass::Unspecified
    } else if a == 127 {
        AddressClass::Loopback
    } else if a == 10 || (a == 172 && (16..32).contains(&b)) || (a == 192 && b == 168) || (a == 100 && b & 0xc0 == 64) {
        AddressClass::Private
    } else if a == 169 && b == 254 {
        AddressClass::LinkLocal
    } else if a >= 224 {
        // 224/4 multicast, 240/4 reserved, 255.255.255.255 broadcast.
        if a < 240 || address == Ipv4Addr::BROADCAST { AddressClass::Multicast } else { AddressClass::Reserved }
    } else if matches!(
        (a, b, c),
        // Protocol assignments, three documentation ranges, 6to4 relay anycast, benchmarking.
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) | (192, 88, 99) | (198, 18..=19, _)
    ) {
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

fn classify_v6(address: Ipv6Addr) -> AddressClass {
    let segments = address.segments();
    let embedded_v4 = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    if address == METADATA_V6 {
        AddressClass::Metadata
    } else if address.is_unspecified() {
        AddressClass::Unspecified
    } else if address.is_loopback() {
        AddressClass::Loopback
    } else if let Some(v4) = address.to_ipv4_mapped() {
        classify_v4(v4)
    } else if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        classify_v4(embedded_v4(segments[6], segments[7]))
    } else if segments[0] == 0x2002 {
        classify_v4(embedded_v4(segments[1], segments[2]))
    } else if segments[0] & 0xfe00 == 0xfc00 {
        AddressClass::UniqueLocal
    } else if segments[0] & 0xffc0 == 0xfe80 || segments[0] & 0xffc0 == 0xfec0 {
        AddressClass::LinkLocal
    } else if segments[0] & 0xff00 == 0xff00 {
        AddressClass::Multicast
    } else if segments[..6] == [0; 6]
        || segments[..2] == [0x2001, 0]
        || segments[..2] == [0x2001, 0xdb8]
        || segments[..4] == [0x100, 0, 0, 0]
        || segments[..2] == [0x64, 0xff9b]
    {
        // IPv4-compatible (deprecated), Teredo, documentation, discard, local-use NAT64.
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

#[cfg(test)]
mod tests {
    use super::AddressClass::*;
    use super::*;

    fn class(address: &str) -> AddressClass {
        classify(address.parse().unwrap())
    }

    #[test]
    fn loopback_private_link_local_and_metadata_addresses_are_not_public() {
        for (address, expected) in [
            ("127.0.0.1", Loopback),
            ("127.255.0.9", Loopback),
            ("::1", Loopback),
            ("10.0.0.1", Private),
            ("10.255.255.255", Private),
            ("172.16.0.1", Private),
            ("172.31.255.254", Private),
            ("192.168.1.1", Private),
            ("100.64.0.1", Private),
            ("169.254.0.1", LinkLocal),
            ("fe80::1", LinkLocal),
            ("fec0::1", LinkLocal),
            ("fc00::1", UniqueLocal),
            ("fd12:3456::1", UniqueLocal),
            ("169.254.169.254", Metadata),
            ("169.254.170.2", Metadata),
            ("168.63.129.16", Metadata),
            ("100.100.100.200", Metadata),
            ("192.0.0.192", Metadata),
            ("fd00:ec2::254", Metadata),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("255.255.255.255", Multicast),
            ("ff02::1", Multicast),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("::", Unspecified),
            ("240.0.0.1", Reserved),
            ("192.0.2.10", Reserved),
            ("198.51.100.1", Reserved),
            ("203.0.113.7", Reserved),
            ("198.18.0.1", Reserved),
            ("2001:db8::1", Reserved),
            ("2001:0:4136:e378::1", Reserved),
            ("::7f00:1", Reserved),
        ] {
            assert_eq!(class(address), expected, "{address}");
        }
    }

    #[test]
    fn ipv6_forms_of_an_ipv4_address_are_classified_as_that_address() {
        for (address, expected) in [
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.1.2.3", Private),
            ("::ffff:169.254.169.254", Metadata),
            ("64:ff9b::a9fe:a9fe", Metadata),
            ("64:ff9b::c0a8:101", Private),
            ("2002:7f00:1::1", Loopback),
            ("2002:c0a8:101::1", Private),
            ("::ffff:93.184.215.14", Public),
        ] {
            assert_eq!(class(address), expected, "{address}");
        }
    }

    #[test]
    fn addresses_around_the_private_ranges_are_public() {
        for address in [
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "1.1.1.1",
        ] {
            assert_eq!(class(address), Public, "{address}");
        }
        for address in ["2606:4700:4700::1111", "2a00:1450:4001::200e"] {
            assert_eq!(class(address), Public, "{address}");
        }
    }
}
