//! Addresses a webhook delivery may never reach unless
//! `WEBHOOK_ALLOW_PRIVATE=true`: whoever registers an endpoint must not be
//! able to make DeliverTrack call into its own network (a database's admin
//! port, a cloud's metadata service) and read the answer in the log.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` is refused, or `None` when it is a public address.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        Some("a cloud metadata address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if ip.is_private() {
        Some("a private address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT) address")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("a multicast, broadcast or reserved address")
    } else if (a, b, c) == (192, 0, 0) || (a == 198 && (b == 18 || b == 19)) {
        Some("a protocol-assignment or benchmarking address")
    } else {
        None
    }
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // An IPv4 address in IPv6 clothing is judged as itself.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refusal_v4(v4);
    }
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) {
        Some("a cloud metadata address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 {
        Some("a private address")
    } else if ip.is_multicast() {
        Some("a multicast, broadcast or reserved address")
    } else if first == 0x0064 && ip.segments()[1] == 0xff9b {
        // NAT64: the IPv4 address it embeds decides.
        let [.., hi, lo] = ip.segments();
        refusal_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)))
    } else if first == 0x2002 {
        // 6to4: likewise.
        let [_, hi, lo, ..] = ip.segments();
        refusal_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::refusal;

    fn refused(ip: &str) -> bool {
        refusal(ip.parse().expect("an address")).is_some()
    }

    #[test]
    fn internal_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "127.3.2.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.7",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "fe80::1",
            "fd00::1",
            "fd00:ec2::254",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(!refused(ip), "{ip} should pass");
        }
        assert_eq!(
            refusal("169.254.169.254".parse().expect("ip")),
            Some("a cloud metadata address")
        );
    }
}
