//! Exponential backoff with jitter, for retrying transient failures
//! (a database restarting, a broker connection lost), and the one retry loop
//! every service uses.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    initial: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            next: initial,
            initial,
            max,
        }
    }

    /// The delay before the next attempt: doubles each time up to `max`, with up
    /// to 25% jitter so many retrying clients do not wake in lockstep.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let jitter = base.mul_f64(f64::from(nanos % 1000) / 4000.0);
        base + jitter
    }

    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// Why [`retry`] gave up.
#[derive(Debug, PartialEq, Eq)]
pub enum RetryError<E> {
    /// `cancel` fired while waiting to try again.
    Cancelled,
    /// The operation failed in a way retrying cannot fix.
    Permanent(E),
}

impl<E> RetryError<E> {
    pub fn map<F>(self, f: impl FnOnce(E) -> F) -> RetryError<F> {
        match self {
            Self::Cancelled => RetryError::Cancelled,
            Self::Permanent(error) => RetryError::Permanent(f(error)),
        }
    }
}

/// Runs `operation` until it succeeds, waiting out transient failures with
/// `backoff`; a permanent failure or `cancel` ends it. Each retry is logged
/// with `what` it was.
pub async fn retry<T, E, F, Fut>(
    mut backoff: Backoff,
    cancel: &CancellationToken,
    what: &str,
    mut operation: F,
    is_transient: impl Fn(&E) -> bool,
) -> Result<T, RetryError<E>>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    loop {
        match operation().await {
            Ok(value) => return Ok(value),
            Err(error) if is_transient(&error) => {
                let delay = backoff.next_delay();
                tracing::warn!(%error, ?delay, "{what} failed; retrying");
                if !sleep_unless_cancelled(delay, cancel).await {
                    return Err(RetryError::Cancelled);
                }
            }
            Err(error) => return Err(RetryError::Permanent(error)),
        }
    }
}

/// Sleeps for `delay`; false if `cancel` fired first.
pub async fn sleep_unless_cancelled(delay: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        let first = backoff.next_delay();
        assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(125));
        backoff.next_delay();
        let capped = backoff.next_delay();
        assert!(capped >= Duration::from_millis(400) && capped <= Duration::from_millis(500));
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(125));
    }

    #[tokio::test]
    async fn retry_waits_out_transient_errors_and_stops_at_permanent_ones() {
        let cancel = CancellationToken::new();
        let fast = || Backoff::new(Duration::from_millis(1), Duration::from_millis(2));
        let mut calls = 0;
        let result: Result<u32, RetryError<String>> = retry(
            fast(),
            &cancel,
            "test",
            || {
                calls += 1;
                let outcome = if calls < 3 {
                    Err("later".to_owned())
                } else {
                    Ok(calls)
                };
                async move { outcome }
            },
            |e: &String| e == "later",
        )
        .await;
        assert_eq!(result, Ok(3));
        let result: Result<(), _> = retry(
            fast(),
            &cancel,
            "test",
            || async { Err("never".to_owned()) },
            |e: &String| e == "later",
        )
        .await;
        assert_eq!(result, Err(RetryError::Permanent("never".to_owned())));
        cancel.cancel();
        let result: Result<(), _> = retry(
            fast(),
            &cancel,
            "test",
            || async { Err("later".to_owned()) },
            |_: &String| true,
        )
        .await;
        assert_eq!(result, Err(RetryError::Cancelled));
    }
}
