//! How a write becomes a message and an answer, for every endpoint that
//! writes: the request's write options (idempotency key, `Prefer`,
//! principal, trace), publishing the command, and waiting for (or not
//! waiting for) the worker's outcome.

use super::AppState;
use crate::broker::SendError;
use crate::http::documented::{group, response};
use crate::http::idempotency::{canonical_json, fingerprint, IdempotencyKey};
use crate::http::{ApiError, Reply};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};
use shared::auth::Caller;
use shared::wire::{Command, Envelope, Event, Principal, RejectReason, TraceContext};
use uuid::Uuid;

/// What a write request asks about the answer, read from its headers.
pub struct WriteOptions {
    /// `Prefer: respond-async`: answer 202 once the broker confirmed.
    pub respond_async: bool,
    idempotency: Option<IdempotencyKey>,
    method: Method,
    path: String,
    /// Who asks: stamped into the envelope, and the scope of the key.
    principal: Principal,
    /// The request's trace, carried to the worker and the broadcaster.
    trace: TraceContext,
}

impl WriteOptions {
    pub fn from_request(
        request: &Request<Incoming>,
        caller: Option<&Caller>,
    ) -> Result<Self, ApiError> {
        let principal = crate::authn::principal_of(request, caller);
        let respond_async = request
            .headers()
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|pref| pref.trim().eq_ignore_ascii_case("respond-async"));
        Ok(Self {
            respond_async,
            // Keys are scoped to the caller; an anonymous one (a sign-up)
            // has no scope, and a shared key would answer one person with
            // another's account.
            idempotency: match caller {
                Some(_) => IdempotencyKey::from_request(request, &principal)?,
                None => None,
            },
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
            principal,
            trace: crate::routes::trace_of(request),
        })
    }

    /// The command's event id: the key's, or a fresh one.
    pub fn event_id(&self) -> Uuid {
        self.idempotency
            .as_ref()
            .map_or_else(Uuid::now_v7, IdempotencyKey::event_id)
    }

    /// The command's envelope, with the request's fingerprint when it came
    /// with an `Idempotency-Key`.
    pub fn envelope(
        &self,
        event_id: Uuid,
        command: Command,
        body: &Map<String, Value>,
    ) -> Envelope<Command> {
        let mut envelope = Envelope::new(
            event_id,
            chrono::Utc::now(),
            self.principal.clone(),
            command,
        );
        envelope.trace = self.trace.clone();
        if self.idempotency.is_some() {
            let canonical = canonical_json(body);
            envelope.fingerprint = Some(fingerprint(&self.method, &self.path, &canonical));
        }
        envelope
    }
}

/// The command is safely queued and will be applied; its outcome was not
/// awaited (`Prefer: respond-async`) or took longer than the outcome timeout.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    event_id: Uuid,
    /// Always `accepted`.
    status: &'static str,
}

/// What every write that waits for its outcome may answer besides its own
/// success: 202 when the outcome is not awaited, 503 when the broker cannot
/// confirm.
pub struct Queued;

impl utoipa::IntoResponses for Queued {
    fn responses(
    ) -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
        let mut responses = BrokerDown::responses();
        responses.insert(
            "202".into(),
            response("Accepted, outcome not awaited", "Accepted", false),
        );
        responses
    }
}

/// The broker cannot confirm: nothing was queued.
pub struct BrokerDown;

impl utoipa::IntoResponses for BrokerDown {
    fn responses(
    ) -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
        group(&[(503, "The broker cannot confirm", "ErrorBody", true)])
    }
}

/// A command the broker did not take: 503, the client sends it again.
fn not_queued(error: SendError) -> ApiError {
    tracing::warn!(%error, "command not accepted by the broker");
    ApiError::unavailable("message broker")
}

/// Publishes a command and turns the worker's outcome into the HTTP answer.
/// `on_applied` maps a successful outcome; rejections and timeouts are common.
pub async fn submit(
    state: &AppState,
    envelope: Envelope<Command>,
    options: &WriteOptions,
    on_applied: impl FnOnce(Event) -> Result<Reply, ApiError>,
) -> Result<Reply, ApiError> {
    let pending = state
        .broker
        .send(&envelope, !options.respond_async)
        .await
        .map_err(not_queued)?;
    let accepted = || {
        Reply::json(
            StatusCode::ACCEPTED,
            &Accepted {
                event_id: envelope.event_id,
                status: "accepted",
            },
        )
    };
    let requester = envelope.principal.subject.as_deref();
    let Some(pending) = pending else {
        // Applied some time from now: the requester's reads stay on the
        // primary for a while.
        state.reads.wrote(requester, None).await;
        return Ok(accepted());
    };
    let Some(outcome) = pending.wait(state.outcome_timeout).await else {
        state.reads.wrote(requester, None).await;
        return Ok(accepted());
    };
    match outcome.body.rejection() {
        Some((reason, message)) => Err(rejection(reason, message.to_owned())),
        None => {
            state.reads.wrote(requester, outcome.wal_position).await;
            // The writer may read at once, here, before the workers'
            // announcement of the change arrives.
            if let Some(tn) = envelope.body.tracking_number() {
                state.near.forget(tn.as_str());
            }
            on_applied(outcome.body)
        }
    }
}

/// A refused command's answer.
pub fn rejection(reason: RejectReason, message: String) -> ApiError {
    match reason {
        RejectReason::NotFound => ApiError::NotFound(message),
        RejectReason::Conflict => ApiError::Conflict(message),
        RejectReason::Forbidden => ApiError::Forbidden(message),
        RejectReason::Unauthenticated => ApiError::Unauthenticated(message),
        RejectReason::IdempotencyConflict | RejectReason::Invalid => {
            ApiError::invalid_fields(message)
        }
    }
}

/// Publishes a command whose outcome the answer cannot do without (a
/// sign-in, a token refresh): the outcome, a rejection's answer, or 503
/// when it does not come within the outcome timeout (the command may still
/// be applied; the client tries again).
pub async fn outcome(state: &AppState, envelope: &Envelope<Command>) -> Result<Event, ApiError> {
    outcome_or_rejection(state, envelope)
        .await?
        .map_err(|(reason, message)| rejection(reason, message))
}

/// [`outcome`], with a rejection left for the caller to answer.
pub async fn outcome_or_rejection(
    state: &AppState,
    envelope: &Envelope<Command>,
) -> Result<Result<Event, (RejectReason, String)>, ApiError> {
    let pending = state
        .broker
        .send(envelope, true)
        .await
        .map_err(not_queued)?;
    let outcome = match pending {
        Some(pending) => pending.wait(state.outcome_timeout).await,
        None => None,
    };
    let Some(event) = outcome.map(|o| o.body) else {
        return Err(ApiError::unavailable("the workers"));
    };
    Ok(match event.rejection() {
        Some((reason, message)) => Err((reason, message.to_owned())),
        None => Ok(event),
    })
}

/// Publishes a command and answers 202 once the broker confirmed it,
/// whatever its outcome will be: for requests whose answer must not tell
/// anything (a sign-up, a reset link asked for).
pub async fn accept(state: &AppState, envelope: &Envelope<Command>) -> Result<(), ApiError> {
    state
        .broker
        .send(envelope, false)
        .await
        .map(drop)
        .map_err(not_queued)
}

/// A worker outcome the endpoint has no answer for: a bug, logged, 500.
pub(crate) fn unexpected(event: Event) -> ApiError {
    tracing::error!(?event, "unexpected outcome for the command");
    ApiError::Internal("unexpected outcome")
}
