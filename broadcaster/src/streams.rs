//! What one client receives of each package it watches: every event, once,
//! strictly by `seq`, live and read back from the stores alike.
//!
//! Events reach the broadcaster through two worker pools, so they may arrive
//! out of order, and one may be lost in flight (the broker link dropped). For
//! each watched package this keeps `next`, the seq the client needs, and
//! holds later events until it comes. When `next` is missing it asks the
//! stores for it ([`Streams::due_fetch`]), a page at a time:
//!
//! - at once when the stores are known to be ahead (a `since_seq` catch-up,
//!   or live events dropped while catching up);
//! - after [`GAP_WAIT`] when only a later live event shows the gap (the
//!   missing one is usually just behind it, through the other pool);
//! - again after [`IN_FLIGHT_RETRY`] while the stores have numbered the event
//!   but not stored it yet.
//!
//! Only what the stores will never have is skipped, and the client is told:
//! [`Output::Gap`]. Live events are hints, the stores the truth: a client
//! catching up holds at most `hold_limit` live events per package and drops
//! the newest beyond that, to read them back later. So a long replay costs
//! bounded memory and never counts against a client that reads.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use tokio::time::Instant;

/// How long a later live event may stand alone before the stores are asked
/// for the missing one.
pub const GAP_WAIT: Duration = Duration::from_millis(500);
/// How soon to ask again for an event numbered but not stored yet.
pub const IN_FLIGHT_RETRY: Duration = Duration::from_millis(500);
/// How long an event may stay numbered-but-unstored before it is skipped.
pub const GIVE_UP: Duration = Duration::from_secs(30);
/// How soon to ask again after the stores failed.
pub const STORE_RETRY: Duration = Duration::from_secs(1);
/// Events per page read from the stores.
pub const PAGE: i64 = 256;

/// What the client is sent, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output<T> {
    Event(T),
    /// Seqs `from..=to` of the package will never come.
    Gap {
        tracking_number: String,
        from: i64,
        to: i64,
    },
}

/// A read the stores owe a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    pub tracking_number: String,
    pub from: i64,
    pub limit: i64,
}

/// A page as the streams need it (see `store::Page`).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub head: i64,
    pub end: i64,
    pub events: BTreeMap<i64, T>,
    pub in_flight: BTreeSet<i64>,
}

struct Track<T> {
    /// The seq the client needs next; `None` until the subscription starts.
    next: Option<i64>,
    /// Events after `next`, held until it comes.
    waiting: BTreeMap<i64, T>,
    /// The stores are known to hold events up to here.
    stored_up_to: i64,
    /// Since when `next` has been missing.
    missing_since: Option<Instant>,
    /// When to ask the stores; `None`: no need.
    fetch_at: Option<Instant>,
    /// No read before this (after a failed read, or while an event is in flight).
    not_before: Option<Instant>,
    fetching: bool,
}

impl<T> Track<T> {
    fn new() -> Self {
        Self {
            next: None,
            waiting: BTreeMap::new(),
            stored_up_to: 0,
            missing_since: None,
            fetch_at: None,
            not_before: None,
            fetching: false,
        }
    }
}

pub struct Streams<T> {
    tracks: HashMap<String, Track<T>>,
    hold_limit: usize,
}

impl<T> Streams<T> {
    pub fn new(hold_limit: usize) -> Self {
        Self {
            tracks: HashMap::new(),
            hold_limit: hold_limit.max(1),
        }
    }

    /// Starts holding the package's live events: the start is not known yet.
    pub fn watch(&mut self, tracking_number: &str) {
        self.tracks
            .entry(tracking_number.to_owned())
            .or_insert_with(Track::new);
    }

    /// The subscription is confirmed: the client gets the events after
    /// `after`, reading back from the stores whatever of them is not held
    /// live. `head` is the package's last seq, read after its live events
    /// were bound, so everything past it comes live.
    pub fn start(
        &mut self,
        tracking_number: &str,
        after: i64,
        head: i64,
        now: Instant,
        out: &mut Vec<Output<T>>,
    ) {
        let Some(track) = self.tracks.get_mut(tracking_number) else {
            return;
        };
        if track.next.is_some() {
            return;
        }
        track.next = Some(after + 1);
        track.waiting = track.waiting.split_off(&(after + 1));
        track.stored_up_to = track.stored_up_to.max(head);
        advance(track, now, out);
    }

    /// Live events may have been lost (the event stream was down): every
    /// started package asks the stores where its sequence stands.
    pub fn resync(&mut self, now: Instant) {
        for track in self.tracks.values_mut() {
            if track.next.is_some() && !track.fetching {
                track.not_before = None;
                track.fetch_at = Some(now);
            }
        }
    }

    pub fn forget(&mut self, tracking_number: &str) {
        self.tracks.remove(tracking_number);
    }

    /// A live event.
    pub fn offer(
        &mut self,
        tracking_number: &str,
        seq: i64,
        item: T,
        now: Instant,
        out: &mut Vec<Output<T>>,
    ) {
        let Some(track) = self.tracks.get_mut(tracking_number) else {
            return;
        };
        if track.next.is_some_and(|next| seq < next) {
            return; // a duplicate, or from before the subscription
        }
        hold(track, seq, item, self.hold_limit);
        advance(track, now, out);
    }

    /// The next read the stores owe, if one is due; it is then in progress
    /// until [`Streams::on_page`] or [`Streams::on_fetch_failed`].
    pub fn due_fetch(&mut self, now: Instant) -> Option<Fetch> {
        let (tracking_number, track) = self
            .tracks
            .iter_mut()
            .filter(|(_, t)| !t.fetching && t.fetch_at.is_some_and(|at| at <= now))
            .min_by_key(|(_, t)| t.fetch_at)?;
        let from = track.next?;
        track.fetching = true;
        track.fetch_at = None;
        Some(Fetch {
            tracking_number: tracking_number.clone(),
            from,
            limit: PAGE,
        })
    }

    /// When the next read falls due, if any is waiting.
    pub fn next_fetch_at(&self) -> Option<Instant> {
        self.tracks
            .values()
            .filter(|t| !t.fetching)
            .filter_map(|t| t.fetch_at)
            .min()
    }

    pub fn on_fetch_failed(&mut self, tracking_number: &str, now: Instant) {
        if let Some(track) = self.tracks.get_mut(tracking_number) {
            track.fetching = false;
            track.not_before = Some(now + STORE_RETRY);
            track.fetch_at = track.not_before;
        }
    }

    /// What the stores returned for a [`Fetch`].
    pub fn on_page(
        &mut self,
        tracking_number: &str,
        page: Page<T>,
        now: Instant,
        out: &mut Vec<Output<T>>,
    ) {
        let Some(track) = self.tracks.get_mut(tracking_number) else {
            return;
        };
        track.fetching = false;
        let Some(next) = track.next else {
            return;
        };
        track.stored_up_to = track.stored_up_to.max(page.head);
        let given_up = track
            .missing_since
            .is_some_and(|since| now.duration_since(since) >= GIVE_UP);
        let mut events = page.events;
        let mut next = next;
        // Walk the page: send what is there (live or read back), skip what
        // the page proves will never come, stop at what is still in flight.
        while next < page.end {
            if let Some(item) = track.waiting.remove(&next).or_else(|| events.remove(&next)) {
                out.push(Output::Event(item));
                next += 1;
                track.missing_since = None;
                track.not_before = None;
                continue;
            }
            if page.in_flight.contains(&next) && !given_up {
                track.not_before = Some(now + IN_FLIGHT_RETRY);
                break;
            }
            let mut to = next;
            while to + 1 < page.end
                && !track.waiting.contains_key(&(to + 1))
                && !events.contains_key(&(to + 1))
                && (given_up || !page.in_flight.contains(&(to + 1)))
            {
                to += 1;
            }
            tracing::warn!(
                tracking_number,
                from = next,
                to,
                "events the stores do not have; skipping"
            );
            out.push(Output::Gap {
                tracking_number: tracking_number.to_owned(),
                from: next,
                to,
            });
            next = to + 1;
            track.missing_since = None;
        }
        track.next = Some(next);
        advance(track, now, out);
    }
}

/// Holds a later event; beyond the limit the newest held one is dropped, to
/// be read back from the stores when its turn comes.
fn hold<T>(track: &mut Track<T>, seq: i64, item: T, hold_limit: usize) {
    track.waiting.insert(seq, item);
    if track.waiting.len() > hold_limit {
        if let Some((dropped, _)) = track.waiting.pop_last() {
            track.stored_up_to = track.stored_up_to.max(dropped);
        }
    }
}

/// Sends whatever is next in line, then decides whether and when the stores
/// must be asked for what is missing.
fn advance<T>(track: &mut Track<T>, now: Instant, out: &mut Vec<Output<T>>) {
    let Some(mut next) = track.next else { return };
    while let Some(item) = track.waiting.remove(&next) {
        out.push(Output::Event(item));
        next += 1;
        track.missing_since = None;
        track.not_before = None;
    }
    track.next = Some(next);
    if track.fetching {
        return;
    }
    let behind_stores = next <= track.stored_up_to;
    let overtaken = !track.waiting.is_empty();
    if !behind_stores && !overtaken {
        track.missing_since = None;
        track.fetch_at = None;
        return;
    }
    let since = *track.missing_since.get_or_insert(now);
    let due = if behind_stores { now } else { since + GAP_WAIT };
    let due = track
        .not_before
        .map_or(due, |not_before| due.max(not_before));
    // An earlier deadline stands.
    track.fetch_at = Some(track.fetch_at.map_or(due, |at| at.min(due)));
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "P";

    fn events(out: &mut Vec<Output<i64>>) -> Vec<i64> {
        out.drain(..)
            .map(|o| match o {
                Output::Event(seq) => seq,
                Output::Gap { from, to, .. } => -(from * 1000 + to),
            })
            .collect()
    }

    fn page(head: i64, from: i64, stored: &[i64], in_flight: &[i64]) -> Page<i64> {
        Page {
            head,
            end: (from + PAGE).min(head + 1),
            events: stored.iter().map(|s| (*s, *s)).collect(),
            in_flight: in_flight.iter().copied().collect(),
        }
    }

    /// A package with no events yet, watched from its start.
    fn started() -> (Streams<i64>, Instant) {
        let mut s = Streams::new(100);
        let now = Instant::now();
        s.watch(P);
        let mut out = Vec::new();
        s.start(P, 0, 0, now, &mut out);
        assert!(out.is_empty());
        assert_eq!(s.due_fetch(now), None, "nothing to read back");
        (s, now)
    }

    #[test]
    fn live_events_go_out_in_seq_order_once() {
        let (mut s, now) = started();
        let mut out = Vec::new();
        s.offer(P, 2, 2, now, &mut out);
        assert!(out.is_empty(), "2 waits for 1");
        s.offer(P, 1, 1, now, &mut out);
        s.offer(P, 1, 1, now, &mut out);
        s.offer(P, 3, 3, now, &mut out);
        assert_eq!(events(&mut out), [1, 2, 3]);
        assert_eq!(s.due_fetch(now), None, "nothing missing, nothing to read");
    }

    #[test]
    fn held_events_before_the_head_are_dropped_at_the_start() {
        let mut s = Streams::new(100);
        let now = Instant::now();
        s.watch(P);
        let mut out = Vec::new();
        s.offer(P, 4, 4, now, &mut out);
        s.offer(P, 6, 6, now, &mut out);
        s.start(P, 5, 5, now, &mut out);
        assert_eq!(events(&mut out), [6]);
        assert_eq!(s.due_fetch(now), None, "the head is known");
    }

    #[test]
    fn a_gap_is_filled_from_the_stores_after_the_wait() {
        let (mut s, now) = started();
        let mut out = Vec::new();
        s.offer(P, 1, 1, now, &mut out);
        s.offer(P, 3, 3, now, &mut out);
        assert_eq!(events(&mut out), [1]);
        assert_eq!(s.due_fetch(now), None, "2 may still come live");
        let later = now + GAP_WAIT;
        let fetch = s.due_fetch(later).expect("then the stores are asked");
        assert_eq!(fetch.from, 2);
        s.on_page(P, page(3, 2, &[2, 3], &[]), later, &mut out);
        assert_eq!(events(&mut out), [2, 3]);
    }

    #[test]
    fn only_what_the_stores_lack_is_skipped_and_announced() {
        let (mut s, now) = started();
        let mut out = Vec::new();
        s.offer(P, 5, 5, now, &mut out);
        let later = now + GAP_WAIT;
        s.due_fetch(later).unwrap();
        // 1 stored, 2-3 never numbered, 4 numbered but not stored yet.
        s.on_page(P, page(5, 1, &[1, 5], &[4]), later, &mut out);
        assert_eq!(events(&mut out), [1, -2003]);
        let retry = later + IN_FLIGHT_RETRY;
        assert_eq!(s.due_fetch(retry).map(|f| f.from), Some(4));
        s.on_page(P, page(5, 4, &[4, 5], &[]), retry, &mut out);
        assert_eq!(events(&mut out), [4, 5]);
    }

    #[test]
    fn an_event_that_never_gets_stored_is_given_up() {
        let (mut s, now) = started();
        let mut out = Vec::new();
        s.offer(P, 2, 2, now, &mut out);
        let mut at = now + GAP_WAIT;
        s.due_fetch(at).unwrap();
        s.on_page(P, page(2, 1, &[2], &[1]), at, &mut out);
        assert!(out.is_empty());
        at += GIVE_UP;
        s.due_fetch(at).unwrap();
        s.on_page(P, page(2, 1, &[2], &[1]), at, &mut out);
        assert_eq!(events(&mut out), [-1001, 2]);
    }

    #[test]
    fn a_long_catch_up_pages_through_with_bounded_holding() {
        let mut s = Streams::new(10);
        let now = Instant::now();
        s.watch(P);
        let mut out = Vec::new();
        let head = 1000;
        s.start(P, 0, head, now, &mut out);
        let mut sent = Vec::new();
        // Live events keep coming while the client catches up.
        for live in head + 1..=head + 50 {
            s.offer(P, live, live, now, &mut out);
        }
        while let Some(fetch) = s.due_fetch(now) {
            let from = fetch.from;
            let end = (from + fetch.limit).min(head + 51);
            let stored: Vec<i64> = (from..end).collect();
            s.on_page(P, page(head + 50, from, &stored, &[]), now, &mut out);
            sent.extend(events(&mut out));
        }
        assert_eq!(
            sent,
            (1..=head + 50).collect::<Vec<_>>(),
            "everything once, in order"
        );
        s.offer(P, head + 51, head + 51, now, &mut out);
        assert_eq!(events(&mut out), [head + 51], "then live");
    }

    #[test]
    fn a_failed_read_is_retried() {
        let (mut s, now) = started();
        let mut out = Vec::new();
        s.offer(P, 2, 2, now, &mut out);
        let at = now + GAP_WAIT;
        s.due_fetch(at).unwrap();
        s.on_fetch_failed(P, at);
        assert_eq!(s.due_fetch(at), None);
        assert!(s.due_fetch(at + STORE_RETRY).is_some());
    }

    #[test]
    fn after_a_resync_the_stores_are_asked_for_a_missed_tail() {
        let (mut s, now) = started();
        let mut out = Vec::new();
        s.offer(P, 1, 1, now, &mut out);
        assert_eq!(events(&mut out), [1]);
        assert_eq!(s.due_fetch(now), None);
        // 2 and 3 were published while the event stream was down.
        s.resync(now);
        assert_eq!(s.due_fetch(now).map(|f| f.from), Some(2));
        s.on_page(P, page(3, 2, &[2, 3], &[]), now, &mut out);
        assert_eq!(events(&mut out), [2, 3]);
        assert_eq!(s.due_fetch(now), None);
    }

    #[test]
    fn forgotten_packages_are_ignored() {
        let (mut s, now) = started();
        s.forget(P);
        let mut out = Vec::new();
        s.offer(P, 1, 1, now, &mut out);
        assert!(out.is_empty());
        assert_eq!(s.next_fetch_at(), None);
    }
}
