//! Who sent a request: the `Authorization: Bearer <token>` header checked
//! against the configured keys, and the policy's answer turned into HTTP.

use crate::http::Reply;
use crate::routes::{package_not_found, AppState};
use hyper::header::AUTHORIZATION;
use hyper::{HeaderMap, StatusCode};
use shared::auth::policy::{self, Action, Decision};
use shared::auth::{AuthConfig, Caller, TokenError};
use shared::domain::TrackingNumber;

/// The caller a request's headers name. `Ok(None)`: no credentials at all.
pub fn authenticate(auth: &AuthConfig, headers: &HeaderMap) -> Result<Option<Caller>, Reply> {
    let tokens = match auth {
        AuthConfig::Disabled => return Ok(Some(Caller::development())),
        AuthConfig::Enabled(tokens) => tokens,
    };
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| unauthorized("malformed Authorization header"))?;
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return Err(unauthorized(
            "the Authorization header must be \"Bearer <token>\"",
        ));
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(unauthorized("unsupported Authorization scheme; use Bearer"));
    }
    match tokens.verify(token.trim()) {
        Ok(verified) => Ok(Some(verified.caller)),
        Err(error @ (TokenError::Expired | TokenError::Invalid | TokenError::CannotSign)) => {
            Err(unauthorized(&error.to_string()))
        }
    }
}

/// 401 with the challenge that says which scheme to use.
pub fn unauthorized(message: &str) -> Reply {
    Reply::error(StatusCode::UNAUTHORIZED, message).header("www-authenticate", "Bearer")
}

pub fn forbidden(caller: &Caller) -> Reply {
    Reply::error(
        StatusCode::FORBIDDEN,
        format!("a {} may not do this", caller.role),
    )
}

/// For actions on no package in particular: 403 unless the role may.
pub fn require(caller: &Caller, action: Action) -> Result<(), Reply> {
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
) -> Result<(), Reply> {
    require(caller, action)?;
    if policy::sees_all(caller.role) {
        return Ok(());
    }
    let access = shared::auth::access::load(&state.pool, tracking_number.as_str()).await?;
    match access.map(|access| policy::decide(caller, action, Some(&access))) {
        Some(Decision::Allow) => Ok(()),
        Some(Decision::Forbidden) => Err(forbidden(caller)),
        Some(Decision::Hidden) | None => Err(package_not_found(tracking_number.as_str())),
    }
}
