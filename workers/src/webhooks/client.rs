//! The HTTP side of a delivery: one POST, no redirects, no proxy, a
//! timeout over the whole exchange, the answer read up to a cap, and every
//! address it connects to checked first ([`shared::webhooks::target`]):
//! the resolver reqwest uses is ours, so the addresses checked are the
//! addresses called.

use bytes::Bytes;
use shared::webhooks::target::{self, Refusal, Resolver, Rules, Target};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How much of an answer is read (and kept, in the delivery log).
pub const RESPONSE_HEAD_BYTES: usize = 512;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: Option<u16>,
    pub head: Option<String>,
    pub error: Option<String>,
    pub duration: Duration,
}

impl Answer {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// A client for every endpoint of the pool.
#[derive(Clone)]
pub struct Caller {
    client: reqwest::Client,
    resolver: Resolver,
    rules: Rules,
}

/// reqwest's resolver: our resolution and our address rules.
struct Vetting {
    resolver: Resolver,
    rules: Rules,
}

impl reqwest::dns::Resolve for Vetting {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (resolver, rules) = (self.resolver.clone(), self.rules);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // reqwest puts the URL's port on each address.
            let target = Target {
                url: String::new(),
                host,
                port: 0,
            };
            let found: Vec<SocketAddr> = resolver
                .vetted(&target, rules)
                .await
                .map_err(|refusal| Box::new(refusal) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl Caller {
    pub fn new(
        resolver: Resolver,
        rules: Rules,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(8)
            .user_agent("DeliverTrack-Webhooks/1")
            .dns_resolver(std::sync::Arc::new(Vetting {
                resolver: resolver.clone(),
                rules,
            }))
            .build()?;
        Ok(Self {
            client,
            resolver,
            rules,
        })
    }

    /// POSTs `body` to `url` with `headers`.
    pub async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: Bytes,
    ) -> Answer {
        let started = Instant::now();
        let failed = |error: String| Answer {
            status: None,
            head: None,
            error: Some(error),
            duration: started.elapsed(),
        };
        // The form again (the rules may have tightened since registration),
        // and an address literal is checked here: reqwest resolves names only.
        let target = match target::parse(url, self.rules) {
            Ok(target) => target,
            Err(why) => return failed(format!("the URL {why}")),
        };
        if target.host.parse::<std::net::IpAddr>().is_ok() {
            if let Err(refusal) = self.resolver.vetted(&target, self.rules).await {
                return failed(refusal.to_string());
            }
        }
        let mut request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut response = match request.body(body).send().await {
            Ok(response) => response,
            Err(error) => return failed(describe(&error)),
        };
        let status = response.status().as_u16();
        let mut head = Vec::new();
        let mut error = None;
        while head.len() < RESPONSE_HEAD_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => head.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    error = Some(describe(&e));
                    break;
                }
            }
        }
        head.truncate(RESPONSE_HEAD_BYTES);
        Answer {
            status: Some(status),
            head: Some(String::from_utf8_lossy(&head).into_owned()),
            error,
            duration: started.elapsed(),
        }
    }
}

/// One line for the log: our refusal as itself, a timeout as a timeout.
fn describe(error: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<Refusal>() {
            return refusal.to_string();
        }
        source = cause.source();
    }
    if error.is_timeout() {
        return "timed out".into();
    }
    if error.is_connect() {
        let mut text = String::from("could not connect");
        let mut cause = std::error::Error::source(error);
        while let Some(inner) = cause {
            text = format!("could not connect: {inner}");
            cause = inner.source();
        }
        return text;
    }
    error.to_string()
}
