//! Session commands, applied in the package window's transaction: start a
//! session (a sign-in ingest checked), rotate its refresh token, end it.
//!
//! Rotation is strict: each refresh token works once. A spent token that
//! comes back was copied (or the client lost the answer and replays an old
//! one): the whole session ends, so a thief's copy and the owner's both
//! stop. A redelivered refresh command (same event id) is answered as the
//! first time, not taken for a reuse; so is a client's retry within
//! [`shared::auth::session::RETRY_GRACE`] (ingest gives a retry the same
//! event id and successor).

use super::reply_only_rejection;
use crate::outcome::Outcome;
use shared::auth::{UserView, USER_COLUMNS};
use shared::wire::{
    AccountOutcome, Command, EndSession, Envelope, RefreshSession, RejectReason, StartSession,
};
use sqlx::PgConnection;
use uuid::Uuid;

const NOT_SIGNED_IN: &str =
    "the session has ended or the refresh token is not valid; sign in again";

fn unauthenticated(message: &str) -> Outcome {
    reply_only_rejection(RejectReason::Unauthenticated, message)
}

fn issued(session_id: Uuid, user: UserView) -> Outcome {
    super::outcome(AccountOutcome::SessionIssued { session_id, user })
}

/// The account, if it may hold a session: it exists and is not disabled.
async fn active_user(
    tx: &mut PgConnection,
    user_id: Uuid,
) -> Result<Option<UserView>, sqlx::Error> {
    let user: Option<UserView> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR UPDATE"
    ))
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(user.filter(|u| !u.disabled))
}

pub async fn start(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &StartSession,
) -> Result<Outcome, sqlx::Error> {
    // Only the account itself signs in: ingest names it as the principal
    // once its password checked out.
    if super::account_of(envelope) != Some(command.user_id) {
        return Ok(reply_only_rejection(
            RejectReason::Forbidden,
            "a session is started by its own account only",
        ));
    }
    let Some(user) = active_user(tx, command.user_id).await? else {
        return Ok(unauthenticated("the account is disabled or unknown"));
    };
    let hash: Option<String> = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(command.user_id)
        .fetch_one(&mut *tx)
        .await?;
    // A password reset that came between the check and now wins.
    let version = hash.as_deref().map(shared::auth::links::password_version);
    if version.as_deref() != Some(command.password_version.as_str()) {
        return Ok(unauthenticated("the password changed; sign in again"));
    }
    // The session id comes from the event id: a redelivery finds its row.
    sqlx::query(
        "INSERT INTO sessions (id, user_id, refresh_hash, created_at, refreshed_at, expires_at) \
         VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(command.session_id)
    .bind(command.user_id)
    .bind(&command.refresh_hash)
    .bind(envelope.occurred_at)
    .bind(command.expires_at)
    .execute(&mut *tx)
    .await?;
    Ok(issued(command.session_id, user))
}

pub async fn refresh(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &RefreshSession,
) -> Result<Outcome, sqlx::Error> {
    let session: Option<(Uuid, String, bool)> = sqlx::query_as(
        "SELECT user_id, refresh_hash, revoked_at IS NULL AND expires_at > $2 FROM sessions \
         WHERE id = $1 FOR UPDATE",
    )
    .bind(command.session_id)
    .bind(envelope.occurred_at)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((user_id, current, live)) = session else {
        return Ok(unauthenticated(NOT_SIGNED_IN));
    };
    let spent: Option<(Uuid, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT event_id, spent_at FROM spent_refresh_tokens WHERE hash = $1 AND session_id = $2",
    )
    .bind(&command.presented_hash)
    .bind(command.session_id)
    .fetch_optional(&mut *tx)
    .await?;
    let grace = chrono::Duration::from_std(shared::auth::session::RETRY_GRACE)
        .unwrap_or_else(|_| chrono::Duration::seconds(30));
    match spent {
        // This very command spent it moments ago: a redelivery or the
        // client's retry, answered again (if the session still stands).
        Some((event_id, spent_at))
            if event_id == envelope.event_id && envelope.occurred_at - spent_at <= grace =>
        {
            // Only while the successor it was answered with is still the
            // session's current token: once that was used in turn, whoever
            // presents the old one now learns nothing (and ends nothing:
            // it may be the owner's slow retry).
            if !live || current != command.next_hash {
                return Ok(unauthenticated(NOT_SIGNED_IN));
            }
        }
        // Spent before, and presented again: copied. The session ends.
        Some(_) => return revoke(tx, envelope, command.session_id, user_id).await,
        None if !live || current != command.presented_hash => {
            return Ok(unauthenticated(NOT_SIGNED_IN))
        }
        None => spend(tx, envelope, command).await?,
    }
    match active_user(tx, user_id).await? {
        Some(user) => Ok(issued(command.session_id, user)),
        None => Ok(unauthenticated("the account is disabled")),
    }
}

/// Spends the presented refresh token: the session moves on to its successor.
async fn spend(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &RefreshSession,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO spent_refresh_tokens (hash, session_id, event_id, spent_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(&command.presented_hash)
    .bind(command.session_id)
    .bind(envelope.event_id)
    .bind(envelope.occurred_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE sessions SET refresh_hash = $2, refreshed_at = $3, expires_at = $4 WHERE id = $1",
    )
    .bind(command.session_id)
    .bind(&command.next_hash)
    .bind(envelope.occurred_at)
    .bind(command.expires_at)
    .execute(&mut *tx)
    .await
    .map(drop)
}

/// Ends a session whose spent refresh token came back.
async fn revoke(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    session_id: Uuid,
    user_id: Uuid,
) -> Result<Outcome, sqlx::Error> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2), \
         revoked_reason = COALESCE(revoked_reason, 'refresh token reused') WHERE id = $1",
    )
    .bind(session_id)
    .bind(envelope.occurred_at)
    .execute(&mut *tx)
    .await?;
    tracing::warn!(%session_id, %user_id, "a spent refresh token was presented again; the session is ended");
    Ok(super::outcome(AccountOutcome::SessionEnded {
        session_id,
        user_id,
        revoked: true,
    }))
}

pub async fn end(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &EndSession,
) -> Result<Outcome, sqlx::Error> {
    let owner: Option<Uuid> = sqlx::query_scalar("SELECT user_id FROM sessions WHERE id = $1")
        .bind(command.session_id)
        .fetch_optional(&mut *tx)
        .await?;
    let caller = shared::auth::Caller::from_principal(&envelope.principal);
    let may = match (owner, &caller) {
        (Some(owner), Some(caller)) => {
            owner == caller.user_id
                || shared::auth::policy::role_may(caller.role, shared::auth::Action::ManageUsers)
        }
        _ => false,
    };
    let Some(user_id) = owner.filter(|_| may) else {
        return Ok(unauthenticated("no such session"));
    };
    sqlx::query(
        "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2), \
         revoked_reason = COALESCE(revoked_reason, 'signed out') WHERE id = $1",
    )
    .bind(command.session_id)
    .bind(envelope.occurred_at)
    .execute(&mut *tx)
    .await?;
    Ok(super::outcome(AccountOutcome::SessionEnded {
        session_id: command.session_id,
        user_id,
        revoked: false,
    }))
}

/// Ends every session of an account (a password reset, a disabled account).
pub async fn end_all(
    tx: &mut PgConnection,
    user_id: Uuid,
    at: chrono::DateTime<chrono::Utc>,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 \
         WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(at)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
