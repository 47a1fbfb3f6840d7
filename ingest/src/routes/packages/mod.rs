//! `/api/v1/packages` and the endpoints below it.

pub mod create;
pub mod events;
pub mod get;
pub mod list;
pub mod status;

use super::AppState;
use crate::broker::SendError;
use crate::http::Reply;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, StatusCode};
use serde::Serialize;
use shared::wire::{Command, Envelope, Event, Principal, RejectReason};
use uuid::Uuid;

/// Limits for free-text fields, in characters.
pub const NAME_MAX: usize = 200;
pub const ADDRESS_MAX: usize = 500;
pub const DESCRIPTION_MAX: usize = 2000;

/// What a write request asks about the answer.
pub struct WriteOptions {
    /// `Prefer: respond-async`: answer 202 once the broker confirmed.
    pub respond_async: bool,
    /// From `Idempotency-Key`: a retried request maps to the same event id, so
    /// the workers apply it once and report the same outcome.
    pub event_id: Uuid,
}

impl WriteOptions {
    pub fn from_request(request: &Request<Incoming>) -> Result<Self, Reply> {
        let headers = request.headers();
        let respond_async = headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|pref| pref.trim().eq_ignore_ascii_case("respond-async"));
        let event_id = match headers.get("idempotency-key").map(HeaderValue::to_str) {
            None => Uuid::now_v7(),
            Some(Ok(key)) if !key.is_empty() && key.len() <= 255 => {
                let scope = format!("{} {} {key}", request.method(), request.uri().path());
                Uuid::new_v5(&IDEMPOTENCY_NAMESPACE, scope.as_bytes())
            }
            Some(_) => {
                return Err(Reply::error(
                    StatusCode::BAD_REQUEST,
                    "Idempotency-Key must be 1 to 255 visible ASCII characters",
                ))
            }
        };
        Ok(Self {
            respond_async,
            event_id,
        })
    }
}

const IDEMPOTENCY_NAMESPACE: Uuid = Uuid::from_u128(0x6d1f_3c2a_9b7e_4f10_8a55_d3e1_0c4b_7a29);

#[derive(Serialize)]
struct Accepted {
    event_id: Uuid,
    status: &'static str,
}

/// Publishes a command and turns the worker's outcome into the HTTP answer.
/// `on_applied` maps a successful outcome; rejections and timeouts are common.
pub async fn submit(
    state: &AppState,
    command: Command,
    options: WriteOptions,
    on_applied: impl FnOnce(Event) -> Reply,
) -> Result<Reply, Reply> {
    let envelope = Envelope::new(
        options.event_id,
        chrono::Utc::now(),
        Principal::default(),
        command,
    );
    let pending = match state.broker.send(&envelope, !options.respond_async).await {
        Ok(pending) => pending,
        Err(error) => {
            tracing::warn!(%error, "command not accepted by the broker");
            return Err(match error {
                SendError::NotConnected | SendError::Publish(_) => {
                    Reply::unavailable("message broker")
                }
            });
        }
    };
    let accepted = || {
        Reply::json(
            StatusCode::ACCEPTED,
            &Accepted {
                event_id: envelope.event_id,
                status: "accepted",
            },
        )
    };
    let Some(pending) = pending else {
        return Ok(accepted());
    };
    let Some(outcome) = pending.wait(state.outcome_timeout).await else {
        return Ok(accepted());
    };
    Ok(match outcome.body {
        Event::CommandRejected {
            reason: RejectReason::NotFound,
            message,
            ..
        } => Reply::error(StatusCode::NOT_FOUND, message),
        Event::CommandRejected {
            reason: RejectReason::Conflict,
            message,
            ..
        } => Reply::error(StatusCode::CONFLICT, message),
        event => on_applied(event),
    })
}
