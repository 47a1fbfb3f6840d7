//! Device locations over HTTP: single and batch posts (fire-and-forget, 202
//! once the broker confirmed), the history, and area queries on latest
//! positions. What a point is, how it is read, stored and rendered is the
//! locations flow's own ([`shared::locations`]); these handlers move it.

pub mod history;
pub mod near;
pub mod post_batch;
pub mod post_one;
pub mod within;

use crate::http::{ApiError, Reply};
use futures_util::TryStreamExt;
use hyper::StatusCode;
use mongodb::bson::Document;
use shared::locations::render::PositionView;
use shared::locations::stored::{self, LatestDoc};
use std::future::IntoFuture;

/// The location store's collections, named once ([`shared::locations::stored`]).
fn collection(state: &super::AppState, name: &str) -> mongodb::Collection<Document> {
    state.mongo.database(&state.mongo_database).collection(name)
}

/// The documents a location-store read found, each read as a `T` (one that
/// does not read is skipped: [`stored::readable`]); a store that cannot
/// answer is a 503. `what`: the read, for the log.
pub(crate) async fn found<T, Q>(what: &str, read: Q) -> Result<Vec<T>, ApiError>
where
    T: serde::de::DeserializeOwned,
    Q: IntoFuture<Output = mongodb::error::Result<mongodb::Cursor<Document>>>,
{
    let documents: Vec<Document> = async { read.await?.try_collect().await }.await.map_err(
        |error: mongodb::error::Error| {
            tracing::warn!(%error, what, "location store read failed");
            ApiError::unavailable("location store")
        },
    )?;
    Ok(stored::readable(documents))
}

/// An area query's answer: the latest positions it found, as found.
fn positions(found: &[LatestDoc]) -> Reply {
    let views: Vec<PositionView> = found.iter().map(PositionView::from).collect();
    Reply::json(StatusCode::OK, &views)
}
