//! `GET /api/v1/packages`: newest first, `?status=`, `?limit=` (default 100,
//! at most 1000) and keyset pagination through `?cursor=` and a `Link` header.

use crate::authn;
use crate::http::request::query_param;
use crate::http::Reply;
use crate::reads::{list_packages, Cursor};
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
        (status = 200, description = "Newest first", body = Vec<shared::domain::PackageView>,
            headers(("link" = String, description = "rel=next, on a full page"))),
        (status = 422, description = "Invalid status, limit or cursor", body = crate::http::response::ErrorBody),
        (status = 503, description = "The database is unavailable", body = crate::http::response::ErrorBody)))]
pub async fn get(state: &AppState, caller: &Caller, query: Option<&str>) -> Result<Reply, Reply> {
    authn::require(caller, Action::ListPackages)?;
    let invalid = |message: String| Reply::error(StatusCode::UNPROCESSABLE_ENTITY, message);
    let status = match query_param(query, "status").filter(|s| !s.is_empty()) {
        Some(raw) => Some(
            raw.parse::<PackageStatus>()
                .map_err(|e| invalid(e.to_string()))?,
        ),
        None => None,
    };
    let limit = crate::http::request::limit_param(query, DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = match query_param(query, "cursor").filter(|s| !s.is_empty()) {
        Some(raw) => Some(
            Cursor::parse(&raw)
                .ok_or_else(|| invalid("cursor is not one this API issued".into()))?,
        ),
        None => None,
    };
    let packages = list_packages(&state.pool, caller, status, cursor, limit).await?;
    let next = (packages.len() as i64 == limit)
        .then(|| packages.last())
        .flatten()
        .map(|last| Cursor {
            created_at: last.created_at,
            id: last.id,
        });
    let mut reply = Reply::json(StatusCode::OK, &packages);
    if let Some(next) = next {
        let status = status.map(|s| format!("&status={s}")).unwrap_or_default();
        let link = format!(
            "</api/v1/packages?limit={limit}{status}&cursor={}>; rel=\"next\"",
            next.encode()
        );
        reply = reply.header("link", &link);
    }
    Ok(reply)
}
