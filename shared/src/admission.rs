//! Places for open connections, counted per key (a client network, an
//! account) in one instance: ingest and the broadcaster cap connections per
//! network when a socket is accepted, before anything is read, so one
//! address cannot hold every slot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

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
}
