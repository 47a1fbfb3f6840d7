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
    /// Close the connection with this reason once everything queued before
    /// it is written (an ended session: its revocation notices go first).
    Close(&'static str),
    /// A live event for a client watching every package: sent as it comes,
    /// outside the per-package streams (no hold; a reconnecting client
    /// resumes with a cursor, see [`crate::feed`]).
    Everything {
        updates: Arc<[(i64, Utf8Bytes)]>,
        occurred_at: chrono::DateTime<chrono::Utc>,
    },
    /// A live frame outside every package's seq stream (a courier's moves
    /// and presence, a package moving with its courier): sent as it comes.
    Aside {
        frame: Utf8Bytes,
        occurred_at: chrono::DateTime<chrono::Utc>,
    },
}

pub use crate::keys::{courier_key, courier_of, is_package, EVERY_PACKAGE};

/// How the hub reaches one client.
#[derive(Clone)]
pub struct ClientHandle {
    pub outbox: mpsc::Sender<Outgoing>,
    /// Cancelled when the client cannot keep up; its connection then closes.
    pub too_slow: CancellationToken,
    /// Who the client is, for what it learns of a package's courier
    /// ([`shared::packages::aboard::exposure`]); follows the caller's role
    /// as the connection checks it again (a plain lock, never held across
    /// an await).
    pub reader: Arc<std::sync::RwLock<shared::packages::aboard::Reader>>,
}

impl ClientHandle {
    pub fn reader(&self) -> shared::packages::aboard::Reader {
        self.reader
            .read()
            .map(|r| *r)
            .unwrap_or(shared::packages::aboard::Reader::Outsider)
    }
}

#[derive(Default)]
pub struct Hub {
    watchers: Mutex<Watchers>,
    next_id: AtomicU64,
    pub metrics: crate::metrics::Metrics,
}

/// What the feed was sent live before a checkpoint began.
#[derive(Default)]
pub struct FeedDispatched {
    sent: HashMap<String, (i64, u64)>,
    round: u64,
}

impl FeedDispatched {
    /// Of the packages changed since the last checkpoint (`changed`: each
    /// one's seq as of the checkpoint's snapshot), those whose state the
    /// feed was not sent live: their events are still on the way, or were
    /// lost with the broker link. Dispatch records and sends under one lock,
    /// so a package counted as sent was queued for every feed watcher before
    /// the checkpoint that relies on it.
    ///
    /// Returns them, and what to keep remembering: a package while it keeps
    /// showing up as changed (an old transaction still running holds the
    /// horizon back), and one sent in the round just ended for one more
    /// round (its commit may postdate this snapshot).
    pub fn missed(
        mut self,
        changed: &[(String, i64)],
    ) -> (Vec<String>, HashMap<String, (i64, u64)>) {
        let mut kept = HashMap::with_capacity(changed.len());
        let mut missed = Vec::new();
        for (tracking_number, seq) in changed {
            match self.sent.remove(tracking_number) {
                Some(sent) => {
                    if sent.0 < *seq {
                        missed.push(tracking_number.clone());
                    }
                    kept.insert(tracking_number.clone(), sent);
                }
                None => missed.push(tracking_number.clone()),
            }
        }
        let round = self.round;
        kept.extend(self.sent.into_iter().filter(|(_, (_, at))| *at == round));
        (missed, kept)
    }
}

impl Watchers {
    fn lower_feed_floor(&mut self, floor: i64) {
        self.feed_floor = Some(self.feed_floor.map_or(floor, |f| f.min(floor)));
    }
}

#[derive(Default)]
struct Watchers {
    by_package: HashMap<String, HashMap<ClientId, ClientHandle>>,
    /// What the feed was sent live, for its checkpoints (see
    /// [`FeedDispatched::missed`]): each package's highest seq dispatched,
    /// and in which checkpoint round.
    feed_dispatched: HashMap<String, (i64, u64)>,
    feed_round: u64,
    /// The oldest cursor a feed watcher was given since the last checkpoint
    /// began: the next checkpoint looks back at least that far.
    feed_floor: Option<i64>,
    /// Watchers given a cursor since the last checkpoint began: that
    /// checkpoint did not look back to it, so they do not get its cursor.
    feed_joining: HashSet<ClientId>,
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

    /// A feed watcher was given `cursor` (its `subscribed_all`).
    pub fn feed_joined(&self, id: ClientId, cursor: i64) {
        if let Ok(mut watchers) = self.watchers.lock() {
            watchers.lower_feed_floor(cursor);
            watchers.feed_joining.insert(id);
        }
    }

    /// The next checkpoint must look back at least to `floor` (one that
    /// failed hands back the floor it took).
    pub fn lower_feed_floor(&self, floor: Option<i64>) {
        if let (Some(floor), Ok(mut watchers)) = (floor, self.watchers.lock()) {
            watchers.lower_feed_floor(floor);
        }
    }

    /// A checkpoint begins: the oldest cursor given out since the last one
    /// (it must look back that far), and what was dispatched live so far
    /// (see [`FeedDispatched::missed`]).
    pub fn feed_checkpoint_begins(&self) -> (Option<i64>, FeedDispatched) {
        let Ok(mut watchers) = self.watchers.lock() else {
            return (None, FeedDispatched::default());
        };
        let round = watchers.feed_round;
        watchers.feed_round = round + 1;
        let floor = watchers.feed_floor.take();
        let sent = std::mem::take(&mut watchers.feed_dispatched);
        (floor, FeedDispatched { sent, round })
    }

    /// Queues a checkpoint for every client watching every package: the
    /// states the live stream missed (`states`: frames, and each package's
    /// seq in them), then the cursor, except to watchers that joined since
    /// the checkpoint began. `kept`: what was dispatched before it, still
    /// worth remembering.
    pub fn checkpoint_feed(
        &self,
        frames: Vec<Utf8Bytes>,
        states: Vec<(String, i64)>,
        cursor: Utf8Bytes,
        kept: HashMap<String, (i64, u64)>,
    ) {
        let Ok(mut watchers) = self.watchers.lock() else {
            return;
        };
        let watchers = &mut *watchers;
        let round = watchers.feed_round;
        for (tracking_number, (seq, at)) in kept.into_iter().chain(
            states
                .into_iter()
                .map(|(tracking_number, seq)| (tracking_number, (seq, round))),
        ) {
            let sent = watchers
                .feed_dispatched
                .entry(tracking_number)
                .or_insert((seq, at));
            *sent = (sent.0.max(seq), sent.1.max(at));
        }
        let joining = std::mem::take(&mut watchers.feed_joining);
        let Some(everyone) = watchers.by_package.get(EVERY_PACKAGE) else {
            return;
        };
        if !frames.is_empty() {
            self.offer(everyone.values(), &Outgoing::Replies(frames));
        }
        let settled = everyone
            .iter()
            .filter(|(id, _)| !joining.contains(*id))
            .map(|(_, client)| client);
        self.offer(settled, &Outgoing::Reply(cursor));
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
            .filter(|(key, _)| is_package(key))
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
            // Every event passes here: allocate the key only for a package
            // not yet counted this round.
            match watchers.feed_dispatched.get_mut(tracking_number) {
                Some(sent) => *sent = (sent.0.max(seq), round),
                None => {
                    watchers
                        .feed_dispatched
                        .insert(tracking_number.to_owned(), (seq, round));
                }
            }
        }
    }

    /// Of these packages, those some client here watches.
    pub fn watched_of<'a>(&self, tracking_numbers: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
        let Ok(watchers) = self.watchers.lock() else {
            return Vec::new();
        };
        tracking_numbers
            .filter(|tn| watchers.by_package.contains_key(*tn))
            .collect()
    }

    /// Queues, once for each client watching any of `keys` (a client
    /// watching two gets it once), what `choose` picks for that client
    /// (nothing: `None`), without waiting; a watcher whose queue is full is
    /// marked too slow.
    pub fn dispatch_aside<'m>(
        &self,
        keys: &[&str],
        choose: impl Fn(shared::packages::aboard::Reader) -> Option<&'m Outgoing>,
    ) {
        let Ok(watchers) = self.watchers.lock() else {
            return;
        };
        let mut seen = HashSet::new();
        for (_, client) in keys
            .iter()
            .filter_map(|key| watchers.by_package.get(*key))
            .flat_map(|clients| clients.iter())
            .filter(|(id, _)| seen.insert(**id))
        {
            if let Some(message) = choose(client.reader()) {
                self.offer(std::iter::once(client), message);
            }
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
