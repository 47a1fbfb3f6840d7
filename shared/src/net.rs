//! Who a client is, for per-address limits: ingest's rate limits and the
//! broadcaster's cap on anonymous connections count by the same key.

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

/// Who is asking: the peer, or behind a trusted proxy the address it
/// appended to `X-Forwarded-For` (the last entry: the ones before it are the
/// client's to write).
pub fn client_address(headers: &HeaderMap, peer: IpAddr, trust_forwarded: bool) -> IpAddr {
    if !trust_forwarded {
        return peer;
    }
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|last| last.trim().parse().ok())
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_its_64_and_a_forwarded_address_counts_only_from_a_trusted_proxy() {
        let v6: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        assert_eq!(network_of(v6), "2001:db8:1:2::/64");
        assert_eq!(network_of("192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_eq!(network_of("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.1.1.1, 192.0.2.9".parse().unwrap());
        assert_eq!(client_address(&headers, peer, false), peer);
        assert_eq!(
            client_address(&headers, peer, true),
            "192.0.2.9".parse::<IpAddr>().unwrap()
        );
    }
}
