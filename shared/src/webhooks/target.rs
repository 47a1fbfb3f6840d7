//! An endpoint's URL, checked at the edge, and its host resolved to
//! addresses a delivery may reach.
//!
//! The same check runs at registration (ingest) and before every attempt
//! (the sender): a name that resolved to a public address yesterday may
//! resolve to `127.0.0.1` today. The sender connects to the addresses it
//! checked, never resolving twice, so nothing can change in between.

use super::address;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// How long one resolution may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a URL may be (`WEBHOOK_ALLOW_HTTP`, `WEBHOOK_ALLOW_PRIVATE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rules {
    /// `http://` as well as `https://` (development only).
    pub allow_http: bool,
    /// Loopback, private and link-local addresses too (development only).
    pub allow_private: bool,
}

impl Rules {
    /// `WEBHOOK_ALLOW_HTTP`, `WEBHOOK_ALLOW_PRIVATE` (both `false` by default).
    pub fn from_env() -> Result<Self, crate::env::ConfigError> {
        Ok(Self {
            allow_http: crate::env::var("WEBHOOK_ALLOW_HTTP", false)?,
            allow_private: crate::env::var("WEBHOOK_ALLOW_PRIVATE", false)?,
        })
    }
}

/// A URL that passed [`parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub host: String,
    pub port: u16,
}

/// Checks a URL's form (not its addresses: [`Resolver::vetted`]).
pub fn parse(raw: &str, rules: Rules) -> Result<Target, String> {
    if raw.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    let uri: hyper::Uri = raw.parse().map_err(|_| "is not a URL".to_owned())?;
    let default_port = match uri.scheme_str() {
        Some("https") => 443,
        Some("http") if rules.allow_http => 80,
        Some("http") => {
            return Err("must be https:// (http:// only where WEBHOOK_ALLOW_HTTP=true)".into())
        }
        _ => return Err("must be an https:// URL".into()),
    };
    let authority = uri.authority().ok_or("must name a host")?;
    if authority.as_str().contains('@') {
        return Err("must not carry a user name or password".into());
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err("must name a host".into());
    }
    Ok(Target {
        url: raw.to_owned(),
        host: host.to_ascii_lowercase(),
        port: authority.port_u16().unwrap_or(default_port),
    })
}

/// Why a target's addresses may not be called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{host} resolves to {ip}, {why}: refused")]
    Forbidden {
        host: String,
        ip: IpAddr,
        why: &'static str,
    },
    #[error("{host} does not resolve: {reason}")]
    Unresolved { host: String, reason: String },
}

/// Where host names are resolved: the system's resolver, or one DNS server
/// (`WEBHOOK_DNS_SERVER`, e.g. an internal resolver that sees only the
/// public zone).
#[derive(Clone)]
pub enum Resolver {
    System,
    Server(Box<hickory_resolver::TokioResolver>),
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::System => f.write_str("Resolver::System"),
            Self::Server(_) => f.write_str("Resolver::Server"),
        }
    }
}

impl Resolver {
    /// `WEBHOOK_DNS_SERVER` (`host:port` of a DNS server; unset: the
    /// system's resolver).
    pub fn from_env() -> Result<Self, crate::env::ConfigError> {
        let raw: String = crate::env::var("WEBHOOK_DNS_SERVER", String::new())?;
        if raw.trim().is_empty() {
            return Ok(Self::System);
        }
        let problem = |reason: String| crate::env::ConfigError {
            name: "WEBHOOK_DNS_SERVER".into(),
            value: raw.clone(),
            reason,
        };
        let addr: SocketAddr = raw
            .trim()
            .parse()
            .map_err(|_| problem("expected an address and port, e.g. 10.0.0.2:53".into()))?;
        Self::server(addr).map_err(problem)
    }

    /// Asks the DNS server at `server` over UDP, with no cache: every
    /// delivery sees the zone as it is.
    pub fn server(server: SocketAddr) -> Result<Self, String> {
        use hickory_resolver::config::{
            ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolverConfig,
        };
        let mut connection = ConnectionConfig::udp();
        connection.port = server.port();
        let mut name_server = NameServerConfig::udp(server.ip());
        name_server.connections = vec![connection];
        let config = ResolverConfig::from_name_servers(vec![name_server]);
        let mut builder = hickory_resolver::Resolver::builder_with_config(
            config,
            hickory_resolver::net::runtime::TokioRuntimeProvider::default(),
        );
        let options = builder.options_mut();
        options.cache_size = 0;
        options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        options.timeout = Duration::from_secs(2);
        options.attempts = 2;
        builder
            .build()
            .map(|resolver| Self::Server(Box::new(resolver)))
            .map_err(|error| error.to_string())
    }

    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let lookup = async {
            match self {
                Self::System => tokio::net::lookup_host((host, port))
                    .await
                    .map(|found| found.collect::<Vec<_>>())
                    .map_err(|error| error.to_string()),
                Self::Server(resolver) => {
                    // Absolute: no search domain is tried.
                    let name = format!("{}.", host.trim_end_matches('.'));
                    resolver
                        .lookup_ip(name.as_str())
                        .await
                        .map(|found| found.iter().map(|ip| SocketAddr::new(ip, port)).collect())
                        .map_err(|error| error.to_string())
                }
            }
        };
        let found = tokio::time::timeout(RESOLVE_TIMEOUT, lookup)
            .await
            .map_err(|_| "timed out".to_owned())??;
        if found.is_empty() {
            return Err("no addresses".into());
        }
        Ok(found)
    }

    /// The target's addresses, every one of them allowed by `rules`: one
    /// forbidden address refuses the target (a name with a public and a
    /// loopback address could be steered to either).
    pub async fn vetted(&self, target: &Target, rules: Rules) -> Result<Vec<SocketAddr>, Refusal> {
        let found = self
            .resolve(&target.host, target.port)
            .await
            .map_err(|reason| Refusal::Unresolved {
                host: target.host.clone(),
                reason,
            })?;
        if !rules.allow_private {
            for addr in &found {
                if let Some(why) = address::refusal(addr.ip()) {
                    return Err(Refusal::Forbidden {
                        host: target.host.clone(),
                        ip: addr.ip(),
                        why,
                    });
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: Rules = Rules {
        allow_http: false,
        allow_private: false,
    };

    #[test]
    fn urls_are_checked_for_form() {
        let ok = parse("https://hooks.example.com/dt?x=1", STRICT).expect("valid");
        assert_eq!((ok.host.as_str(), ok.port), ("hooks.example.com", 443));
        let v6 = parse("https://[2606:4700::1111]:8443/", STRICT).expect("valid");
        assert_eq!((v6.host.as_str(), v6.port), ("2606:4700::1111", 8443));
        for bad in [
            "http://hooks.example.com/",
            "ftp://hooks.example.com/",
            "https://user:pw@hooks.example.com/",
            "https:///path",
            "hooks.example.com",
            "https://hooks.example.com/a b",
        ] {
            assert!(parse(bad, STRICT).is_err(), "{bad} should be refused");
        }
        let dev = Rules {
            allow_http: true,
            allow_private: false,
        };
        assert_eq!(parse("http://h.test/", dev).expect("valid").port, 80);
        assert!(parse(&format!("https://h.test/{}", "a".repeat(2100)), STRICT).is_err());
    }

    #[tokio::test]
    async fn literal_internal_addresses_are_refused_unless_allowed() {
        let resolver = Resolver::System;
        for url in [
            "https://127.0.0.1/",
            "https://169.254.169.254/latest",
            "https://[::1]/",
        ] {
            let target = parse(url, STRICT).expect("valid form");
            let refused = resolver.vetted(&target, STRICT).await;
            assert!(
                matches!(refused, Err(Refusal::Forbidden { .. })),
                "{url}: {refused:?}"
            );
        }
        let target = parse("https://127.0.0.1:9/", STRICT).expect("valid form");
        let allowed = Rules {
            allow_http: false,
            allow_private: true,
        };
        assert!(resolver.vetted(&target, allowed).await.is_ok());
    }
}
