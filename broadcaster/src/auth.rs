//! Who opened a WebSocket, checked once at the upgrade, and whether they may
//! watch a package, checked at every subscription with the shared policy.

use shared::auth::policy::{self, Action, Decision};
use shared::auth::{AuthConfig, Caller, TokenError};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::handshake::server::Request;
use tokio_tungstenite::tungstenite::http::StatusCode;

/// A connection's session: who (`None` on `/ws/public`, the public tracking
/// mode), and when its token runs out.
#[derive(Debug, Clone)]
pub struct Session {
    pub caller: Option<Caller>,
    /// Seconds since the Unix epoch; `None` when authentication is disabled.
    pub expires_at: Option<u64>,
}

/// The session an upgrade request carries: `Authorization: Bearer <token>`,
/// or `?token=<token>` for browsers (which cannot set headers on a WebSocket).
///
/// `/ws/public` takes no token: it is the public tracking page's mode, where
/// a package's number is all it takes to watch it. The updates are the same
/// `package_update` messages, which name no person, account or device.
pub fn authenticate(auth: &AuthConfig, request: &Request) -> Result<Session, (StatusCode, String)> {
    if request.uri().path() == PUBLIC_PATH {
        return Ok(Session {
            caller: None,
            expires_at: None,
        });
    }
    let tokens = match auth {
        AuthConfig::Disabled => {
            return Ok(Session {
                caller: Some(Caller::development()),
                expires_at: None,
            })
        }
        AuthConfig::Enabled(tokens) => tokens,
    };
    let unauthorized = |message: &str| (StatusCode::UNAUTHORIZED, message.to_owned());
    let token = bearer(request)
        .or_else(|| query_token(request.uri().query()))
        .ok_or_else(|| {
            unauthorized("authentication required: Authorization: Bearer <token> or ?token=")
        })?;
    match tokens.verify(&token) {
        Ok(verified) => Ok(Session {
            caller: Some(verified.caller),
            expires_at: Some(verified.expires_at),
        }),
        Err(error @ (TokenError::Expired | TokenError::Invalid | TokenError::CannotSign)) => {
            Err(unauthorized(&error.to_string()))
        }
    }
}

fn bearer(request: &Request) -> Option<String> {
    let value = request.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

fn query_token(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "token")
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

/// The path of the public tracking mode.
pub const PUBLIC_PATH: &str = "/ws/public";

/// Why a subscription is refused.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// No such package, or one the caller may not see: the same words.
    #[error("package {0} not found")]
    NotFound(String),
    #[error("package lookup unavailable, retry later")]
    Unavailable,
}

/// Whether the caller may watch the package; a package they may not see
/// is refused with the words used for an unknown one. The public mode
/// (`None`) may watch any package whose number it knows.
pub async fn may_watch(pool: &PgPool, caller: Option<&Caller>, tn: &str) -> Result<(), Refused> {
    if caller.is_some_and(|c| policy::sees_all(c.role)) {
        return Ok(());
    }
    let not_found = || Refused::NotFound(tn.to_owned());
    match shared::auth::access::load(pool, tn).await {
        Ok(Some(access)) => match caller {
            None => Ok(()),
            Some(caller) => match policy::decide(caller, Action::ReadPackage, Some(&access)) {
                Decision::Allow => Ok(()),
                Decision::Forbidden | Decision::Hidden => Err(not_found()),
            },
        },
        Ok(None) => Err(not_found()),
        Err(error) => {
            tracing::warn!(%error, "package access lookup failed");
            Err(Refused::Unavailable)
        }
    }
}

/// Of `watched`, the packages the caller may still see: for roles whose
/// rights change ([`crate::rights::may_change`]), one query for all of them.
/// A courier sees the packages of their active deliveries (the policy's rule,
/// read as a set).
pub async fn still_visible(
    pool: &PgPool,
    caller: &Caller,
    watched: &[String],
) -> Result<std::collections::HashSet<String>, sqlx::Error> {
    match caller.role {
        shared::auth::Role::Courier => {
            let numbers: Vec<&str> = watched.iter().map(String::as_str).collect();
            let carried = shared::auth::access::carried_by(pool, caller.user_id, &numbers).await?;
            Ok(carried.into_iter().collect())
        }
        _ => Ok(watched.iter().cloned().collect()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_token_comes_from_the_query_when_no_header_carries_it() {
        assert_eq!(
            super::query_token(Some("a=1&token=abc")),
            Some("abc".into())
        );
        assert_eq!(super::query_token(Some("token=")), None);
        assert_eq!(super::query_token(None), None);
    }
}
