//! Applying a window's units together, retrying what is transient; when they
//! fail for good together, each alone, so one poisonous message cannot hold
//! the others back.

use super::Runner;
use crate::publisher::Abandoned;
use shared::backoff::{retry, Backoff, RetryError};
use std::future::Future;
use std::time::Duration;

/// One unit's result after [`Runner::apply_isolating`].
pub enum Applied<T> {
    Done(T),
    /// Failed for good, alone: dead-letter it with this reason.
    Failed(String),
}

impl Runner {
    /// Applies `units` together; if that fails for good, each alone. The
    /// ones that fail alone are reported [`Applied::Failed`].
    pub async fn apply_isolating<'a, U, T, E, Fut>(
        &self,
        pool: &'static str,
        units: &'a [U],
        apply: impl Fn(&'a [U]) -> Fut,
        is_transient: impl Fn(&E) -> bool + Copy,
    ) -> Result<Vec<Applied<T>>, Abandoned>
    where
        E: std::fmt::Display,
        Fut: Future<Output = Result<Vec<T>, E>>,
    {
        if units.is_empty() {
            return Ok(Vec::new());
        }
        match self
            .with_retry((pool, units.len()), || apply(units), is_transient)
            .await
        {
            Ok(results) => return Ok(results.into_iter().map(Applied::Done).collect()),
            Err(RetryError::Cancelled) => return Err(Abandoned),
            Err(RetryError::Permanent(error)) if units.len() == 1 => {
                return Ok(vec![Applied::Failed(format!("cannot be applied: {error}"))])
            }
            Err(RetryError::Permanent(error)) => {
                tracing::warn!(%error, units = units.len(), "window failed; applying its messages one by one");
            }
        }
        let mut results = Vec::with_capacity(units.len());
        for unit in units.chunks(1) {
            results.push(
                match self
                    .with_retry((pool, 1), || apply(unit), is_transient)
                    .await
                {
                    Ok(mut one) => Applied::Done(one.remove(0)),
                    Err(RetryError::Cancelled) => return Err(Abandoned),
                    Err(RetryError::Permanent(error)) => {
                        Applied::Failed(format!("cannot be applied: {error}"))
                    }
                },
            );
        }
        Ok(results)
    }

    /// Runs `operation` until it succeeds, fails for good or shutdown comes;
    /// each attempt after the first counts `messages` retried in `pool`.
    pub async fn with_retry<T, E, Fut>(
        &self,
        (pool, messages): (&'static str, usize),
        mut operation: impl FnMut() -> Fut,
        is_transient: impl Fn(&E) -> bool,
    ) -> Result<T, RetryError<E>>
    where
        E: std::fmt::Display,
        Fut: Future<Output = Result<T, E>>,
    {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut attempts = 0u64;
        let result = retry(
            backoff,
            &self.stop,
            "applying a window",
            || {
                attempts += 1;
                operation()
            },
            is_transient,
        )
        .await;
        if attempts > 1 {
            self.metrics
                .retried
                .with_label_values(&[pool])
                .inc_by((attempts - 1) * messages as u64);
        }
        result
    }
}
