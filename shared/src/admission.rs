//! Places for open connections, counted per key (a client network, an
//! account) in one instance ([`Places`]), and the [`Gate`] ingest and the
//! broadcaster accept sockets through: the instance's cap and each
//! network's share, applied when a socket is accepted, before anything is
//! read, so one address cannot hold every slot.

use crate::net::TrustedProxies;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Keys tracked at most; past it, a key not seen yet is refused.
const MAX_KEYS: usize = 200_000;

pub struct Places {
    per_key: usize,
    open: Mutex<HashMap<String, usize>>,
}

/// One admitted connection; dropping it frees its place.
pub struct Admitted {
    places: Arc<Places>,
    key: String,
}

impl Places {
    /// At most `per_key` open connections per key; 0: no cap.
    pub fn new(per_key: usize) -> Arc<Self> {
        Arc::new(Self {
            per_key,
            open: Mutex::new(HashMap::new()),
        })
    }

    fn open(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A place for one more connection of `key`, if it has one left.
    pub fn admit(self: &Arc<Self>, key: String) -> Option<Admitted> {
        let mut open = self.open();
        if !open.contains_key(&key) && open.len() >= MAX_KEYS {
            return None;
        }
        let count = open.entry(key.clone()).or_insert(0);
        if self.per_key > 0 && *count >= self.per_key {
            return None;
        }
        *count += 1;
        Some(Admitted {
            places: Arc::clone(self),
            key,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.places.open();
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// What a listener does when the instance is at its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverCap {
    /// Accept nothing until a slot frees (the backlog waits): for short
    /// requests that will free one soon.
    Wait,
    /// Accept the socket and close it at once: for long-lived connections
    /// a waiting client would wait on for hours.
    Refuse,
}

/// A listener with its admission rules.
pub struct Gate {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    per_network: Arc<Places>,
    /// A trusted proxy's own address is not capped: it carries many clients.
    proxies: TrustedProxies,
    over_cap: OverCap,
}

/// An admitted socket, and its admission (hold it while the connection
/// lasts: dropping it frees the slot and the network's place).
pub struct Accepted {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub admitted: Admission,
}

/// A connection's slot and its network's place.
pub struct Admission {
    _slot: OwnedSemaphorePermit,
    _place: Option<Admitted>,
}

impl Gate {
    /// At most `max_connections` open at once (at least one), and
    /// `per_network` per client network (0: no cap).
    pub fn new(
        listener: TcpListener,
        max_connections: usize,
        per_network: usize,
        proxies: TrustedProxies,
        over_cap: OverCap,
    ) -> Self {
        Self {
            listener,
            slots: Arc::new(Semaphore::new(max_connections.max(1))),
            per_network: Places::new(per_network),
            proxies,
            over_cap,
        }
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// The next socket within the rules; sockets over them are closed
    /// unread. Cancel-safe: a slot taken before the socket is dropped with
    /// the future.
    pub async fn next(&self) -> Accepted {
        loop {
            let waited = match self.over_cap {
                OverCap::Wait => Arc::clone(&self.slots).acquire_owned().await.ok(),
                OverCap::Refuse => None,
            };
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let place = if self.proxies.trusts(peer.ip()) {
                None
            } else {
                match self.per_network.admit(crate::net::network_of(peer.ip())) {
                    Some(place) => Some(place),
                    None => continue,
                }
            };
            let slot = match waited {
                Some(slot) => slot,
                None => match Arc::clone(&self.slots).try_acquire_owned() {
                    Ok(slot) => slot,
                    Err(_) => continue,
                },
            };
            let _ = stream.set_nodelay(true);
            return Accepted {
                stream,
                peer,
                admitted: Admission {
                    _slot: slot,
                    _place: place,
                },
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_places_back_as_its_connections_close() {
        let places = Places::new(2);
        let first = places.admit("192.0.2.1".into()).expect("first");
        let _second = places.admit("192.0.2.1".into()).expect("second");
        assert!(places.admit("192.0.2.1".into()).is_none(), "third refused");
        assert!(places.admit("192.0.2.2".into()).is_some(), "another key");
        drop(first);
        assert!(places.admit("192.0.2.1".into()).is_some(), "a place freed");
        assert!(Places::new(0).admit("x".into()).is_some(), "0: no cap");
    }

    #[tokio::test]
    async fn a_gate_closes_what_is_over_the_cap_unread() {
        use tokio::io::AsyncReadExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let gate = Gate::new(listener, 1, 0, TrustedProxies::default(), OverCap::Refuse);
        let _first = TcpStream::connect(addr).await.unwrap();
        let held = gate.next().await;
        let mut second = TcpStream::connect(addr).await.unwrap();
        let third = TcpStream::connect(addr).await.unwrap();
        // The second is over the cap while the first is held: closed.
        let mut buffer = [0u8; 1];
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            tokio::select! {
                _ = gate.next() => false,
                read = second.read(&mut buffer) => matches!(read, Ok(0) | Err(_)),
            }
        })
        .await;
        assert_eq!(closed.ok(), Some(true));
        drop(held);
        drop(third);
    }
}
