//! Reading a package's events back from the stores, a page at a time: status
//! history from PostgreSQL, location points from MongoDB, numbered by
//! `package_events`. Used for `since_seq` catch-up and to fill gaps left by
//! events lost in flight.
//!
//! A seq can be in three states here: *stored* (its data is readable),
//! *in flight* (numbered, but its data not written yet: a location point is
//! numbered in PostgreSQL a moment before MongoDB has it) or *absent* (not
//! numbered at all though the package's sequence has passed it: it will
//! never come).

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use shared::frames::{Data, PackageUpdate};
use shared::locations::stored::{self, HistoryDoc};
use sqlx::PgPool;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("status history unavailable: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("location history unavailable: {0}")]
    Mongo(#[from] mongodb::error::Error),
}

/// One page of a package's events.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Page {
    /// The package's last numbered seq when the page was read.
    pub head: i64,
    /// The first seq after the page: the page covers `[from, end)`.
    pub end: i64,
    /// Stored events in the page, by seq, rendered for clients.
    pub events: BTreeMap<i64, String>,
    /// Seqs of the page that are numbered but not stored yet.
    pub in_flight: BTreeSet<i64>,
}

#[derive(Clone)]
pub struct EventStore {
    pool: PgPool,
    history: mongodb::Collection<mongodb::bson::Document>,
}

#[derive(sqlx::FromRow)]
struct StatusRow {
    event_id: Uuid,
    seq: i64,
    status: String,
    previous_status: Option<String>,
    location: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    occurred_at: DateTime<Utc>,
}

impl EventStore {
    pub fn new(pool: PgPool, history: mongodb::Collection<mongodb::bson::Document>) -> Self {
        Self { pool, history }
    }

    /// The package's last numbered seq; `None` if there is no such package.
    pub async fn head(&self, tracking_number: &str) -> Result<Option<i64>, StoreError> {
        let head = sqlx::query_scalar("SELECT event_seq FROM packages WHERE tracking_number = $1")
            .bind(tracking_number)
            .fetch_optional(&self.pool)
            .await?;
        Ok(head)
    }

    /// The events with seq in `[from, from + limit)` (and not past the head).
    pub async fn page(
        &self,
        tracking_number: &str,
        from: i64,
        limit: i64,
    ) -> Result<Page, StoreError> {
        let package: Option<(Uuid, i64)> =
            sqlx::query_as("SELECT id, event_seq FROM packages WHERE tracking_number = $1")
                .bind(tracking_number)
                .fetch_optional(&self.pool)
                .await?;
        let Some((package_id, head)) = package else {
            return Ok(Page::default());
        };
        let end = (from + limit).min(head + 1).max(from);
        let mut page = Page {
            head,
            end,
            ..Page::default()
        };
        if from >= end {
            return Ok(page);
        }
        let numbered: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, kind FROM package_events WHERE package_id = $1 AND seq >= $2 AND seq < $3",
        )
        .bind(package_id)
        .bind(from)
        .bind(end)
        .fetch_all(&self.pool)
        .await?;
        let statuses: Vec<StatusRow> = sqlx::query_as(
            "SELECT event_id, seq, status, previous_status, location, latitude, longitude, occurred_at \
             FROM status_events WHERE package_id = $1 AND seq >= $2 AND seq < $3",
        )
        .bind(package_id)
        .bind(from)
        .bind(end)
        .fetch_all(&self.pool)
        .await?;
        for row in &statuses {
            if let Some(text) = render_status(tracking_number, row) {
                page.events.insert(row.seq, text);
            }
        }
        let mut locations: BTreeSet<i64> = numbered
            .iter()
            .filter(|(_, kind)| kind == "location")
            .map(|(seq, _)| *seq)
            .collect();
        if !locations.is_empty() {
            for (seq, text) in self.points(tracking_number, from, end).await? {
                locations.remove(&seq);
                page.events.insert(seq, text);
            }
        }
        page.in_flight = locations;
        Ok(page)
    }

    /// The stored points numbered in `[from, end)`, rendered as live.
    async fn points(
        &self,
        tracking_number: &str,
        from: i64,
        end: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let points: Vec<mongodb::bson::Document> = self
            .history
            .find(stored::package_seqs(tracking_number, from, end))
            .await?
            .try_collect()
            .await?;
        let points: Vec<HistoryDoc> = stored::readable(points);
        let rendered = points
            .iter()
            .filter_map(HistoryDoc::recorded)
            .filter_map(|point| {
                let text = shared::locations::render::update(tracking_number, &point).render()?;
                Some((point.seq, text))
            });
        Ok(rendered.collect())
    }
}

fn render_status(tracking_number: &str, row: &StatusRow) -> Option<String> {
    let kind = if row.previous_status.is_none() {
        "created"
    } else {
        "status_changed"
    };
    let data = Data {
        status: Some(row.status.as_str()),
        location: row.location.as_deref(),
        latitude: row.latitude,
        longitude: row.longitude,
        timestamp: row.occurred_at,
        extra: (),
    };
    PackageUpdate::new(
        tracking_number,
        kind,
        row.event_id.to_string(),
        row.seq,
        data,
    )
    .render()
}
