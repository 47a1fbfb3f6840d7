//! The presence sweep: couriers whose device has gone quiet past a
//! threshold are marked `stale`, then `offline`, and each change is
//! announced once. Every location worker sweeps; the row update decides
//! which one announces (only the statement that changed a row returns it).
//! A fix brings a courier back `online` with the window that stores it.

use crate::publisher::envelope_message;
use crate::runner::Runner;
use shared::amqp::Routing;
use shared::couriers::{CourierEvent, Presence, PresenceRules};
use shared::topology::Topology;
use shared::wire::{Envelope, Principal};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Who is due a change: online and quiet past the stale threshold, or
/// stale and quiet past the offline one.
const DUE: &str = "(presence = 'online' AND heard_at <= now() - make_interval(secs => $1)) \
    OR (presence = 'stale' AND heard_at <= now() - make_interval(secs => $2))";

/// The couriers whose presence changed in this sweep, as events. A read
/// first: most sweeps find nobody due and write nothing.
pub async fn sweep(pool: &PgPool, rules: &PresenceRules) -> Result<Vec<CourierEvent>, sqlx::Error> {
    let (stale, offline) = (
        rules.stale_after.as_secs_f64(),
        rules.offline_after.as_secs_f64(),
    );
    let due: bool = sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM courier_positions WHERE {DUE})"
    ))
    .bind(stale)
    .bind(offline)
    .fetch_one(pool)
    .await?;
    if !due {
        return Ok(Vec::new());
    }
    let rows: Vec<(Uuid, String, chrono::DateTime<chrono::Utc>, Option<f64>)> =
        sqlx::query_as(&format!(
            "UPDATE courier_positions SET presence = CASE \
             WHEN heard_at <= now() - make_interval(secs => $2) THEN 'offline' ELSE 'stale' END, \
             presence_changed_at = now() \
         WHERE {DUE} RETURNING courier_id, presence, heard_at, battery_pct"
        ))
        .bind(stale)
        .bind(offline)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(courier_id, presence, heard_at, battery_pct)| {
            Some(CourierEvent::PresenceChanged {
                courier_id,
                presence: Presence::parse(&presence)?,
                heard_at,
                battery_pct,
            })
        })
        .collect())
}

/// What the sweep task needs: the session's runner publishes, and its
/// stop ends the sweep with the session.
pub struct Sweeper {
    pub pool: PgPool,
    pub rules: PresenceRules,
    pub runner: Arc<Runner>,
}

impl Sweeper {
    /// How often: a twentieth of the stale threshold, between 1 and 10 s,
    /// so a change is announced close to when it happens.
    fn every(&self) -> Duration {
        (self.rules.stale_after / 20).clamp(Duration::from_secs(1), Duration::from_secs(10))
    }

    /// Sweeps until the session stops.
    pub async fn run(self) {
        let stop = self.runner.stop.clone();
        let mut tick = tokio::time::interval(self.every());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            match sweep(&self.pool, &self.rules).await {
                Ok(events) => self.announce(events).await,
                Err(error) => tracing::warn!(%error, "presence sweep failed; next time"),
            }
        }
    }

    /// Publishes the changes (a lost announcement leaves the stored
    /// presence right: every read computes it from `heard_at`).
    async fn announce(&self, events: Vec<CourierEvent>) {
        let messages: Vec<_> = events
            .into_iter()
            .filter_map(|event| {
                let kind = event.kind();
                let key = Topology::courier_event_routing_key(event.courier_id(), kind);
                let envelope = Envelope::new(
                    Uuid::now_v7(),
                    chrono::Utc::now(),
                    Principal::default(),
                    event,
                );
                envelope_message(
                    &self.runner.keys,
                    self.runner.topology.events_exchange(),
                    key,
                    &envelope,
                    kind,
                    Routing::BestEffort,
                )
                .ok()
            })
            .collect();
        if messages.is_empty() {
            return;
        }
        if let Err(error) = self.runner.publisher.publish_all(&messages).await {
            tracing::warn!(?error, "presence changes not announced");
        }
    }
}
