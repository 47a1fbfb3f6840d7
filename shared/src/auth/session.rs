//! Sessions: what one sign-in started, renewed by refresh tokens and ended
//! by a sign-out, a password reset, a disabled account or a refresh token
//! used twice. The workers write them; ingest and the broadcaster read
//! them here, to turn a verified access token into the caller as the
//! account stands now.
//!
//! A refresh token is `dtr_`, the session id (32 hex digits), `_`, and 64
//! hex digits of randomness: opaque to clients, routable without a lookup
//! (the session picks the shard its commands are applied on), and stored
//! only as its SHA-256.

use super::{Caller, Role};
use crate::domain::Email;
use sqlx::PgPool;
use uuid::Uuid;

pub const REFRESH_PREFIX: &str = "dtr_";

/// A new refresh token for `session`, and the hash to store for it.
pub fn new_refresh_token(session: Uuid) -> (String, String) {
    let token = format!(
        "{REFRESH_PREFIX}{}_{}",
        session.simple(),
        super::api_key::random_hex(32)
    );
    let hash = super::api_key::hash(&token);
    (token, hash)
}

/// How long after a refresh token was spent presenting it again is taken
/// for the client retrying (its answer was lost), answered with the same
/// successor; later, it is a copy, and the session ends.
pub const RETRY_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

const SUCCESSOR: &str = "refresh-successor";
const RETRY_NAMESPACE: Uuid = Uuid::from_u128(0x9e43_27b1_c06d_4a58_b1f3_5d20_7e8a_c613);

/// The token that follows `presented` in its session, and its hash: a MAC
/// of the presented token, so a client retrying a refresh whose answer it
/// lost gets the same successor, and nobody without the key can predict it.
pub fn successor_token(
    keys: &crate::seal::SigningKeys,
    session: Uuid,
    presented: &str,
) -> (String, String) {
    let secret: String = keys
        .tag(SUCCESSOR, presented.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let token = format!("{REFRESH_PREFIX}{}_{secret}", session.simple());
    let hash = super::api_key::hash(&token);
    (token, hash)
}

/// The event id of the refresh that spends the token with this hash: one
/// per token, so a retried refresh is the same command as the first try.
pub fn refresh_event_id(presented_hash: &str) -> Uuid {
    Uuid::new_v5(&RETRY_NAMESPACE, presented_hash.as_bytes())
}

/// The session a refresh token names, if it has the shape of one.
pub fn session_of_refresh_token(token: &str) -> Option<Uuid> {
    let rest = token.strip_prefix(REFRESH_PREFIX)?;
    let (session, secret) = rest.split_once('_')?;
    if session.len() != 32 || secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Uuid::try_parse(session).ok()
}

/// The caller a token of `session` stands for now: the account's current
/// role, and its email only once verified. `None` when the session ended
/// (signed out, revoked, expired), the account is disabled, or either is
/// unknown.
pub async fn current(
    pool: &PgPool,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<Option<Caller>, sqlx::Error> {
    let row: Option<(String, String, bool)> = sqlx::query_as(
        "SELECT u.role, u.email, u.email_verified_at IS NOT NULL FROM users u \
         JOIN sessions s ON s.user_id = u.id \
         WHERE u.id = $1 AND s.id = $2 AND u.disabled_at IS NULL \
           AND s.revoked_at IS NULL AND s.expires_at > now()",
    )
    .bind(user_id)
    .bind(session_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(role, email, verified)| {
        Some(Caller {
            user_id,
            role: role.parse::<Role>().ok()?,
            email: verified.then(|| Email::parse(&email).ok()).flatten(),
            device_id: None,
            session_id: Some(session_id),
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_token_names_its_session_and_nothing_else_passes_for_one() {
        let session = Uuid::new_v4();
        let (token, hash) = new_refresh_token(session);
        assert_eq!(session_of_refresh_token(&token), Some(session));
        assert_ne!(new_refresh_token(session).0, token);
        assert_eq!(super::super::api_key::hash(&token), hash);
        assert!(!hash.contains(&token[4..]));
        for bad in [
            "",
            "dtr_",
            "dtr_x_y",
            &token[..token.len() - 1],
            &token.replace("dtr_", "dtk_"),
        ] {
            assert_eq!(session_of_refresh_token(bad), None, "{bad}");
        }
    }
}
