//! `location` events are the busiest kind (a courier's phone posts every
//! few seconds), so the webhook pool's queue is bound to them only while
//! an endpoint wants them: checked every two seconds, bound or unbound
//! to match. Every other kind is bound by the topology, always.

use super::Pool;
use lapin::options::QueueBindOptions;
use lapin::types::FieldTable;
use lapin::Connection;
use shared::topology::Topology;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const EVERY: Duration = Duration::from_secs(2);

/// Keeps the binding in step until `stop` (Ok) or the channel fails.
pub async fn keep(
    connection: Arc<Connection>,
    topology: Topology,
    pool: Arc<Pool>,
    stop: CancellationToken,
) -> Result<(), lapin::Error> {
    let channel = connection.create_channel().await?;
    let (queue, exchange) = (topology.webhook_events_queue(), topology.events_exchange());
    let key = Topology::webhook_event_binding("location");
    let mut bound = None;
    loop {
        match pool.endpoints.current().await {
            Ok(endpoints) => {
                let wanted = endpoints.iter().any(|e| e.kinds.contains("location"));
                if bound != Some(wanted) {
                    if wanted {
                        channel
                            .queue_bind(
                                queue.as_str().into(),
                                exchange.as_str().into(),
                                key.as_str().into(),
                                QueueBindOptions::default(),
                                FieldTable::default(),
                            )
                            .await?;
                    } else {
                        channel
                            .queue_unbind(
                                queue.as_str().into(),
                                exchange.as_str().into(),
                                key.as_str().into(),
                                FieldTable::default(),
                            )
                            .await?;
                    }
                    bound = Some(wanted);
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read webhook endpoints"),
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
    let _ = channel.close(200, "webhook bindings kept".into()).await;
    Ok(())
}
