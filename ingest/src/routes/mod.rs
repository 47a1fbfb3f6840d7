//! The router: `/api/v1/...` paths to one handler module each.

pub(crate) mod health;
pub mod locations;
pub mod packages;
pub(crate) mod stats;

use crate::broker::Broker;
use crate::http::request::BodyLimits;
use crate::http::{ApiResponse, Reply};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use shared::cache::ViewCache;
use shared::domain::TrackingNumber;
use sqlx::PgPool;
use std::time::Duration;

/// What every handler may use. Cheap to share: everything inside is a handle.
pub struct AppState {
    pub pool: PgPool,
    pub cache: ViewCache,
    pub broker: Broker,
    pub mongo: mongodb::Client,
    pub mongo_database: String,
    pub outcome_timeout: Duration,
    /// Limits on JSON request bodies.
    pub body: BodyLimits,
    pub point_rules: locations::PointRules,
    /// The OpenAPI document, rendered once.
    pub openapi: bytes::Bytes,
    /// Group commit of location posts.
    pub point_groups: crate::group_commit::PointGroups,
}

pub async fn route(state: &AppState, request: Request<Incoming>) -> ApiResponse {
    let path = request.uri().path().to_owned();
    let Some(rest) = path.strip_prefix("/api/v1/") else {
        return not_found().into_response();
    };
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let method = request.method().clone();
    let reply = match segments.as_slice() {
        ["health"] => match method {
            Method::GET => Ok(health::get(state).await),
            _ => Err(not_allowed("GET")),
        },
        ["stats"] => match method {
            Method::GET => stats::get(state).await,
            _ => Err(not_allowed("GET")),
        },
        ["openapi.json"] => match method {
            Method::GET => Ok(Reply::raw_json(StatusCode::OK, state.openapi.clone())),
            _ => Err(not_allowed("GET")),
        },
        ["packages"] => match method {
            Method::GET => packages::list::get(state, request.uri().query()).await,
            Method::POST => packages::create::post(state, request).await,
            _ => Err(not_allowed("GET, POST")),
        },
        ["packages", tn] => match method {
            Method::GET => with_package(tn, |tn| packages::get::get(state, tn)).await,
            _ => Err(not_allowed("GET")),
        },
        ["packages", tn, "status"] => match method {
            Method::PUT => with_package(tn, |tn| packages::status::put(state, tn, request)).await,
            _ => Err(not_allowed("PUT")),
        },
        ["packages", tn, "locations"] => match method {
            Method::GET => {
                let query = request.uri().query().map(str::to_owned);
                with_package(tn, |tn| locations::history::get(state, tn, query)).await
            }
            Method::POST => {
                with_package(tn, |tn| locations::post_one::post(state, tn, request)).await
            }
            _ => Err(not_allowed("GET, POST")),
        },
        ["locations"] => match method {
            Method::POST => locations::post_batch::post(state, request).await,
            _ => Err(not_allowed("POST")),
        },
        ["locations", "near"] => match method {
            Method::GET => locations::near::get(state, request.uri().query()).await,
            _ => Err(not_allowed("GET")),
        },
        ["locations", "within"] => match method {
            Method::GET => locations::within::get(state, request.uri().query()).await,
            _ => Err(not_allowed("GET")),
        },
        ["packages", tn, "events"] => match method {
            Method::GET => with_package(tn, |tn| packages::events::get(state, tn)).await,
            _ => Err(not_allowed("GET")),
        },
        _ => Err(not_found()),
    };
    reply.unwrap_or_else(|e| e).into_response()
}

/// A tracking number in a path that cannot be valid names no package: 404.
async fn with_package<F, Fut>(raw: &str, handler: F) -> Result<Reply, Reply>
where
    F: FnOnce(TrackingNumber) -> Fut,
    Fut: std::future::Future<Output = Result<Reply, Reply>>,
{
    match TrackingNumber::parse(raw) {
        Ok(tn) => handler(tn).await,
        Err(_) => Err(package_not_found(raw)),
    }
}

pub fn package_not_found(tracking_number: &str) -> Reply {
    Reply::error(
        StatusCode::NOT_FOUND,
        format!("package {tracking_number} not found"),
    )
}

fn not_found() -> Reply {
    Reply::error(StatusCode::NOT_FOUND, "no such endpoint")
}

fn not_allowed(allow: &str) -> Reply {
    Reply::error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed; use {allow}"),
    )
    .header("allow", allow)
}
