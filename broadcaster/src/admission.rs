//! A cap on anonymous (`/ws/public`) connections per client network. Anyone
//! may open them, so without it one address could hold every connection slot
//! of the instance. Counted per instance, by the key ingest's rate limits use
//! (an IPv6 client's /64 is one network).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct PublicConnections {
    per_network: usize,
    open: Mutex<HashMap<String, usize>>,
}

/// One admitted public connection; dropping it frees its place.
pub struct Admitted {
    connections: Arc<PublicConnections>,
    network: String,
}

impl PublicConnections {
    /// At most `per_network` open public connections per network; 0: no cap.
    pub fn new(per_network: usize) -> Arc<Self> {
        Arc::new(Self {
            per_network,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one more connection from `network`, if it has one left.
    pub fn admit(self: &Arc<Self>, network: String) -> Option<Admitted> {
        let mut open = self.open.lock().ok()?;
        let count = open.entry(network.clone()).or_insert(0);
        if self.per_network > 0 && *count >= self.per_network {
            return None;
        }
        *count += 1;
        Some(Admitted {
            connections: Arc::clone(self),
            network,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Ok(mut open) = self.connections.open.lock() {
            if let Some(count) = open.get_mut(&self.network) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    open.remove(&self.network);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_gets_its_places_back_as_its_connections_close() {
        let public = PublicConnections::new(2);
        let first = public.admit("192.0.2.1".into()).expect("first");
        let _second = public.admit("192.0.2.1".into()).expect("second");
        assert!(public.admit("192.0.2.1".into()).is_none(), "third refused");
        assert!(
            public.admit("192.0.2.2".into()).is_some(),
            "another network"
        );
        drop(first);
        assert!(public.admit("192.0.2.1".into()).is_some(), "a place freed");
    }
}
