//! The fan-out: a window of result events from `<prefix>.webhooks.events`
//! becomes one delivery row per (endpoint, event) the endpoint asked for
//! and its owner may see, and one send request per new delivery; the
//! window is acked once the requests are confirmed. A redelivered window
//! finds its rows (unique per endpoint and event) and asks again only for
//! those no attempt has started on, so a crash in between loses nothing.

use super::endpoints::Endpoint;
use super::Pool;
use crate::publisher::{envelope_message, Abandoned, Message};
use crate::runner::{Effects, Flow, Runner};
use lapin::message::Delivery;
use shared::amqp::Routing;
use shared::auth::policy::{sees, sees_all, PackageAccess};
use shared::couriers::CourierEvent;
use shared::webhooks::payload::{courier_occurrence, occurrences, Occurrence};
use shared::webhooks::SendRequest;
use shared::wire::{Envelope, PackageEvent, Principal};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use uuid::Uuid;

/// The routing keys of couriers' events (`courier.<id>.<kind>`).
const COURIER_KEYS: &str = "courier.";

pub struct FanOut {
    pub pool: Arc<Pool>,
}

impl Flow for FanOut {
    const POOL: &'static str = "webhooks";
    const PARALLEL: usize = 1;

    async fn handle<'a>(
        &'a self,
        runner: &'a Runner,
        queue: &'a str,
        window: &'a [Delivery],
    ) -> Result<Effects, Abandoned> {
        let mut messages = Vec::new();
        // The queue carries packages' events and couriers' (their routing
        // keys say which).
        let (couriers, packages): (Vec<&Delivery>, Vec<&Delivery>) = window
            .iter()
            .partition(|d| d.routing_key.as_str().starts_with(COURIER_KEYS));
        let mut occurred: Vec<Occurrence> = runner
            .decode_all::<PackageEvent>(Self::POOL, queue, packages, &mut messages)
            .iter()
            .flat_map(|(_, e)| occurrences(e.event_id, &e.body))
            .collect();
        occurred.extend(
            runner
                .decode_all::<CourierEvent>(Self::POOL, queue, couriers, &mut messages)
                .iter()
                .filter_map(|(_, e)| courier_occurrence(e.event_id, e.occurred_at, &e.body)),
        );
        if !occurred.is_empty() {
            let sends = runner
                .until_done("recording webhook deliveries", || self.record(&occurred))
                .await?;
            for send in sends {
                match send_message(runner, &send) {
                    Ok(message) => messages.push(message),
                    Err(error) => tracing::error!(%error, "cannot encode a send request"),
                }
            }
        }
        Ok(Effects {
            messages,
            ..Effects::default()
        })
    }
}

/// A send request for the sender, sealed like every message.
pub fn send_message(
    runner: &Runner,
    send: &SendRequest,
) -> Result<Message, shared::wire::WireError> {
    let envelope = Envelope::new(
        send.delivery_id,
        chrono::Utc::now(),
        Principal::default(),
        send.clone(),
    );
    envelope_message(
        &runner.keys,
        String::new(),
        runner.topology.webhook_send_queue(),
        &envelope,
        "webhook_send",
        Routing::Mandatory,
    )
}

impl FanOut {
    /// Records the deliveries the occurrences owe; the send requests to make.
    async fn record(&self, occurred: &[Occurrence]) -> Result<Vec<SendRequest>, sqlx::Error> {
        let endpoints = self.pool.endpoints.current().await?;
        let wanted: Vec<(&Endpoint, &Occurrence)> = occurred
            .iter()
            .flat_map(|o| {
                endpoints
                    .iter()
                    .filter(|e| e.wants(&o.kind, &o.subject))
                    .map(move |e| (e, o))
            })
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let access = self.access(&wanted).await?;
        // Couriers are staff's to watch: their events go to admins' and
        // dispatchers' endpoints only (an owner demoted since registering
        // gets none).
        let allowed = wanted.into_iter().filter(|(endpoint, o)| {
            sees_all(endpoint.owner.role)
                || o.subject.tracking_number().is_some_and(|tn| {
                    access
                        .get(tn)
                        .is_some_and(|package| sees(&endpoint.owner, package))
                })
        });
        let rows = Rows::of(allowed);
        if rows.ids.is_empty() {
            return Ok(Vec::new());
        }
        rows.insert(&self.pool.db).await
    }

    /// What the policy needs of the packages that endpoints of owners who
    /// do not see every package want.
    async fn access(
        &self,
        wanted: &[(&Endpoint, &Occurrence)],
    ) -> Result<HashMap<String, PackageAccess>, sqlx::Error> {
        let asked: HashSet<&str> = wanted
            .iter()
            .filter(|(endpoint, _)| !sees_all(endpoint.owner.role))
            .filter_map(|(_, o)| o.subject.tracking_number())
            .collect();
        if asked.is_empty() {
            return Ok(HashMap::new());
        }
        let asked: Vec<&str> = asked.into_iter().collect();
        shared::auth::access::load_many(&self.pool.db, &asked).await
    }
}

impl Rows {
    /// One row per (endpoint, occurrence).
    fn of<'a>(allowed: impl Iterator<Item = (&'a Endpoint, &'a Occurrence)>) -> Self {
        let mut rows = Rows::default();
        for (endpoint, o) in allowed {
            rows.ids
                .push(Uuid::new_v5(&endpoint.id, o.event_id.as_bytes()));
            rows.webhooks.push(endpoint.id);
            rows.events.push(o.event_id);
            rows.kinds.push(o.kind.clone());
            rows.tracking_numbers
                .push(o.subject.tracking_number().map(str::to_owned));
            rows.seqs.push(o.subject.seq());
            rows.couriers.push(o.subject.courier_id());
            rows.bodies.push(o.body());
        }
        rows
    }

    /// Records the rows (once: a redelivered window finds its own); the
    /// send requests for those no attempt has started on.
    async fn insert(&self, db: &sqlx::PgPool) -> Result<Vec<SendRequest>, sqlx::Error> {
        // An endpoint deleted meanwhile gets nothing (the join drops it).
        sqlx::query(
            "INSERT INTO webhook_deliveries \
                 (id, webhook_id, event_id, kind, tracking_number, seq, courier_id, body, \
                  created_at) \
             SELECT u.id, u.webhook_id, u.event_id, u.kind, u.tracking_number, u.seq, \
                    u.courier_id, u.body, now() \
             FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::int8[], \
                         $7::uuid[], $8::bytea[]) \
                  AS u(id, webhook_id, event_id, kind, tracking_number, seq, courier_id, body) \
             JOIN webhooks w ON w.id = u.webhook_id \
             ON CONFLICT DO NOTHING",
        )
        .bind(&self.ids)
        .bind(&self.webhooks)
        .bind(&self.events)
        .bind(&self.kinds)
        .bind(&self.tracking_numbers)
        .bind(&self.seqs)
        .bind(&self.couriers)
        .bind(&self.bodies)
        .execute(db)
        .await?;
        let unstarted: Vec<(Uuid, Uuid, bool)> = sqlx::query_as(
            "SELECT id, webhook_id, courier_id IS NOT NULL FROM webhook_deliveries \
             WHERE id = ANY($1) AND state = 'pending' AND attempts = 0",
        )
        .bind(&self.ids)
        .fetch_all(db)
        .await?;
        Ok(unstarted
            .into_iter()
            .map(|(delivery_id, webhook_id, courier)| SendRequest {
                delivery_id,
                webhook_id,
                redeliver: false,
                courier,
            })
            .collect())
    }
}

/// The deliveries to record, column by column (for `UNNEST`).
#[derive(Default)]
struct Rows {
    ids: Vec<Uuid>,
    webhooks: Vec<Uuid>,
    events: Vec<Uuid>,
    kinds: Vec<String>,
    tracking_numbers: Vec<Option<String>>,
    seqs: Vec<Option<i64>>,
    couriers: Vec<Option<Uuid>>,
    bodies: Vec<Vec<u8>>,
}
