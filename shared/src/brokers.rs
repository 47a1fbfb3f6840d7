//! The broker's nodes (`AMQP_URLS`, or the one `AMQP_URL`) and connecting
//! to whichever of them answers.

use lapin::{Connection, ConnectionProperties};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long one node may take to accept a connection before the next is
/// tried (a node that vanished without closing its sockets would otherwise
/// hold a reconnect for the kernel's TCP timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The broker's nodes (`AMQP_URLS`, or the one `AMQP_URL`). A connection goes
/// to the first node that accepts it, starting from the one that last did:
/// when a service's node goes, its reconnect moves on to the next.
#[derive(Clone)]
pub struct Brokers {
    urls: Arc<[String]>,
    /// The node the next connection tries first.
    next: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Brokers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nodes: Vec<String> = self
            .urls
            .iter()
            .map(|u| crate::env::mask_url_password(u))
            .collect();
        f.debug_tuple("Brokers").field(&nodes).finish()
    }
}

impl Brokers {
    /// At least one URL (configuration guarantees it; an empty list is
    /// taken as the local default).
    pub fn new(urls: Vec<String>) -> Self {
        let urls = if urls.is_empty() {
            vec!["amqp://guest:guest@127.0.0.1:5672/%2f".to_owned()]
        } else {
            urls
        };
        Self {
            urls: urls.into(),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The nodes' URLs, in the configured order.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// The first configured node (where tools that need one node look).
    pub fn first(&self) -> &str {
        &self.urls[0]
    }

    /// Makes the next [`Self::connect`] start one node further than the
    /// one it last connected to: for a client leaving a node that answers
    /// but will not take its messages.
    pub fn move_on(&self) {
        self.next.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection named `name` to the first node that accepts one.
    pub async fn connect(&self, name: &str) -> lapin::Result<Connection> {
        let count = self.urls.len();
        let start = self.next.load(Ordering::Relaxed) % count;
        let mut failure = None;
        for offset in 0..count {
            let index = (start + offset) % count;
            let url = &self.urls[index];
            match tokio::time::timeout(CONNECT_TIMEOUT, connect(url, name)).await {
                Ok(Ok(connection)) => {
                    self.next.store(index, Ordering::Relaxed);
                    return Ok(connection);
                }
                Ok(Err(error)) => failure = Some(error),
                Err(_) => {
                    failure = Some(lapin::Error::from(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no connection within {CONNECT_TIMEOUT:?}"),
                    )))
                }
            }
            if count > 1 {
                tracing::warn!(node = %crate::env::mask_url_password(url), "broker node unreachable; trying the next");
            }
        }
        // The next attempt starts one node further.
        self.next.store((start + 1) % count, Ordering::Relaxed);
        Err(failure.expect("at least one node was tried"))
    }
}

/// A connection to the one node at `url`.
pub async fn connect(url: &str, name: &str) -> lapin::Result<Connection> {
    Connection::connect(
        url,
        ConnectionProperties::default().with_connection_name(name.into()),
    )
    .await
}
