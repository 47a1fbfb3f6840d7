//! Per-package ordering of what one client receives.
//!
//! Every event of a package carries a consecutive `seq`, but events reach the
//! broadcaster through two worker pools and may arrive out of order. For each
//! package a client watches, the writer sends events strictly by `seq`: the
//! next expected one goes out (with any held successors), a later one waits,
//! an earlier one is a duplicate (or from before the subscription) and is
//! dropped. The same path orders a `since_seq` replay merged with live events.
//!
//! A gap that stays open (an event lost while the broker link was down) is
//! skipped after [`GAP_TIMEOUT`] so one lost event cannot stall a client; the
//! client sees the jump in `seq` and can ask for a replay.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::time::Instant;

pub const GAP_TIMEOUT: Duration = Duration::from_secs(2);

enum Track<T> {
    /// Subscribed, but the starting seq is not known yet: hold everything.
    Holding(Vec<(i64, T)>),
    Ordered {
        next: i64,
        waiting: BTreeMap<i64, T>,
        gap_since: Option<Instant>,
    },
}

pub struct Ordering<T> {
    tracks: HashMap<String, Track<T>>,
    held: usize,
    limit: usize,
}

/// Too many events held for one client.
#[derive(Debug, PartialEq, Eq)]
pub struct Overflow;

impl<T> Ordering<T> {
    pub fn new(limit: usize) -> Self {
        Self {
            tracks: HashMap::new(),
            held: 0,
            limit,
        }
    }

    /// Starts holding a package's events until [`Ordering::start`] says where
    /// its sequence begins for this client.
    pub fn hold(&mut self, package: &str) {
        self.tracks
            .entry(package.to_owned())
            .or_insert(Track::Holding(Vec::new()));
    }

    /// The next seq this client should get is `next`; releases what was held.
    pub fn start(&mut self, package: &str, next: i64, out: &mut Vec<T>) -> Result<(), Overflow> {
        let held = match self.tracks.remove(package) {
            Some(Track::Holding(held)) => held,
            Some(track @ Track::Ordered { .. }) => {
                self.tracks.insert(package.to_owned(), track);
                return Ok(());
            }
            None => Vec::new(),
        };
        self.held -= held.len();
        self.tracks.insert(
            package.to_owned(),
            Track::Ordered {
                next,
                waiting: BTreeMap::new(),
                gap_since: None,
            },
        );
        for (seq, item) in held {
            self.offer(package, seq, item, out)?;
        }
        Ok(())
    }

    pub fn forget(&mut self, package: &str) {
        match self.tracks.remove(package) {
            Some(Track::Holding(held)) => self.held -= held.len(),
            Some(Track::Ordered { waiting, .. }) => self.held -= waiting.len(),
            None => {}
        }
    }

    /// Offers one event; whatever may now be sent, in order, lands in `out`.
    pub fn offer(
        &mut self,
        package: &str,
        seq: i64,
        item: T,
        out: &mut Vec<T>,
    ) -> Result<(), Overflow> {
        let Some(track) = self.tracks.get_mut(package) else {
            return Ok(());
        };
        match track {
            Track::Holding(held) => {
                held.push((seq, item));
                self.held += 1;
            }
            Track::Ordered {
                next,
                waiting,
                gap_since,
            } => {
                if seq < *next || waiting.contains_key(&seq) {
                    return Ok(());
                }
                if seq > *next {
                    waiting.insert(seq, item);
                    gap_since.get_or_insert_with(Instant::now);
                    self.held += 1;
                } else {
                    out.push(item);
                    *next += 1;
                    while let Some(item) = waiting.remove(next) {
                        self.held -= 1;
                        out.push(item);
                        *next += 1;
                    }
                    *gap_since = if waiting.is_empty() {
                        None
                    } else {
                        Some(Instant::now())
                    };
                }
            }
        }
        if self.held > self.limit {
            Err(Overflow)
        } else {
            Ok(())
        }
    }

    /// Skips gaps open longer than [`GAP_TIMEOUT`]: sends what waits behind them.
    pub fn expire_gaps(&mut self, now: Instant, out: &mut Vec<T>) {
        for track in self.tracks.values_mut() {
            let Track::Ordered {
                next,
                waiting,
                gap_since,
            } = track
            else {
                continue;
            };
            if gap_since.is_some_and(|since| now.duration_since(since) >= GAP_TIMEOUT) {
                tracing::warn!(
                    missing_from = *next,
                    "skipping a gap in a package's event sequence"
                );
                let drained = std::mem::take(waiting);
                self.held -= drained.len();
                for (seq, item) in drained {
                    out.push(item);
                    *next = seq + 1;
                }
                *gap_since = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(o: &mut Ordering<i64>, seq: i64) -> Vec<i64> {
        let mut out = Vec::new();
        o.offer("P", seq, seq, &mut out).unwrap();
        out
    }

    #[test]
    fn sends_in_seq_order_and_drops_duplicates_and_old_events() {
        let mut o = Ordering::new(100);
        o.hold("P");
        assert!(offer(&mut o, 5).is_empty(), "held until the start is known");
        let mut out = Vec::new();
        o.start("P", 3, &mut out).unwrap();
        assert!(out.is_empty(), "5 waits for 3 and 4");
        assert_eq!(
            offer(&mut o, 2),
            Vec::<i64>::new(),
            "before the start: dropped"
        );
        assert_eq!(offer(&mut o, 4), Vec::<i64>::new());
        assert_eq!(offer(&mut o, 3), vec![3, 4, 5]);
        assert_eq!(offer(&mut o, 4), Vec::<i64>::new(), "a duplicate");
        assert_eq!(offer(&mut o, 6), vec![6]);
    }

    #[test]
    fn a_gap_that_stays_open_is_skipped() {
        let mut o = Ordering::new(100);
        let mut out = Vec::new();
        o.start("P", 1, &mut out).unwrap();
        assert!(offer(&mut o, 3).is_empty());
        o.expire_gaps(Instant::now(), &mut out);
        assert!(out.is_empty(), "not yet");
        o.expire_gaps(Instant::now() + GAP_TIMEOUT, &mut out);
        assert_eq!(out, vec![3]);
        assert_eq!(
            offer(&mut o, 2),
            Vec::<i64>::new(),
            "the late one is behind the sequence now"
        );
        assert_eq!(offer(&mut o, 4), vec![4]);
    }

    #[test]
    fn too_much_held_is_an_overflow() {
        let mut o = Ordering::new(2);
        let mut out = Vec::new();
        o.start("P", 1, &mut out).unwrap();
        o.offer("P", 3, 3, &mut out).unwrap();
        o.offer("P", 4, 4, &mut out).unwrap();
        assert_eq!(o.offer("P", 5, 5, &mut out), Err(Overflow));
    }

    #[test]
    fn unwatched_packages_are_ignored() {
        let mut o: Ordering<i64> = Ordering::new(10);
        assert!(offer(&mut o, 1).is_empty());
        o.hold("P");
        o.forget("P");
        assert!(offer(&mut o, 1).is_empty());
    }
}
