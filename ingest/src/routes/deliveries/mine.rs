//! `GET /api/v1/me/deliveries`: the caller's own runs as a courier.

use crate::http::{ApiError, Query, Reply};
use crate::routes::AppState;
use hyper::StatusCode;
use shared::auth::Caller;
use shared::auth::DeliveryView;

#[utoipa::path(get, path = "/api/v1/me/deliveries", tag = "deliveries",
    params(("day" = Option<String>, Query, description = "Only this day (YYYY-MM-DD)")),
    responses(
        crate::http::documented::DatabaseDown,
        (status = 200, description = "The caller's deliveries, newest day first", body = Vec<DeliveryView>),
        (status = 422, description = "Invalid day", body = crate::http::error::ErrorBody)))]
pub async fn get(state: &AppState, caller: &Caller, query: Query<'_>) -> Result<Reply, ApiError> {
    let filter = super::filter(query, Some(caller.user_id))?;
    let deliveries = DeliveryView::list(state.reads.for_scoped(caller).await, &filter).await?;
    Ok(Reply::json(StatusCode::OK, &deliveries))
}
