//! Taking a window: the first delivery plus every delivery that follows it
//! within a short linger (each next one may come up to [`Window::linger`]
//! after the last), up to a message and byte budget. Under load one round of
//! writes carries many messages; when idle a window is one message and
//! waits only the linger.

use super::ConsumeError;
use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::Consumer;
use std::time::Duration;

/// How big a window may grow, and how long it waits for more.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// At most this many messages (at most the channel's prefetch).
    pub max_messages: usize,
    /// At most about this many payload bytes.
    pub max_bytes: usize,
    /// How long to wait for one more delivery before the window closes.
    pub linger: Duration,
}

impl Window {
    /// Each of `parallel` windows in flight gets its share of the messages.
    pub fn shared_by(self, parallel: usize) -> Self {
        Self {
            max_messages: (self.max_messages / parallel.max(1)).max(1),
            ..self
        }
    }
}

/// The first delivery and whatever follows within the linger, up to the limits.
pub async fn take(
    consumer: &mut Consumer,
    first: Option<lapin::Result<Delivery>>,
    limits: Window,
) -> Result<Vec<Delivery>, ConsumeError> {
    let first = delivered(first)?;
    let mut bytes = first.data.len();
    let mut window = vec![first];
    while window.len() < limits.max_messages && bytes < limits.max_bytes {
        let next = match consumer.next().now_or_never() {
            Some(next) => next,
            None => match tokio::time::timeout(limits.linger, consumer.next()).await {
                Ok(next) => next,
                Err(_) => break,
            },
        };
        let next = delivered(next)?;
        bytes += next.data.len();
        window.push(next);
    }
    Ok(window)
}

fn delivered(next: Option<lapin::Result<Delivery>>) -> Result<Delivery, ConsumeError> {
    Ok(next.ok_or(ConsumeError::ConsumerEnded)??)
}
