//! Device locations over HTTP: single and batch posts (fire-and-forget, 202
//! once the broker confirmed), the history, and area queries on latest
//! positions. What a point is, how it is read, stored and rendered is the
//! locations flow's own ([`shared::locations`]); these handlers move it.

pub mod history;
pub mod near;
pub mod post_batch;
pub mod post_one;
pub mod within;

/// The location store's collections, named once ([`shared::locations::stored`]).
fn collection<T: Send + Sync>(state: &super::AppState, name: &str) -> mongodb::Collection<T> {
    state.mongo.database(&state.mongo_database).collection(name)
}
