//! Attempts at once per endpoint in one worker, so a slow receiver holds
//! a few places of the pool, never all of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

/// How long a request waits for a place at its endpoint before it goes
/// round the delay line (1 s): long against a fast receiver's attempt,
/// short against a slow one's 10 s.
pub const PLACE_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// Attempts at once per endpoint, in one worker (`WEBHOOK_ENDPOINT_CONCURRENCY`):
/// a slow receiver holds this many places, never the pool. A request for a
/// busy endpoint waits a moment for a place ([`PLACE_WAIT`]), then goes
/// round the shortest delay line.
#[derive(Default)]
pub struct EndpointLimits {
    limit: usize,
    held: Mutex<HashMap<Uuid, Arc<Semaphore>>>,
}

impl EndpointLimits {
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            held: Mutex::default(),
        }
    }

    /// A place for an attempt at `endpoint`, waiting up to `wait` for one
    /// (in turn: the semaphore is fair). A fast receiver frees places every
    /// few milliseconds, so its requests wait here instead of going round
    /// the delay line; a slow one keeps a request at most `wait`.
    pub async fn take_within(
        &self,
        endpoint: Uuid,
        wait: std::time::Duration,
    ) -> Option<OwnedSemaphorePermit> {
        let semaphore = self.semaphore(endpoint);
        tokio::time::timeout(wait, semaphore.acquire_owned())
            .await
            .ok()?
            .ok()
    }

    /// The endpoint's semaphore (the lock is let go before anyone waits).
    fn semaphore(&self, endpoint: Uuid) -> Arc<Semaphore> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        // Forget endpoints with nothing under way, so the map stays small.
        if held.len() > 1024 {
            held.retain(|_, s| s.available_permits() < self.limit);
        }
        let semaphore = held
            .entry(endpoint)
            .or_insert_with(|| Arc::new(Semaphore::new(self.limit)));
        Arc::clone(semaphore)
    }
}
