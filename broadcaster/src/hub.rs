//! Who watches which package. The lock is a plain mutex held only for map
//! updates and `try_send`s, never across an await.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

pub type ClientId = u64;

/// What travels through a client's outbox to its writer.
#[derive(Clone)]
pub enum Outgoing {
    /// A live event: its updates (one per seq; a window's points of one
    /// package come as one event), their bytes shared by every subscriber.
    /// One outbox slot per event, however many points it carries.
    Live {
        tracking_number: Arc<str>,
        updates: Arc<[(i64, Utf8Bytes)]>,
        occurred_at: chrono::DateTime<chrono::Utc>,
    },
    /// An answer to something the client sent.
    Reply(Utf8Bytes),
    /// The client is subscribing to this package: hold its live events until
    /// `Start` (sent after the subscription is confirmed).
    Watch(String),
    /// Begin the package's stream after seq `after` (what of it the stores
    /// hold up to `head` is read back first).
    Start {
        tracking_number: String,
        after: i64,
        head: i64,
    },
    /// The client stopped watching the package.
    Forget(String),
    /// The event stream was down: ask the stores what was missed while it was.
    Resync,
    /// Answers sent in one go (a resumed feed's package states).
    Replies(Vec<Utf8Bytes>),
    /// A live event for a client watching every package: sent as it comes,
    /// outside the per-package streams (no hold; a reconnecting client
    /// resumes with a cursor, see [`crate::feed`]).
    Everything {
        updates: Arc<[(i64, Utf8Bytes)]>,
        occurred_at: chrono::DateTime<chrono::Utc>,
    },
}

/// The key under which clients watching every package are kept (no
/// tracking number can be `*`); its broker binding `package.*.*` takes every
/// package's events.
pub const EVERY_PACKAGE: &str = "*";

/// How the hub reaches one client.
#[derive(Clone)]
pub struct ClientHandle {
    pub outbox: mpsc::Sender<Outgoing>,
    /// Cancelled when the client cannot keep up; its connection then closes.
    pub too_slow: CancellationToken,
}

#[derive(Default)]
pub struct Hub {
    watchers: Mutex<HashMap<String, HashMap<ClientId, ClientHandle>>>,
    next_id: AtomicU64,
    /// +1 each time the event stream connects or drops: odd while it is up.
    /// A feed checkpoint is only good within the epoch it was read in.
    stream_epoch: AtomicU64,
    pub metrics: crate::metrics::Metrics,
}

impl Hub {
    pub fn new_client_id(&self) -> ClientId {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn subscribe(&self, tracking_number: &str, id: ClientId, handle: ClientHandle) {
        if let Ok(mut watchers) = self.watchers.lock() {
            watchers
                .entry(tracking_number.to_owned())
                .or_default()
                .insert(id, handle);
        }
    }

    pub fn unsubscribe(&self, tracking_number: &str, id: ClientId) {
        if let Ok(mut watchers) = self.watchers.lock() {
            if let Some(clients) = watchers.get_mut(tracking_number) {
                clients.remove(&id);
                if clients.is_empty() {
                    watchers.remove(tracking_number);
                }
            }
        }
    }

    pub fn is_watched(&self, tracking_number: &str) -> bool {
        self.watchers
            .lock()
            .map(|w| w.contains_key(tracking_number))
            .unwrap_or(false)
    }

    pub fn watched(&self) -> HashSet<String> {
        self.watchers
            .lock()
            .map(|w| w.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The event stream connected (`true`) or dropped.
    pub fn stream_changed(&self, up: bool) {
        let _ = self
            .stream_epoch
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |epoch| {
                let was_up = epoch % 2 == 1;
                (was_up != up).then_some(epoch + 1)
            });
    }

    /// The event stream's epoch while it is up; `None` while it is down.
    pub fn stream_epoch(&self) -> Option<u64> {
        let epoch = self.stream_epoch.load(Ordering::Acquire);
        (epoch % 2 == 1).then_some(epoch)
    }

    /// Queues a feed checkpoint for every client watching every package.
    pub fn checkpoint_feed(&self, text: &str) {
        let Ok(watchers) = self.watchers.lock() else {
            return;
        };
        if let Some(everyone) = watchers.get(EVERY_PACKAGE) {
            self.offer(everyone.values(), &Outgoing::Reply(Utf8Bytes::from(text)));
        }
    }

    /// Tells every client to check the stores for events it may have missed
    /// (after the broker link was down). A client with a full outbox is
    /// already on its way out as too slow.
    pub fn resync_all(&self) {
        let clients: Vec<ClientHandle> = match self.watchers.lock() {
            Ok(watchers) => {
                let mut seen = HashSet::new();
                watchers
                    .values()
                    .flat_map(|clients| clients.iter())
                    .filter(|(id, _)| seen.insert(**id))
                    .map(|(_, handle)| handle.clone())
                    .collect()
            }
            Err(_) => return,
        };
        for client in clients {
            let _ = client.outbox.try_send(Outgoing::Resync);
        }
        // The every-package feed has no stream of its own to check: its
        // watchers are told to resume from their cursor.
        let everyone: Vec<ClientHandle> = match self.watchers.lock() {
            Ok(watchers) => watchers
                .get(EVERY_PACKAGE)
                .map(|clients| clients.values().cloned().collect())
                .unwrap_or_default(),
            Err(_) => return,
        };
        for client in everyone {
            let notice = Utf8Bytes::from(crate::protocol::resync());
            let _ = client.outbox.try_send(Outgoing::Reply(notice));
        }
    }

    /// Queues `message` for every watcher of the package, and for the
    /// watchers of every package, without waiting; a watcher whose queue is
    /// full is marked too slow.
    pub fn dispatch(&self, tracking_number: &str, message: &Outgoing) {
        let Ok(watchers) = self.watchers.lock() else {
            return;
        };
        let own = watchers.get(tracking_number);
        if let Some(clients) = own {
            self.offer(clients.values(), message);
        }
        if let (
            Some(everyone),
            Outgoing::Live {
                updates,
                occurred_at,
                ..
            },
        ) = (watchers.get(EVERY_PACKAGE), message)
        {
            let everything = Outgoing::Everything {
                updates: Arc::clone(updates),
                occurred_at: *occurred_at,
            };
            // A client that also watches this package gets it once, in its
            // package's stream.
            let not_own = everyone
                .iter()
                .filter(|(id, _)| !own.is_some_and(|own| own.contains_key(*id)))
                .map(|(_, client)| client);
            self.offer(not_own, &everything);
        }
    }

    fn offer<'a>(&self, clients: impl Iterator<Item = &'a ClientHandle>, message: &Outgoing) {
        // A client marked too slow gets nothing more: what it missed must
        // not be covered by a later checkpoint it still receives.
        for client in clients.filter(|client| !client.too_slow.is_cancelled()) {
            match client.outbox.try_send(message.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    if !client.too_slow.is_cancelled() {
                        self.metrics.dropped_slow.inc();
                        client.too_slow.cancel();
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }
}
