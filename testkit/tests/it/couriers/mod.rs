//! Couriers' own positions: Traccar's OsmAnd requests stored for the right
//! courier, packages moving with the courier they ride with (and a point's
//! cost the same for 1 package aboard as for 200), presence over time.

mod follow;
mod live;
mod osmand;
mod presence;
mod shape;
mod simulator;

use mongodb::bson::{doc, Document};
use testkit::app::TestApp;

/// The courier history documents of `courier_id`, oldest first.
pub async fn courier_fixes(app: &TestApp, courier_id: uuid::Uuid) -> Vec<Document> {
    use futures_util::TryStreamExt;
    app.env
        .mongo()
        .await
        .collection::<Document>("courier_history")
        .find(doc! { "courier_id": courier_id.to_string() })
        .sort(doc! { "recorded_at": 1 })
        .await
        .expect("a find")
        .try_collect()
        .await
        .expect("the documents")
}

/// A document's latitude.
pub fn latitude(doc: &Document) -> f64 {
    doc.get_document("location")
        .and_then(|l| l.get_array("coordinates"))
        .ok()
        .and_then(|c| c.get(1))
        .and_then(|v| v.as_f64())
        .unwrap_or(f64::NAN)
}
