//! Attempts at once per endpoint in one worker, so a slow receiver holds
//! a few places of the pool, never all of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

/// Attempts at once per endpoint, in one worker (`WEBHOOK_ENDPOINT_CONCURRENCY`):
/// a slow receiver holds this many places, never the pool. Requests for a
/// busy endpoint go round the shortest delay line.
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

    pub fn try_take(&self, endpoint: Uuid) -> Option<OwnedSemaphorePermit> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        // Forget endpoints with nothing under way, so the map stays small.
        if held.len() > 1024 {
            held.retain(|_, s| s.available_permits() < self.limit);
        }
        let semaphore = held
            .entry(endpoint)
            .or_insert_with(|| Arc::new(Semaphore::new(self.limit)));
        Arc::clone(semaphore).try_acquire_owned().ok()
    }
}
