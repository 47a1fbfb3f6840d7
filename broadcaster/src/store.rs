//! Reading a package's events back from the stores, a page at a time: status
//! history and notices (zones, arrival) from PostgreSQL, location points from MongoDB, numbered by
//! `package_events`. Used for `since_seq` catch-up and to fill gaps left by
//! events lost in flight.
//!
//! A seq can be in three states here: *stored* (its data is readable),
//! *in flight* (numbered, but its data not written yet: a location point is
//! numbered in PostgreSQL a moment before MongoDB has it) or *absent* (not
//! numbered at all though the package's sequence has passed it: it will
//! never come).

use futures_util::TryStreamExt;
use shared::locations::stored::{self, HistoryDoc};
use shared::packages::{history, notices, reads, render};

use sqlx::PgPool;
use std::collections::{BTreeMap, BTreeSet};

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

impl EventStore {
    pub fn new(pool: PgPool, history: mongodb::Collection<mongodb::bson::Document>) -> Self {
        Self { pool, history }
    }

    /// The package's last numbered seq; `None` if there is no such package.
    pub async fn head(&self, tracking_number: &str) -> Result<Option<i64>, StoreError> {
        Ok(reads::head(&self.pool, tracking_number).await?)
    }

    /// The events with seq in `[from, from + limit)` (and not past the head).
    pub async fn page(
        &self,
        tracking_number: &str,
        from: i64,
        limit: i64,
    ) -> Result<Page, StoreError> {
        let Some((package_id, head)) = reads::id_and_head(&self.pool, tracking_number).await?
        else {
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
        let numbered = history::numbered(&self.pool, package_id, from, end).await?;
        let statuses = history::statuses_between(&self.pool, package_id, from, end).await?;
        for row in &statuses {
            let update = render::stored(tracking_number, row);
            if let Some((seq, text)) = update.and_then(|u| Some((u.seq, u.render()?))) {
                page.events.insert(seq, text);
            }
        }
        let noticed = numbered
            .iter()
            .any(|(_, kind)| notices::KINDS.contains(&kind.as_str()));
        if noticed {
            let tn = shared::domain::TrackingNumber::parse(tracking_number).ok();
            let rows = notices::between(&self.pool, package_id, from, end).await?;
            for row in rows {
                let Some(tn) = tn.clone() else { break };
                let notice = row.notice(tn);
                if let Some(text) = notice.update().render() {
                    page.events.insert(notice.seq, text);
                }
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
