//! The late sweep: a promise that passed without delivery is announced
//! once (`delivery_late`). Every location worker sweeps; the row lock
//! (`SKIP LOCKED`) and the settled promise (`late_for`) decide which one
//! announces. A promise kept (delivered, cancelled) is settled silently,
//! so the sweep reads only promises still open.

use crate::geofences::notify::{self, Draft};
use crate::runner::Runner;
use chrono::{DateTime, Utc};
use shared::notices::Notice;
use shared::packages::notices::PackageNotice;
use shared::wire::{Envelope, PackageEvent, Principal};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Promises settled per sweep at most (the next sweep takes the rest).
const BATCH: i64 = 500;

/// Settles the promises due now; returns the late ones' notices.
pub async fn sweep(pool: &PgPool) -> Result<Vec<PackageNotice>, sqlx::Error> {
    // A read first (the index holds only open promises): most sweeps find
    // nothing due and open no transaction.
    let due: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM packages \
         WHERE promised_by IS NOT NULL AND late_for IS NULL AND promised_by <= now())",
    )
    .fetch_one(pool)
    .await?;
    if !due {
        return Ok(Vec::new());
    }
    let mut tx = pool.begin().await?;
    let due: Vec<(Uuid, String, DateTime<Utc>)> = sqlx::query_as(
        "WITH due AS ( \
            SELECT id FROM packages \
            WHERE promised_by IS NOT NULL AND late_for IS NULL AND promised_by <= now() \
            ORDER BY promised_by LIMIT $1 FOR UPDATE SKIP LOCKED) \
         UPDATE packages p SET late_for = p.promised_by FROM due WHERE p.id = due.id \
         RETURNING p.id, p.status, p.promised_by",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    let drafts: Vec<Draft> = due
        .into_iter()
        .filter(|(_, status, _)| !matches!(status.as_str(), "delivered" | "cancelled"))
        .map(|(package_id, _, promised_by)| {
            let name = format!("delivery_late:{}", promised_by.timestamp_micros());
            let event_id = Uuid::new_v5(&package_id, name.as_bytes());
            Draft {
                package_id,
                event_id,
                // Read back by its own id: no fix decided it.
                point_id: event_id,
                occurred_at: promised_by,
                notice: Notice::DeliveryLate { promised_by },
            }
        })
        .collect();
    if drafts.is_empty() {
        tx.commit().await?;
        return Ok(Vec::new());
    }
    notify::record_packages(&mut tx, &drafts).await?;
    tx.commit().await?;
    let ids: Vec<Uuid> = drafts.iter().map(|d| d.event_id).collect();
    let (notices, _) = notify::decided_by(pool, &ids, &super::ARRIVAL_KINDS).await?;
    Ok(notices)
}

/// The sweep task: the session's runner publishes, and its stop ends it.
pub struct LateSweeper {
    pub pool: PgPool,
    pub every: Duration,
    pub runner: Arc<Runner>,
}

impl LateSweeper {
    pub async fn run(self) {
        let stop = self.runner.stop.clone();
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            match sweep(&self.pool).await {
                Ok(notices) => self.announce(notices).await,
                Err(error) => tracing::warn!(%error, "late sweep failed; next time"),
            }
        }
    }

    /// Publishes the notices (stored already: a lost announcement is still
    /// in `/events` and in a WebSocket's replay).
    async fn announce(&self, notices: Vec<PackageNotice>) {
        let messages: Vec<_> = notices
            .into_iter()
            .filter_map(|notice| {
                let event = Envelope::new(
                    Uuid::now_v7(),
                    Utc::now(),
                    Principal::default(),
                    PackageEvent::Notice(notice),
                );
                self.runner.event_message(&event).ok()
            })
            .collect();
        if messages.is_empty() {
            return;
        }
        if let Err(error) = self.runner.publisher.publish_all(&messages).await {
            tracing::warn!(?error, "late notices not announced");
        }
    }
}
