//! The background tasks a service owns, and their one shutdown path.
//!
//! Each task is added with the token that stops it. [`Tasks::stop`] stops
//! them one at a time in the reverse order they were added — the last added
//! first — and waits for each, so a task added after the ones it uses stops
//! before them (add what others rely on first).

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
pub struct Tasks {
    owned: Vec<Task>,
}

struct Task {
    name: &'static str,
    stop: CancellationToken,
    handle: JoinHandle<()>,
}

impl Tasks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Owns a started task, stopped by cancelling `stop`.
    pub fn add(&mut self, name: &'static str, stop: CancellationToken, handle: JoinHandle<()>) {
        self.owned.push(Task { name, stop, handle });
    }

    /// Stops every task, last added first, each waited for before the next.
    pub async fn stop(self) {
        for task in self.owned.into_iter().rev() {
            task.stop.cancel();
            if let Err(error) = task.handle.await {
                tracing::error!(task = task.name, %error, "background task failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn tasks_stop_last_added_first_each_waited_for() {
        let stopped = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Tasks::new();
        for name in ["first", "second", "third"] {
            let stop = CancellationToken::new();
            let (token, log) = (stop.clone(), Arc::clone(&stopped));
            let handle = tokio::spawn(async move {
                token.cancelled().await;
                tokio::task::yield_now().await;
                log.lock().map(|mut l| l.push(name)).ok();
            });
            tasks.add(name, stop, handle);
        }
        tasks.stop().await;
        let order = stopped.lock().map(|l| l.clone()).unwrap_or_default();
        assert_eq!(order, ["third", "second", "first"]);
    }
}
