//! A reading kept for a while and refreshed by one caller at a time.
//!
//! `/api/v1/stats` asks the broker for every worker queue's depth (about
//! 8 ms, 21 queues), and every open dashboard asks every few seconds: one
//! reading answers the requests that come while it is fresh, and when it
//! goes stale only one request reads again; the others answer with the last
//! reading meanwhile (or, before the first, wait for it). So a burst of
//! requests costs the broker one reading, not one each.
//!
//! Nothing is locked across an await: the mutex guards the reading and a
//! flag, and a [`Notify`] wakes the callers that had nothing to answer with.
//! A refresh whose caller went away (a dropped request) hands the turn on.

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

pub struct Recent<T> {
    fresh_for: Duration,
    state: Mutex<State<T>>,
    refreshed: Notify,
}

struct State<T> {
    reading: Option<(Instant, T)>,
    /// A caller is reading anew.
    refreshing: bool,
}

impl<T: Clone> Recent<T> {
    pub fn new(fresh_for: Duration) -> Self {
        Self {
            fresh_for,
            state: Mutex::new(State {
                reading: None,
                refreshing: false,
            }),
            refreshed: Notify::new(),
        }
    }

    /// The reading if fresh; else the last one while another caller reads
    /// anew; else `read`'s answer, kept.
    pub async fn get<F, Fut>(&self, read: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        loop {
            // Registered before the state is looked at: a refresh that ends
            // in between still wakes this caller.
            let refreshed = self.refreshed.notified();
            {
                let mut state = self.lock();
                match (&state.reading, state.refreshing) {
                    (Some((at, value)), _) if at.elapsed() < self.fresh_for => {
                        return value.clone()
                    }
                    (Some((_, value)), true) => return value.clone(),
                    (None, true) => {}
                    (_, false) => {
                        state.refreshing = true;
                        break;
                    }
                }
            }
            refreshed.await;
        }
        let turn = Turn(self);
        let value = read().await;
        self.lock().reading = Some((Instant::now(), value.clone()));
        drop(turn);
        value
    }
}

impl<T> Recent<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The refreshing caller's turn: ended when it is dropped, whether the
/// reading was taken or the caller went away.
struct Turn<'a, T>(&'a Recent<T>);

impl<T> Drop for Turn<'_, T> {
    fn drop(&mut self) {
        self.0.lock().refreshing = false;
        self.0.refreshed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    async fn slow_read(reads: &AtomicUsize) -> usize {
        tokio::time::sleep(Duration::from_millis(30)).await;
        reads.fetch_add(1, Ordering::SeqCst) + 1
    }

    #[tokio::test]
    async fn a_burst_of_callers_costs_one_reading() {
        let recent = Arc::new(Recent::new(Duration::from_secs(60)));
        let reads = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..50)
            .map(|_| {
                let (recent, reads) = (Arc::clone(&recent), Arc::clone(&reads));
                tokio::spawn(async move { recent.get(|| slow_read(&reads)).await })
            })
            .collect();
        for caller in callers {
            assert_eq!(
                caller.await.expect("a caller"),
                1,
                "every caller got the one reading"
            );
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_stale_reading_is_read_again_once_and_served_meanwhile() {
        let recent = Arc::new(Recent::new(Duration::from_millis(20)));
        let reads = Arc::new(AtomicUsize::new(0));
        assert_eq!(recent.get(|| slow_read(&reads)).await, 1);
        tokio::time::sleep(Duration::from_millis(40)).await;
        // Stale: the first caller reads anew, the others get the last reading.
        let refresher = tokio::spawn({
            let (recent, reads) = (Arc::clone(&recent), Arc::clone(&reads));
            async move { recent.get(|| slow_read(&reads)).await }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(
            recent.get(|| slow_read(&reads)).await,
            1,
            "the last reading"
        );
        assert_eq!(refresher.await.expect("the refresher"), 2);
        assert_eq!(
            recent.get(|| slow_read(&reads)).await,
            2,
            "the new one, fresh"
        );
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_refresh_whose_caller_went_away_hands_the_turn_on() {
        let recent: Arc<Recent<usize>> = Arc::new(Recent::new(Duration::from_secs(60)));
        let gone = tokio::spawn({
            let recent = Arc::clone(&recent);
            async move { recent.get(std::future::pending).await }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let waiting = tokio::spawn({
            let recent = Arc::clone(&recent);
            async move { recent.get(|| async { 7 }).await }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        gone.abort();
        let got = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the waiting caller took the turn")
            .expect("a caller");
        assert_eq!(got, 7);
    }
}
