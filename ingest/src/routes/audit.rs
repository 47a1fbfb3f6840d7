//! `GET /api/v1/audit?actor=&since=&limit=`: the audit trail, newest first,
//! for admins.

use crate::authn;
use crate::http::{ApiError, Query, Reply};
use crate::routes::AppState;
use chrono::{DateTime, Utc};
use hyper::StatusCode;
use shared::auth::policy::Action;
use shared::auth::Caller;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

/// What an audit read asks for.
#[derive(Debug)]
pub struct AuditQuery {
    /// Only this account's changes.
    pub actor: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub limit: i64,
}

/// `actor`, `since` (RFC 3339) and `limit` from the query string.
pub fn parse_query(query: Query<'_>) -> Result<AuditQuery, ApiError> {
    Ok(AuditQuery {
        actor: query.text("actor"),
        since: query.time("since")?,
        limit: query.limit(DEFAULT_LIMIT, MAX_LIMIT)?,
    })
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "operations",
    params(
        ("actor" = Option<String>, Query, description = "Only this account's changes (its id)"),
        ("since" = Option<String>, Query, description = "Only changes at or after this RFC 3339 time"),
        ("limit" = Option<i64>, Query, description = "At most this many (default 100, at most 1000)")),
    responses(
        crate::http::documented::DatabaseDown,
        (status = 200, description = "Newest first", body = Vec<shared::audit::AuditRecord>),
        (status = 422, description = "Invalid since or limit", body = crate::http::error::ErrorBody)))]
pub async fn get(state: &AppState, caller: &Caller, query: Query<'_>) -> Result<Reply, ApiError> {
    authn::require(caller, Action::ReadAudit)?;
    let AuditQuery {
        actor,
        since,
        limit,
    } = parse_query(query)?;
    let records = shared::audit::read(&state.pool, actor.as_deref(), since, limit).await?;
    Ok(Reply::json(StatusCode::OK, &records))
}
