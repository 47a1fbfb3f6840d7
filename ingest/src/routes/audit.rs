//! `GET /api/v1/audit?actor=&since=&limit=`: the audit trail, newest first,
//! for admins.

use crate::authn;
use crate::http::request::query_param;
use crate::http::Reply;
use crate::routes::AppState;
use hyper::StatusCode;
use shared::auth::policy::Action;
use shared::auth::Caller;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

/// `actor`, `since` (RFC 3339) and `limit` from the query string.
#[allow(clippy::type_complexity)]
pub fn parse_query(
    query: Option<&str>,
) -> Result<(Option<String>, Option<chrono::DateTime<chrono::Utc>>, i64), Reply> {
    let invalid = |m: &str| Reply::error(StatusCode::UNPROCESSABLE_ENTITY, m);
    let actor = query_param(query, "actor").filter(|s| !s.is_empty());
    let since = match query_param(query, "since").filter(|s| !s.is_empty()) {
        Some(raw) => Some(
            chrono::DateTime::parse_from_rfc3339(&raw)
                .map_err(|_| invalid("since must be an RFC 3339 timestamp"))?
                .with_timezone(&chrono::Utc),
        ),
        None => None,
    };
    let limit = crate::http::request::limit_param(query, DEFAULT_LIMIT, MAX_LIMIT)?;
    Ok((actor, since, limit))
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "operations",
    params(
        ("actor" = Option<String>, Query, description = "Only this account's changes (its id)"),
        ("since" = Option<String>, Query, description = "Only changes at or after this RFC 3339 time"),
        ("limit" = Option<i64>, Query, description = "At most this many (default 100, at most 1000)")),
    responses(
        (status = 200, description = "Newest first", body = Vec<shared::audit::AuditRecord>),
        (status = 422, description = "Invalid since or limit", body = crate::http::response::ErrorBody),
        (status = 503, description = "The database is unavailable", body = crate::http::response::ErrorBody)))]
pub async fn get(state: &AppState, caller: &Caller, query: Option<&str>) -> Result<Reply, Reply> {
    authn::require(caller, Action::ReadAudit)?;
    let (actor, since, limit) = parse_query(query)?;
    let records = shared::audit::read(&state.pool, actor.as_deref(), since, limit).await?;
    Ok(Reply::json(StatusCode::OK, &records))
}
