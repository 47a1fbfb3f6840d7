//! The near cache: package views kept in ingest's own memory, in front of
//! the Redis views, so a hot read costs no round trip at all.
//!
//! It is kept exact by the invalidations the workers already make: the
//! script that leaves a tombstone in Redis also announces the keys on a
//! channel ([`shared::cache::ViewCache::invalidations_channel`]), and
//! [`listen`] drops them here. The rules, each for a race:
//!
//! - **Served only while subscribed.** Pub/sub delivers at most once: while
//!   the subscription is down, announcements are lost, so nothing is served
//!   or filled, and everything is dropped when it goes down and again when
//!   it is back ([`NearCache::link_lost`], [`NearCache::subscribed`]).
//! - **A fill loses to an announcement that crossed it.** A reader takes a
//!   [`Ticket`] before it reads Redis; the announcement of a change and the
//!   reply carrying the older view travel on different connections, so the
//!   announcement may come first. Each announcement bumps a counter (one of
//!   [`STRIPES`], chosen by the tracking number); a fill whose stripe or
//!   link moved since its ticket is not kept. The check is made again after
//!   the insert, so an announcement handled in between removes what was
//!   inserted.
//! - **Only views Redis holds as current.** A view read from Redis, or one
//!   Redis took as a fill (its version checked against the tombstone), may
//!   be kept; a view read from a lagging replica that Redis refused is not.
//! - **The writer's own read.** An applied outcome drops its package here
//!   before the writer is answered ([`NearCache::forget`]), whatever the
//!   announcement's delay.
//!
//! - **Announcements that stop silently.** A subscription can stay up while
//!   announcements no longer reach it (a cluster node cut off from the
//!   others, a primary left alone after a failover): the listener publishes
//!   a canary every second and gives the link up when it does not come
//!   back ([`listen`]).
//! - **What Redis itself lost.** A worker that could not reach Redis keeps
//!   its invalidations for a while, then drops them, trusting the Redis
//!   view's TTL; so a view is kept here at most [`MAX_AGE`], then read from
//!   Redis again.
//!
//! What remains: another ingest serves the old view until the announcement
//! reaches it, the time of one Redis message, shorter than the way the
//! outcome travels (worker, broker, ingest, client) before anyone can ask.

pub mod listen;

use bytes::Bytes;
use quick_cache::sync::Cache;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// How long a view is served from memory at most, announcements or not:
/// well inside the Redis view's own TTL ([`shared::cache::VIEW_TTL`]).
pub const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(30);

/// Announcement counters. A fill is refused when any package on its stripe
/// changed meanwhile: with 4,096 stripes, rarely another package's change.
pub const STRIPES: usize = 4096;

/// A package's view as ingest serves it.
#[derive(Clone)]
pub struct NearView {
    pub json: Bytes,
    /// Whether a read must look for the courier it rides with (the view is
    /// parsed for that once, when it is filled).
    pub may_ride: bool,
    /// When it was read from Redis or the database.
    pub read_at: std::time::Instant,
}

impl NearView {
    pub fn of(json: String) -> Self {
        let may_ride = serde_json::from_str::<shared::packages::PackageView>(&json)
            .is_ok_and(|view| shared::packages::aboard::may_ride(&view));
        Self {
            json: Bytes::from(json),
            may_ride,
            read_at: std::time::Instant::now(),
        }
    }
}

#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<String, NearView> for ByBytes {
    fn weight(&self, key: &String, view: &NearView) -> u64 {
        (key.len() + view.json.len()) as u64
    }
}

/// What a reader saw before it read Redis: a fill is kept only if nothing
/// moved since.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    link: u64,
    stripe: usize,
    announced: u64,
}

/// The views, and what is known of the announcements. Shared by every
/// request of the process (`Arc`); no lock is held across an await.
pub struct NearCache {
    /// `None`: turned off (`VIEW_NEAR_CACHE_MB=0`).
    views: Option<Cache<String, NearView, ByBytes>>,
    announced: Box<[AtomicU64]>,
    /// Bumped whenever the subscription goes down or comes up.
    link: AtomicU64,
    subscribed: AtomicBool,
    hasher: RandomState,
}

impl NearCache {
    /// Holds at most `bytes` of views (keys and JSON); 0 turns it off.
    pub fn new(bytes: u64) -> Self {
        // quick_cache sizes its shards by the expected count; views are
        // about a kilobyte.
        let views = (bytes > 0)
            .then(|| Cache::with_weighter((bytes / 1024).max(16) as usize, bytes, ByBytes));
        Self {
            views,
            announced: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            link: AtomicU64::new(0),
            subscribed: AtomicBool::new(false),
            hasher: RandomState::new(),
        }
    }

    pub fn is_on(&self) -> bool {
        self.views.is_some()
    }

    fn stripe(&self, tracking_number: &str) -> usize {
        (self.hasher.hash_one(tracking_number) as usize) % STRIPES
    }

    /// The view, if held, younger than [`MAX_AGE`], and the subscription
    /// is up.
    pub fn get(&self, tracking_number: &str) -> Option<NearView> {
        if !self.subscribed.load(Ordering::SeqCst) {
            return None;
        }
        self.views
            .as_ref()?
            .get(tracking_number)
            .filter(|view| view.read_at.elapsed() < MAX_AGE)
    }

    /// Taken before reading Redis for `tracking_number`.
    pub fn ticket(&self, tracking_number: &str) -> Ticket {
        let stripe = self.stripe(tracking_number);
        Ticket {
            link: self.link.load(Ordering::SeqCst),
            stripe,
            announced: self.announced[stripe].load(Ordering::SeqCst),
        }
    }

    fn unmoved(&self, ticket: &Ticket) -> bool {
        self.subscribed.load(Ordering::SeqCst)
            && self.link.load(Ordering::SeqCst) == ticket.link
            && self.announced[ticket.stripe].load(Ordering::SeqCst) == ticket.announced
    }

    /// Keeps a view Redis holds as current, unless something moved since
    /// `ticket`. Returns whether it was kept.
    pub fn fill(&self, ticket: Ticket, tracking_number: &str, view: NearView) -> bool {
        let Some(views) = &self.views else {
            return false;
        };
        if !self.unmoved(&ticket) {
            return false;
        }
        views.insert(tracking_number.to_owned(), view);
        // An announcement (or a lost link) handled between the check and
        // the insert removed nothing yet to be inserted: look again.
        if self.unmoved(&ticket) {
            true
        } else {
            views.remove(tracking_number);
            false
        }
    }

    /// The package changed: bump its stripe first (fills in flight lose),
    /// then drop its view.
    pub fn forget(&self, tracking_number: &str) {
        let stripe = self.stripe(tracking_number);
        self.announced[stripe].fetch_add(1, Ordering::SeqCst);
        if let Some(views) = &self.views {
            views.remove(tracking_number);
        }
    }

    /// Announcements may be lost from now on: serve and keep nothing.
    pub fn link_lost(&self) {
        self.subscribed.store(false, Ordering::SeqCst);
        self.link.fetch_add(1, Ordering::SeqCst);
        self.clear();
    }

    /// Subscribed (again): whatever was held may have missed announcements.
    pub fn subscribed(&self) {
        self.link.fetch_add(1, Ordering::SeqCst);
        self.clear();
        self.subscribed.store(true, Ordering::SeqCst);
    }

    fn clear(&self) {
        if let Some(views) = &self.views {
            views.clear();
        }
    }

    /// Bytes held (for the metrics).
    pub fn weight(&self) -> u64 {
        self.views.as_ref().map_or(0, Cache::weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(status: &str) -> NearView {
        NearView {
            json: Bytes::from(format!("{{\"status\":\"{status}\"}}")),
            may_ride: false,
            read_at: std::time::Instant::now(),
        }
    }

    fn live() -> NearCache {
        let near = NearCache::new(1 << 20);
        near.subscribed();
        near
    }

    fn held(near: &NearCache, tn: &str) -> Option<Bytes> {
        near.get(tn).map(|v| v.json)
    }

    #[test]
    fn a_fill_is_served_until_its_package_is_announced() {
        let near = live();
        let ticket = near.ticket("TN1");
        assert!(near.fill(ticket, "TN1", view("pending")));
        assert_eq!(held(&near, "TN1"), Some(view("pending").json));
        near.forget("TN1");
        assert_eq!(held(&near, "TN1"), None);
    }

    #[test]
    fn an_announcement_that_crossed_the_read_wins_over_the_older_view() {
        let near = live();
        let ticket = near.ticket("TN1");
        // The change is announced while the old view is on its way back.
        near.forget("TN1");
        assert!(!near.fill(ticket, "TN1", view("pending")));
        assert_eq!(held(&near, "TN1"), None);
        // A read after the announcement fills as usual.
        let ticket = near.ticket("TN1");
        assert!(near.fill(ticket, "TN1", view("in_transit")));
        assert_eq!(held(&near, "TN1"), Some(view("in_transit").json));
    }

    #[test]
    fn nothing_is_served_or_kept_without_the_subscription() {
        let near = live();
        let ticket = near.ticket("TN1");
        assert!(near.fill(ticket, "TN1", view("pending")));
        let crossing = near.ticket("TN2");
        near.link_lost();
        assert_eq!(held(&near, "TN1"), None, "not served while down");
        let ticket = near.ticket("TN1");
        assert!(
            !near.fill(ticket, "TN1", view("pending")),
            "not kept while down"
        );
        near.subscribed();
        assert_eq!(held(&near, "TN1"), None, "dropped: announcements were lost");
        assert!(
            !near.fill(crossing, "TN2", view("pending")),
            "a read begun before the link dropped is not kept"
        );
    }

    #[test]
    fn a_new_cache_serves_nothing_until_subscribed() {
        let near = NearCache::new(1 << 20);
        let ticket = near.ticket("TN1");
        assert!(!near.fill(ticket, "TN1", view("pending")));
        assert_eq!(held(&near, "TN1"), None);
    }

    #[test]
    fn a_view_older_than_its_age_is_not_served() {
        let near = live();
        let mut old = view("pending");
        old.read_at = std::time::Instant::now() - MAX_AGE;
        let ticket = near.ticket("TN1");
        assert!(near.fill(ticket, "TN1", old));
        assert_eq!(held(&near, "TN1"), None);
    }

    #[test]
    fn turned_off_it_keeps_nothing() {
        let near = NearCache::new(0);
        near.subscribed();
        let ticket = near.ticket("TN1");
        assert!(!near.fill(ticket, "TN1", view("pending")));
        assert!(!near.is_on());
    }

    #[test]
    fn it_holds_no_more_than_its_bytes() {
        let near = NearCache::new(64 * 1024);
        near.subscribed();
        let big = NearView {
            json: Bytes::from(vec![b'x'; 1024]),
            may_ride: false,
            read_at: std::time::Instant::now(),
        };
        for i in 0..1_000 {
            let tn = format!("TN{i}");
            let ticket = near.ticket(&tn);
            near.fill(ticket, &tn, big.clone());
        }
        assert!(near.weight() <= 64 * 1024, "{}", near.weight());
    }
}
