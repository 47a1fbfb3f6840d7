//! Who opened a WebSocket, and whether they may watch a package.
//!
//! At the upgrade ([`credential`], synchronous: tungstenite's callback) the
//! request must carry `Authorization: Bearer <token>` (its signature and
//! expiry checked there, so a bad token gets 401) or `?ticket=` (a one-time
//! ticket from ingest, for browsers). Once the socket is open, [`resolve`]
//! turns it into the caller as the account stands now: the token's session
//! must be live, or the ticket unused; otherwise the socket closes at once
//! with 1008. Every subscription asks the shared policy; when an account
//! changes, its connections ask again
//! ([`shared::auth::access::visible_among`]).

use shared::auth::policy::{self, Action, Decision};
use shared::auth::token::Verified;
use shared::auth::{AuthConfig, Caller, Role};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::handshake::server::Request;
use tokio_tungstenite::tungstenite::http::StatusCode;

/// A connection's session: who (`None` on `/ws/public`, the public tracking
/// mode), and when it ends.
#[derive(Debug, Clone)]
pub struct Session {
    pub caller: Option<Caller>,
    /// Seconds since the Unix epoch; `None` when authentication is disabled.
    pub expires_at: Option<u64>,
}

/// What an upgrade request presented.
#[derive(Debug, Clone)]
pub enum Credential {
    /// `/ws/public`: a package's number is all it takes to watch it; the
    /// updates name no person, account or device.
    Public,
    /// `AUTH_DISABLED=true`.
    Development,
    Token(Verified),
    Ticket(String),
}

/// The path of the public tracking mode.
pub const PUBLIC_PATH: &str = "/ws/public";

/// The credential an upgrade request carries; a missing or bad one is
/// refused with 401 before the upgrade.
pub fn credential(
    auth: &AuthConfig,
    request: &Request,
) -> Result<Credential, (StatusCode, String)> {
    if request.uri().path() == PUBLIC_PATH {
        return Ok(Credential::Public);
    }
    let tokens = match auth {
        AuthConfig::Disabled => return Ok(Credential::Development),
        AuthConfig::Enabled(tokens) => tokens,
    };
    let unauthorized = |message: &str| (StatusCode::UNAUTHORIZED, message.to_owned());
    if let Some(token) = bearer(request) {
        return tokens
            .verify(&token)
            .map(Credential::Token)
            .map_err(|error| unauthorized(&error.to_string()));
    }
    match query_value(request.uri().query(), "ticket") {
        Some(ticket) => Ok(Credential::Ticket(ticket)),
        None => Err(unauthorized(
            "authentication required: Authorization: Bearer <token>, or ?ticket= from POST /api/v1/ws-ticket",
        )),
    }
}

/// Why a socket closes right after it opened.
pub const SESSION_ENDED: &str = "session ended";
pub const BAD_TICKET: &str = "ticket unknown, used or expired";
pub const CHECK_UNAVAILABLE: &str = "session check unavailable, retry";

/// The session a credential stands for now; the close reason otherwise.
pub async fn resolve(
    pool: &PgPool,
    cache: &shared::cache::ViewCache,
    keys: &shared::wire::SigningKeys,
    credential: Credential,
) -> Result<Session, &'static str> {
    let (user_id, session_id, expires_at) = match credential {
        Credential::Public => {
            return Ok(Session {
                caller: None,
                expires_at: None,
            })
        }
        Credential::Development => {
            return Ok(Session {
                caller: Some(Caller::development()),
                expires_at: None,
            })
        }
        Credential::Token(verified) => (
            verified.caller.user_id,
            verified.caller.session_id.ok_or(SESSION_ENDED)?,
            verified.expires_at,
        ),
        Credential::Ticket(ticket) => {
            let redeemed = shared::auth::ws_ticket::redeem(cache, keys, &ticket)
                .await
                .map_err(|error| {
                    tracing::warn!(%error, "cannot read a WebSocket ticket");
                    CHECK_UNAVAILABLE
                })?
                .ok_or(BAD_TICKET)?;
            (redeemed.user_id, redeemed.session_id, redeemed.expires_at)
        }
    };
    let caller = current(pool, user_id, session_id).await?;
    Ok(Session {
        caller: Some(caller),
        expires_at: Some(expires_at),
    })
}

/// The account behind a live session, as it stands now.
pub async fn current(
    pool: &PgPool,
    user_id: uuid::Uuid,
    session_id: uuid::Uuid,
) -> Result<Caller, &'static str> {
    match shared::auth::session::current(pool, user_id, session_id).await {
        Ok(Some(caller)) => Ok(caller),
        Ok(None) => Err(SESSION_ENDED),
        Err(error) => {
            tracing::warn!(%error, "cannot check a session");
            Err(CHECK_UNAVAILABLE)
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

fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

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

/// Whether a role's rights to packages change with its deliveries.
pub fn follows_deliveries(role: Role) -> bool {
    matches!(role, Role::Courier)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_ticket_comes_from_the_query() {
        assert_eq!(
            super::query_value(Some("a=1&ticket=abc"), "ticket"),
            Some("abc".into())
        );
        assert_eq!(super::query_value(Some("ticket="), "ticket"), None);
        assert_eq!(super::query_value(None, "ticket"), None);
        assert_eq!(super::query_value(Some("token=abc"), "ticket"), None);
    }
}
