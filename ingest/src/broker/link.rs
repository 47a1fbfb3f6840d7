//! The supervised connection: one channel in confirm mode, which also
//! consumes `amq.rabbitmq.reply-to`. When the connection drops, the link is
//! cleared (publishes answer 503 at once) and the supervisor reconnects
//! with backoff.

use super::{Broker, Link, REPLY_TO};
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use shared::backoff::Backoff;
use shared::topology::DeclareError;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

impl Broker {
    /// Waits until connected (true) or `timeout` passes (false).
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let mut connected = self.inner.connected.subscribe();
        tokio::time::timeout(timeout, connected.wait_for(|c| *c))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Resolves with the reason if the broker's topology disagrees with this
    /// ingest's configuration; never otherwise.
    pub async fn misconfigured(&self) -> String {
        self.inner.misconfigured.cancelled().await;
        self.inner
            .why_misconfigured
            .lock()
            .ok()
            .and_then(|why| why.clone())
            .unwrap_or_default()
    }

    pub fn is_connected(&self) -> bool {
        self.link()
            .is_some_and(|link| link.connection.status().connected())
    }

    pub(super) fn link(&self) -> Option<Link> {
        self.inner.link.read().ok()?.clone()
    }

    fn set_link(&self, link: Option<Link>) {
        self.inner.connected.send_replace(link.is_some());
        self.inner
            .metrics
            .broker_connected
            .set(i64::from(link.is_some()));
        if let Ok(mut slot) = self.inner.link.write() {
            *slot = link;
        }
    }

    pub(super) async fn supervise(self, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        while !shutdown.is_cancelled() {
            match self.connect().await {
                Ok((link, mut replies)) => {
                    tracing::info!("connected to RabbitMQ");
                    backoff.reset();
                    self.set_link(Some(link.clone()));
                    loop {
                        let next = tokio::select! {
                            _ = shutdown.cancelled() => break,
                            next = replies.next() => next,
                        };
                        match next {
                            Some(Ok(delivery)) => {
                                if let Some(id) = delivery.properties.correlation_id() {
                                    self.deliver_outcome(id.as_str(), &delivery.data);
                                }
                            }
                            Some(Err(error)) => {
                                tracing::warn!(%error, "RabbitMQ link lost");
                                break;
                            }
                            None => break,
                        }
                    }
                    self.set_link(None);
                    let _ = link.connection.close(200, "ingest stopping".into()).await;
                }
                Err(error @ DeclareError::ShardsMismatch { .. }) => {
                    // Said once, by the process on its way out (main).
                    if let Ok(mut why) = self.inner.why_misconfigured.lock() {
                        *why = Some(error.to_string());
                    }
                    self.inner.misconfigured.cancel();
                    return;
                }
                Err(error) => tracing::warn!(%error, "cannot connect to RabbitMQ"),
            }
            let delay = backoff.next_delay();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn connect(&self) -> Result<(Link, lapin::Consumer), DeclareError> {
        let connection = self.inner.brokers.connect("delivertrack-ingest").await?;
        self.inner.topology.declare(&connection).await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        // Direct reply-to must be consumed (no-ack) on the publishing channel
        // before the first publish that names it.
        let replies = channel
            .basic_consume(
                REPLY_TO.into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok((
            Link {
                connection: Arc::new(connection),
                channel,
                abandoned: Arc::default(),
            },
            replies,
        ))
    }
}
