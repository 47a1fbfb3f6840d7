//! Zone evaluation in the order windows began. The location pool keeps two
//! windows in flight; if a later window's fixes were evaluated first, the
//! earlier window's would all be older than the subjects' last fix, and
//! skipped as late: their crossings lost. So each window takes a turn when
//! it begins, and evaluates zones only once every earlier window is done.
//!
//! The mutex guards only the counters and is never held across an
//! `.await`; waiting is on a [`Notify`].

use std::collections::BTreeSet;
use std::sync::Mutex;
use tokio::sync::Notify;

#[derive(Default)]
pub struct WindowOrder {
    state: Mutex<State>,
    moved: Notify,
}

#[derive(Default)]
struct State {
    /// The next turn to give.
    next: u64,
    /// Every turn below this one is done.
    low: u64,
    /// Turns done out of order, above `low`.
    done: BTreeSet<u64>,
}

/// One window's turn: done when dropped (whatever became of the window).
pub struct Turn<'a> {
    order: &'a WindowOrder,
    ticket: u64,
}

impl WindowOrder {
    pub fn take(&self) -> Turn<'_> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let ticket = state.next;
        state.next += 1;
        Turn {
            order: self,
            ticket,
        }
    }

    fn low(&self) -> u64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).low
    }
}

impl Turn<'_> {
    /// Waits until every earlier window is done.
    pub async fn wait(&self) {
        loop {
            let moved = self.order.moved.notified();
            if self.order.low() >= self.ticket {
                return;
            }
            moved.await;
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut state = self.order.state.lock().unwrap_or_else(|p| p.into_inner());
        state.done.insert(self.ticket);
        loop {
            let low = state.low;
            if !state.done.remove(&low) {
                break;
            }
            state.low = low + 1;
        }
        drop(state);
        self.order.moved.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn a_later_window_waits_for_every_earlier_one_to_be_done() {
        let order = Arc::new(WindowOrder::default());
        let first = order.take();
        let second = order.take();
        let third = order.take();
        first.wait().await;
        // The third waits while the second is in flight, even after the first.
        drop(first);
        let waited = tokio::time::timeout(Duration::from_millis(50), third.wait()).await;
        assert!(waited.is_err(), "the third must wait for the second");
        drop(second);
        tokio::time::timeout(Duration::from_secs(1), third.wait())
            .await
            .expect("the third's turn came");
    }

    #[tokio::test]
    async fn a_window_done_early_does_not_let_a_later_one_pass_an_earlier_one() {
        let order = WindowOrder::default();
        let first = order.take();
        let second = order.take();
        let third = order.take();
        drop(second);
        let waited = tokio::time::timeout(Duration::from_millis(50), third.wait()).await;
        assert!(waited.is_err(), "the first is still in flight");
        drop(first);
        tokio::time::timeout(Duration::from_secs(1), third.wait())
            .await
            .expect("both earlier are done");
    }
}
