//! Who a client is, for per-address limits: ingest's rate limits and the
//! broadcaster's caps on connections count by the same key.
//!
//! Behind proxies, the client is found in `X-Forwarded-For`, but only the
//! hops that [`TrustedProxies`] vouch for are skipped: every entry left of
//! the first untrusted hop is the client's own to write, so it is never
//! believed.

use crate::config::{var, ConfigError};
use hyper::HeaderMap;
use std::net::IpAddr;

/// The network a client address stands for: an IPv6 client holds a whole
/// /64 and could rotate through it, so the /64 is one key. An IPv4 client
/// seen through a dual-stack socket (`::ffff:a.b.c.d`) is its IPv4 address.
pub fn network_of(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// One CIDR block, such as `10.0.0.0/8` or `fd00::/8` (a bare address is
/// its own /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        let (address, prefix) = match raw.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (raw, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("{raw:?} is not an IP address or CIDR block"))?;
        let network = network.to_canonical();
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("{raw:?} has a prefix length outside 0..={bits}"))?,
        };
        Ok(Self { network, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                masked(u128::from(u32::from(net)), 32, self.prefix)
                    == masked(u128::from(u32::from(a)), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                masked(u128::from(net), 128, self.prefix) == masked(u128::from(a), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn masked(value: u128, bits: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let shift = u32::from(bits - prefix);
    (value >> shift) << shift
}

/// The proxies whose `X-Forwarded-For` entries are believed
/// (`TRUSTED_PROXIES`, comma-separated CIDR blocks; empty: none, the peer
/// is the client).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// `TRUSTED_PROXIES`. The boolean switches it replaced
    /// (`RATE_LIMIT_TRUST_FORWARDED`, `WS_TRUST_FORWARDED`) believed any
    /// peer; set to true they are refused, so nobody keeps trusting what
    /// they no longer mean.
    pub fn from_env() -> Result<Self, ConfigError> {
        for old in ["RATE_LIMIT_TRUST_FORWARDED", "WS_TRUST_FORWARDED"] {
            if var(old, false)? {
                return Err(ConfigError {
                    name: old.into(),
                    value: "true".into(),
                    reason: "replaced by TRUSTED_PROXIES (the CIDR blocks of your proxies)".into(),
                });
            }
        }
        let raw: String = var("TRUSTED_PROXIES", String::new())?;
        Self::parse(&raw).map_err(|reason| ConfigError {
            name: "TRUSTED_PROXIES".into(),
            value: raw,
            reason,
        })
    }

    pub fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|cidr| cidr.contains(address))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Who is asking: the peer, unless it is a trusted proxy; then, walking
/// every `X-Forwarded-For` line's entries from the right (each proxy
/// appends its peer), the first address that is not a trusted proxy.
pub fn client_address(headers: &HeaderMap, peer: IpAddr, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.trusts(peer) {
        return peer;
    }
    let lines: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let mut client = peer;
    for hop in lines.iter().flat_map(|line| line.split(',')).rev() {
        if !trusted.trusts(client) {
            break;
        }
        match parse_hop(hop) {
            Some(address) => client = address.to_canonical(),
            None => break,
        }
    }
    client
}

/// An `X-Forwarded-For` entry: an address, possibly with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        assert_eq!(network_of(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(network_of(ip("192.0.2.7")), "192.0.2.7");
        assert_eq!(network_of(ip("::ffff:192.0.2.7")), "192.0.2.7");
    }

    #[test]
    fn cidr_blocks_contain_their_addresses() {
        let block: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(block.contains(ip("10.1.200.3")));
        assert!(block.contains(ip("::ffff:10.1.0.1")));
        assert!(!block.contains(ip("10.2.0.1")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe80::1")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
    }

    #[test]
    fn only_trusted_hops_are_skipped_rightmost_first() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 192.168.1.1").unwrap();
        let proxy = ip("10.0.0.1");
        let mut headers = HeaderMap::new();
        // A client that writes its own X-Forwarded-For line; the proxy
        // appends another line with the address it saw.
        headers.append("x-forwarded-for", "1.1.1.1".parse().unwrap());
        headers.append(
            "x-forwarded-for",
            "203.0.113.5, 192.168.1.1".parse().unwrap(),
        );
        assert_eq!(client_address(&headers, proxy, &trusted), ip("203.0.113.5"));
        // Not behind a trusted proxy: the header is the client's to write.
        assert_eq!(
            client_address(&headers, ip("198.51.100.2"), &trusted),
            ip("198.51.100.2")
        );
        assert_eq!(
            client_address(&headers, proxy, &TrustedProxies::default()),
            proxy
        );
        // Every hop a trusted proxy: the leftmost is as far as it goes.
        let mut inner = HeaderMap::new();
        inner.insert("x-forwarded-for", "10.9.9.9, 10.0.0.2".parse().unwrap());
        assert_eq!(client_address(&inner, proxy, &trusted), ip("10.9.9.9"));
        // Ports are tolerated; garbage stops the walk at the last proxy.
        let mut ports = HeaderMap::new();
        ports.insert("x-forwarded-for", "[2001:db8::7]:4711".parse().unwrap());
        assert_eq!(client_address(&ports, proxy, &trusted), ip("2001:db8::7"));
        let mut garbage = HeaderMap::new();
        garbage.insert("x-forwarded-for", "unknown".parse().unwrap());
        assert_eq!(client_address(&garbage, proxy, &trusted), proxy);
    }
}
