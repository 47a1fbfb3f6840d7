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
    watchers: Mutex<Watchers>,
    next_id: AtomicU64,
    pub metrics: crate::metrics::Metrics,
}

#[derive(Default)]
struct Watchers {
    by_package: HashMap<String, HashMap<ClientId, ClientHandle>>,
    /// What the feed was sent live, for its checkpoints (see
    /// [`Hub::feed_missed`]): each package's highest seq dispatched, and in
    /// which checkpoint round.
    feed_dispatched: HashMap<String, (i64, u64)>,
    feed_round: u64,
}

impl Hub {
    pub fn new_client_id(&self) -> ClientId {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn subscribe(&self, tracking_number: &str, id: ClientId, handle: ClientHandle) {
        if let Ok(mut watchers) = self.watchers.lock() {
            watchers
                .by_package
                .entry(tracking_number.to_owned())
                .or_default()
                .insert(id, handle);
        }
    }

    pub fn unsubscribe(&self, tracking_number: &str, id: ClientId) {
        if let Ok(mut watchers) = self.watchers.lock() {
            if let Some(clients) = watchers.by_package.get_mut(tracking_number) {
                clients.remove(&id);
                if clients.is_empty() {
                    watchers.by_package.remove(tracking_number);
                }
            }
        }
    }

    pub fn is_watched(&self, tracking_number: &str) -> bool {
        self.watchers
            .lock()
            .map(|w| w.by_package.contains_key(tracking_number))
            .unwrap_or(false)
    }

    pub fn watched(&self) -> HashSet<String> {
        self.watchers
            .lock()
            .map(|w| w.by_package.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Of the packages changed since the last checkpoint (`changed`: each
    /// one's seq as of the checkpoint's snapshot), those whose state the
    /// feed was not sent live: their events are still on the way, or were
    /// lost with the broker link.
    ///
    /// This is compared under the same lock as [`Hub::dispatch`] records and
    /// sends. So a package counted as sent was queued for every feed watcher
    /// before the checkpoint that relies on it. A package is remembered while
    /// it keeps showing up as changed (an old transaction still running holds
    /// the horizon back), and for one more round after it was sent (its
    /// commit may postdate this snapshot).
    pub fn feed_missed(&self, changed: Vec<(String, i64)>) -> Vec<String> {
        let Ok(mut watchers) = self.watchers.lock() else {
            return changed.into_iter().map(|(tn, _)| tn).collect();
        };
        let round = watchers.feed_round;
        let mut earlier = std::mem::take(&mut watchers.feed_dispatched);
        let mut kept = HashMap::with_capacity(changed.len());
        let mut missed = Vec::new();
        for (tracking_number, seq) in changed {
            match earlier.remove(&tracking_number) {
                Some(sent) => {
                    if sent.0 < seq {
                        missed.push(tracking_number.clone());
                    }
                    kept.insert(tracking_number, sent);
                }
                None => missed.push(tracking_number),
            }
        }
        kept.extend(earlier.into_iter().filter(|(_, (_, at))| *at == round));
        watchers.feed_dispatched = kept;
        watchers.feed_round = round + 1;
        missed
    }

    /// Queues a checkpoint (states the live stream missed, then the cursor)
    /// for every client watching every package.
    pub fn checkpoint_feed(&self, replies: Vec<Utf8Bytes>) {
        let Ok(watchers) = self.watchers.lock() else {
            return;
        };
        if let Some(everyone) = watchers.by_package.get(EVERY_PACKAGE) {
            self.offer(everyone.values(), &Outgoing::Replies(replies));
        }
    }

    /// Tells every client to check the stores for events it may have missed
    /// (after the broker link was down), and every feed watcher to resume
    /// from its cursor. A client whose outbox is full is too slow.
    pub fn resync_all(&self) {
        let Ok(watchers) = self.watchers.lock() else {
            return;
        };
        let mut seen = HashSet::new();
        let clients: Vec<&ClientHandle> = watchers
            .by_package
            .iter()
            .filter(|(key, _)| key.as_str() != EVERY_PACKAGE)
            .flat_map(|(_, clients)| clients.iter())
            .filter(|(id, _)| seen.insert(**id))
            .map(|(_, handle)| handle)
            .collect();
        self.offer(clients.into_iter(), &Outgoing::Resync);
        if let Some(everyone) = watchers.by_package.get(EVERY_PACKAGE) {
            let notice = Utf8Bytes::from(crate::protocol::resync());
            self.offer(everyone.values(), &Outgoing::Reply(notice));
        }
    }

    /// Queues `message` for every watcher of the package, and for the
    /// watchers of every package (also those watching the package: the feed
    /// and the package's stream are separate, and a client dedupes by seq),
    /// without waiting; a watcher whose queue is full is marked too slow.
    pub fn dispatch(&self, tracking_number: &str, message: &Outgoing) {
        let Ok(mut watchers) = self.watchers.lock() else {
            return;
        };
        if let Some(clients) = watchers.by_package.get(tracking_number) {
            self.offer(clients.values(), message);
        }
        let Outgoing::Live {
            updates,
            occurred_at,
            ..
        } = message
        else {
            return;
        };
        let Some(everyone) = watchers.by_package.get(EVERY_PACKAGE) else {
            return;
        };
        let everything = Outgoing::Everything {
            updates: Arc::clone(updates),
            occurred_at: *occurred_at,
        };
        self.offer(everyone.values(), &everything);
        if let Some(seq) = updates.iter().map(|(seq, _)| *seq).max() {
            let round = watchers.feed_round;
            let sent = watchers
                .feed_dispatched
                .entry(tracking_number.to_owned())
                .or_insert((seq, round));
            *sent = (sent.0.max(seq), round);
        }
    }

    fn offer<'a>(&self, clients: impl Iterator<Item = &'a ClientHandle>, message: &Outgoing) {
        // A client marked too slow gets nothing more: what it missed must
        // not be covered by a later checkpoint it still receives.
        for client in clients.filter(|client| !client.too_slow.is_cancelled()) {
            match client.outbox.try_send(message.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.metrics.dropped_slow.inc();
                    client.too_slow.cancel();
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }
}
