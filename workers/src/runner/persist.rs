//! Waiting out a store that is down, inside a flow's handler: the window
//! stays unacked meanwhile, and shutdown abandons it (the broker redelivers).

use super::Runner;
use crate::publisher::Abandoned;
use shared::backoff::Backoff;
use std::future::Future;
use std::time::Duration;

impl Runner {
    /// Runs `attempt` until it succeeds, logging each failure as `what`
    /// and backing off (0.1 s, doubling, at most 5 s); `Abandoned` when
    /// shutdown comes first.
    pub async fn until_done<T, E, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, Abandoned>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            match attempt().await {
                Ok(done) => return Ok(done),
                Err(error) => {
                    tracing::warn!(%error, "{what} failed; retrying");
                    tokio::select! {
                        _ = self.stop.cancelled() => return Err(Abandoned),
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                }
            }
        }
    }
}
