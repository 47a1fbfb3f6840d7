//! `GET /api/v1/health`: each dependency checked concurrently, with a
//! deadline. `/health/live` and `/health/ready` are for orchestrators'
//! probes: a dependency's outage must not get every instance restarted.

use super::AppState;
use crate::http::Reply;
use hyper::StatusCode;
use serde::Serialize;
use std::future::Future;
use std::time::Duration;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Each dependency is `healthy` or `unhealthy`; so is the whole.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    status: &'static str,
    timestamp: chrono::DateTime<chrono::Utc>,
    database: &'static str,
    redis: &'static str,
    mongodb: &'static str,
    rabbitmq: &'static str,
}

async fn check<E: std::fmt::Display>(
    name: &str,
    probe: impl Future<Output = Result<(), E>>,
) -> &'static str {
    match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
        Ok(Ok(())) => "healthy",
        Ok(Err(error)) => {
            tracing::warn!(%error, dependency = name, "health check failed");
            "unhealthy"
        }
        Err(_) => {
            tracing::warn!(dependency = name, "health check timed out");
            "unhealthy"
        }
    }
}

#[utoipa::path(get, path = "/api/v1/health", tag = "operations",
    responses(
        (status = 200, description = "Every dependency answers", body = Health),
        (status = 503, description = "A dependency is down (named in the body)", body = Health)))]
pub async fn get(state: &AppState) -> Reply {
    let (database, redis, mongodb) = tokio::join!(
        check("database", async {
            sqlx::query("SELECT 1").execute(&state.pool).await.map(drop)
        }),
        check("redis", state.cache.ping()),
        check("mongodb", async {
            state
                .mongo
                .database("admin")
                .run_command(mongodb::bson::doc! { "ping": 1 })
                .await
                .map(drop)
        }),
    );
    let rabbitmq = if state.broker.is_connected() {
        "healthy"
    } else {
        "unhealthy"
    };
    let all = [database, redis, mongodb, rabbitmq]
        .iter()
        .all(|s| *s == "healthy");
    let body = Health {
        status: if all { "healthy" } else { "unhealthy" },
        timestamp: chrono::Utc::now(),
        database,
        redis,
        mongodb,
        rabbitmq,
    };
    Reply::json(
        if all {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &body,
    )
}

/// `{"status": ...}`, the probes' answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Probe {
    status: &'static str,
}

/// Liveness: the process serves requests. Nothing else is checked, so an
/// outage of a dependency never gets instances restarted.
#[utoipa::path(get, path = "/api/v1/health/live", tag = "operations",
    responses((status = 200, description = "The process serves requests", body = Probe)))]
pub fn live() -> Reply {
    Reply::json(StatusCode::OK, &Probe { status: "live" })
}

/// Readiness: writes can be accepted (the broker link is up). Reads may
/// still degrade; writes are what a 503 here protects clients from.
#[utoipa::path(get, path = "/api/v1/health/ready", tag = "operations",
    responses(
        (status = 200, description = "Writes are accepted", body = Probe),
        (status = 503, description = "The broker link is down", body = Probe)))]
pub fn ready(state: &AppState) -> Reply {
    if state.broker.is_connected() {
        Reply::json(StatusCode::OK, &Probe { status: "ready" })
    } else {
        Reply::json(
            StatusCode::SERVICE_UNAVAILABLE,
            &Probe {
                status: "not ready",
            },
        )
    }
}
