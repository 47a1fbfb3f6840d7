//! Who sent a request: a person's `Authorization: Bearer <token>` checked
//! against the configured keys, or a device's `Authorization: ApiKey <key>`
//! (or `X-API-Key`) checked against what [`crate::credentials`] remembers;
//! and the policy's answers turned into HTTP.

use crate::credentials::{Refused, Unavailable};
use crate::http::ApiError;
use crate::state::AppState;
use hyper::header::AUTHORIZATION;
use hyper::HeaderMap;
use shared::auth::policy::{self, Action, Decision};
use shared::auth::{AuthConfig, Caller};
use shared::domain::TrackingNumber;

/// The caller a request's headers name. `Ok(None)`: no credentials at all.
/// `network`: the client's, whose failed device-key lookups are limited.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    network: &str,
) -> Result<Option<Caller>, ApiError> {
    let tokens = match &state.auth {
        AuthConfig::Disabled => return Ok(Some(Caller::development())),
        AuthConfig::Enabled(tokens) => tokens,
    };
    if let Some(key) = headers.get("x-api-key") {
        let key = key
            .to_str()
            .map_err(|_| unauthorized("malformed X-API-Key header"))?;
        return answer(state.credentials.device(key, network).await).map(Some);
    }
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| unauthorized("malformed Authorization header"))?;
    let Some((scheme, credential)) = value.trim().split_once(' ') else {
        return Err(unauthorized(
            "the Authorization header must be \"Bearer <token>\" or \"ApiKey <key>\"",
        ));
    };
    if scheme.eq_ignore_ascii_case("apikey") {
        return answer(state.credentials.device(credential.trim(), network).await).map(Some);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(unauthorized(
            "unsupported Authorization scheme; use Bearer or ApiKey",
        ));
    }
    answer(state.credentials.token(tokens, credential.trim()).await).map(Some)
}

/// A credential's check as HTTP: 401 refused, 429 too many unknown keys,
/// 503 when the stores cannot say.
pub fn answer(checked: Result<Result<Caller, Refused>, Unavailable>) -> Result<Caller, ApiError> {
    match checked {
        Ok(Ok(caller)) => Ok(caller),
        Ok(Err(Refused::TooManyMisses(seconds))) => Err(ApiError::TooManyRequests {
            message: Refused::TooManyMisses(seconds).to_string(),
            retry_after: seconds,
        }),
        Ok(Err(refused)) => Err(unauthorized(&refused.to_string())),
        Err(error) => {
            tracing::warn!(%error, "credentials not checked");
            Err(ApiError::unavailable("credential check"))
        }
    }
}

/// For a location post: a caller who does not reach every package (a
/// courier, or their device) posts only for the packages they carry; one
/// that names another is answered as if it did not exist. Answered from
/// what [`crate::credentials`] remembers: no database round trip per post.
pub async fn require_carried<'a>(
    state: &AppState,
    caller: &Caller,
    tracking_numbers: impl IntoIterator<Item = &'a str>,
) -> Result<(), ApiError> {
    require(caller, Action::PostLocations)?;
    if policy::sees_all(caller.role) {
        return Ok(());
    }
    let carried = state.credentials.carried(caller.user_id).await?;
    match tracking_numbers
        .into_iter()
        .find(|tn| !carried.contains(*tn))
    {
        Some(missing) => Err(ApiError::package_not_found(missing)),
        None => Ok(()),
    }
}

/// The principal stamped into what `caller` sends: who, and from which
/// address (for the audit trail).
pub fn principal_of<B>(
    request: &hyper::Request<B>,
    caller: Option<&Caller>,
) -> shared::wire::Principal {
    let mut principal = caller.map(Caller::principal).unwrap_or_default();
    principal.address = request
        .extensions()
        .get::<crate::state::ClientAddr>()
        .map(|a| a.0.to_string());
    principal
}

/// 401 (with the challenge that says which scheme to use).
pub fn unauthorized(message: &str) -> ApiError {
    ApiError::unauthenticated(message)
}

pub fn forbidden(caller: &Caller) -> ApiError {
    ApiError::Forbidden(format!("a {} may not do this", caller.role))
}

/// For actions on no package in particular: 403 unless the role may.
pub fn require(caller: &Caller, action: Action) -> Result<(), ApiError> {
    if policy::role_may(caller.role, action) {
        Ok(())
    } else {
        Err(forbidden(caller))
    }
}

/// For an action on one package: 403 if the role may never, 404 if the
/// caller may not see this package (or there is none: the two answer alike,
/// so ids cannot be probed). Callers who see every package skip the lookup;
/// for them an unknown package is the handler's (or the worker's) to report.
pub async fn require_package(
    state: &AppState,
    caller: &Caller,
    action: Action,
    tracking_number: &TrackingNumber,
) -> Result<(), ApiError> {
    require(caller, action)?;
    if policy::sees_all(caller.role) {
        return Ok(());
    }
    let access = shared::auth::access::load(&state.pool, tracking_number.as_str()).await?;
    match access.map(|access| policy::decide(caller, action, Some(&access))) {
        Some(Decision::Allow) => Ok(()),
        Some(Decision::Forbidden) => Err(forbidden(caller)),
        Some(Decision::Hidden) | None => Err(ApiError::package_not_found(tracking_number.as_str())),
    }
}
