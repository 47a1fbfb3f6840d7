//! `GET /api/v1/packages`: newest first, `?status=`, `?limit=` (default 100,
//! at most 1000) and keyset pagination through `?cursor=` and a `Link` header.

use crate::authn;
use crate::http::{ApiError, Cursor, Query, Reply};
use crate::routes::AppState;
use hyper::StatusCode;
use shared::auth::policy::Action;
use shared::auth::Caller;
use shared::domain::PackageStatus;

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

#[utoipa::path(get, path = "/api/v1/packages", tag = "packages",
    params(crate::schemas::ListQuery),
    responses(
        crate::http::documented::DatabaseDown,
        (status = 200, description = "Newest first", body = Vec<shared::packages::PackageView>,
            headers(("link" = String, description = "rel=next, on a full page"))),
        (status = 422, description = "Invalid status, limit or cursor", body = crate::http::error::ErrorBody)))]
pub async fn get(state: &AppState, caller: &Caller, query: Query<'_>) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ListPackages)?;
    let status = query.value::<PackageStatus>("status")?;
    let limit = query.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = query.parsed::<Cursor>("cursor", "cursor is not one this API issued")?;
    let after = cursor.map(|c| c.key());
    let packages = shared::packages::reads::list(
        state.reads.for_scoped(caller).await,
        caller,
        status,
        after,
        limit,
    )
    .await?;
    let next = Cursor::after_full_page(&packages, limit, |p| (p.created_at, p.id));
    let reply = Reply::json(StatusCode::OK, &packages);
    Ok(match next {
        Some(next) => {
            let status = status.map(|s| format!("&status={s}")).unwrap_or_default();
            reply.header(
                "link",
                &next.link(&format!("/api/v1/packages?limit={limit}{status}"), ""),
            )
        }
        None => reply,
    })
}
