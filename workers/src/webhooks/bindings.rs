//! The opt-in kinds (`location`: a package's points; `courier_moved`: a
//! courier's) are the busiest, so the webhook pool's queue is bound to
//! them only while an endpoint wants them: checked every two seconds,
//! bound or unbound to match. Every other kind is bound by the topology,
//! always.

use super::Pool;
use lapin::options::QueueBindOptions;
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use shared::auth::policy::sees_all;
use shared::topology::Topology;
use shared::webhooks::kinds::{is_courier, OPT_IN};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const EVERY: Duration = Duration::from_secs(2);

/// Keeps the bindings in step until `stop` (Ok) or the channel fails.
pub async fn keep(
    connection: Arc<Connection>,
    topology: Topology,
    pool: Arc<Pool>,
    stop: CancellationToken,
) -> Result<(), lapin::Error> {
    let channel = connection.create_channel().await?;
    let mut bound: HashMap<&'static str, bool> = HashMap::new();
    loop {
        match pool.endpoints.current().await {
            Ok(endpoints) => {
                for kind in OPT_IN {
                    // Couriers' moves only for owners who may still watch them.
                    let wanted = endpoints.iter().any(|e| {
                        e.kinds.contains(*kind) && (!is_courier(kind) || sees_all(e.owner.role))
                    });
                    if bound.get(kind) != Some(&wanted) {
                        bind(&channel, &topology, kind, wanted).await?;
                        bound.insert(kind, wanted);
                    }
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

/// Binds (or unbinds) the pool's queue to `kind`.
async fn bind(
    channel: &Channel,
    topology: &Topology,
    kind: &str,
    wanted: bool,
) -> Result<(), lapin::Error> {
    let (queue, exchange) = (topology.webhook_events_queue(), topology.events_exchange());
    let key = Topology::webhook_event_binding(kind);
    if wanted {
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
    } else {
        channel
            .queue_unbind(
                queue.as_str().into(),
                exchange.as_str().into(),
                key.as_str().into(),
                FieldTable::default(),
            )
            .await
    }
}
