//! Account commands beyond sign-up, applied in the package window's
//! transaction: an admin changes a role or disables an account; a mailed
//! link verifies an email or resets a password; a verification or reset
//! link is asked for.
//!
//! Every change that narrows what an account may do ends up as an
//! [`Event::AccountChanged`]: the consumer records the account as changed,
//! and every ingest and broadcaster checks it again within seconds.

use super::{refusal, reply_only_rejection};
use crate::outcome::Outcome;
use chrono::{DateTime, Utc};
use shared::auth::policy::Action;
use shared::auth::{UserView, USER_COLUMNS};
use shared::wire::{
    AccountOutcome, Command, Envelope, LinkKind, RejectReason, RequestPasswordReset,
    ResendVerification, ResetPassword, UpdateUser, VerifyEmail,
};
use sqlx::PgConnection;
use uuid::Uuid;

/// The least time between two mails to one account that someone other than
/// its owner may have caused.
pub const MAIL_THROTTLE: chrono::Duration = chrono::Duration::minutes(2);

fn changed(user: UserView) -> Outcome {
    super::outcome(AccountOutcome::AccountChanged(user))
}

fn acknowledged() -> Outcome {
    super::outcome(AccountOutcome::Acknowledged)
}

pub async fn load(tx: &mut PgConnection, user_id: Uuid) -> Result<Option<UserView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR UPDATE"
    ))
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await
}

pub async fn update(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &UpdateUser,
) -> Result<Outcome, sqlx::Error> {
    if let Some(refused) = refusal(envelope, Action::ManageUsers) {
        return Ok(refused);
    }
    // An admin who could demote or disable themselves could leave the
    // deployment with no admin at all.
    if super::account_of(envelope) == Some(command.user_id) {
        return Ok(reply_only_rejection(
            RejectReason::Conflict,
            "an admin cannot change their own role or disable their own account",
        ));
    }
    if let Some(refused) = stale_or_missing(tx, envelope, command.user_id).await? {
        return Ok(refused);
    }
    sqlx::query(
        "UPDATE users SET role = COALESCE($2, role), \
         disabled_at = CASE WHEN $3 IS NULL THEN disabled_at WHEN $3 THEN COALESCE(disabled_at, $4) ELSE NULL END, \
         updated_at = GREATEST(updated_at, $4), access_changed_at = $4 WHERE id = $1",
    )
    .bind(command.user_id)
    .bind(command.role.map(|r| r.as_str()))
    .bind(command.disabled)
    .bind(envelope.occurred_at)
    .execute(&mut *tx)
    .await?;
    if command.role.is_some() || command.disabled.is_some() {
        // The webhook pool reloads its endpoints' owners at once: a
        // dispatcher made a customer gets no courier's event after this.
        super::webhooks::bump_revision(tx).await?;
    }
    if command.disabled == Some(true) {
        super::sessions::end_all(
            tx,
            command.user_id,
            envelope.occurred_at,
            "account disabled",
        )
        .await?;
    }
    Ok(load(tx, command.user_id)
        .await?
        .map_or_else(acknowledged, changed))
}

/// Locks the account for an admin's change: `Some` refusal when it does
/// not exist, or changed after the request was made.
async fn stale_or_missing(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    user_id: Uuid,
) -> Result<Option<Outcome>, sqlx::Error> {
    let changed_at: Option<Option<chrono::DateTime<chrono::Utc>>> =
        sqlx::query_scalar("SELECT access_changed_at FROM users WHERE id = $1 FOR UPDATE")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(changed_at) = changed_at else {
        return Ok(Some(reply_only_rejection(
            RejectReason::NotFound,
            &format!("user {user_id} not found"),
        )));
    };
    // A change older than the account's last admin change (a message
    // replayed from the broker, or re-driven from the dead letters) must
    // not undo it: re-enabling an account disabled since, say. Its own
    // redelivery has the same time and applies again, to the same effect.
    Ok(changed_at
        .is_some_and(|at| at > envelope.occurred_at)
        .then(|| {
            reply_only_rejection(
                RejectReason::Conflict,
                "the account changed after this request; load it and try again",
            )
        }))
}

/// Records that a mailed link was used; `Ok(false)` when it was used before
/// by another command (this one's redelivery is `Ok(true)` again).
async fn use_link(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    nonce: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query("INSERT INTO used_links (nonce, event_id, used_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(nonce)
        .bind(envelope.event_id)
        .bind(envelope.occurred_at)
        .execute(&mut *tx)
        .await?;
    let user: Uuid = sqlx::query_scalar("SELECT event_id FROM used_links WHERE nonce = $1")
        .bind(nonce)
        .fetch_one(&mut *tx)
        .await?;
    Ok(user == envelope.event_id)
}

fn link_refused(message: &str) -> Outcome {
    reply_only_rejection(RejectReason::Unauthenticated, message)
}

pub async fn verify_email(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &VerifyEmail,
) -> Result<Outcome, sqlx::Error> {
    // Ingest checked that the account's own session presents the link;
    // a command that says otherwise did not come from there.
    if super::account_of(envelope) != Some(command.user_id) {
        return Ok(link_refused("the link is not for this account"));
    }
    let Some(user) = load(tx, command.user_id).await? else {
        return Ok(link_refused("the link is not valid"));
    };
    if user.email != command.email.as_str() || user.disabled {
        return Ok(link_refused("the link is not valid for this account"));
    }
    // Verified already: nothing to write, and no account change to tell
    // every instance about (presenting a link again must cost nothing).
    if user.email_verified {
        return Ok(acknowledged());
    }
    if !use_link(tx, envelope, &command.nonce).await? {
        return Ok(link_refused("the link was already used; ask for a new one"));
    }
    sqlx::query(
        "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $2), \
         updated_at = GREATEST(updated_at, $2) WHERE id = $1",
    )
    .bind(command.user_id)
    .bind(envelope.occurred_at)
    .execute(&mut *tx)
    .await?;
    Ok(load(tx, command.user_id)
        .await?
        .map_or_else(acknowledged, changed))
}

/// Which kind of mail, for its throttle.
#[derive(Clone, Copy)]
enum Throttled {
    Verify,
    Reset,
}

/// Marks an account as mailed this kind of mail now, unless it was within
/// [`MAIL_THROTTLE`] (then `false`: send nothing).
async fn may_mail(
    tx: &mut PgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
    kind: Throttled,
) -> Result<bool, sqlx::Error> {
    let column = match kind {
        Throttled::Verify => "verify_mail_at",
        Throttled::Reset => "reset_mail_at",
    };
    let marked = sqlx::query(&format!(
        "UPDATE users SET {column} = $2 WHERE id = $1 AND ({column} IS NULL OR {column} < $3)"
    ))
    .bind(user_id)
    .bind(now)
    .bind(now - MAIL_THROTTLE)
    .execute(&mut *tx)
    .await?;
    Ok(marked.rows_affected() == 1)
}

pub async fn resend_verification(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &ResendVerification,
) -> Result<Outcome, sqlx::Error> {
    if super::account_of(envelope) != Some(command.user_id) {
        return Ok(reply_only_rejection(
            RejectReason::Forbidden,
            "only the account itself asks for its verification link",
        ));
    }
    let Some(user) = load(tx, command.user_id).await? else {
        return Ok(acknowledged());
    };
    if user.email_verified
        || user.disabled
        || !may_mail(tx, user.id, envelope.occurred_at, Throttled::Verify).await?
    {
        return Ok(acknowledged());
    }
    Ok(link_requested(user, LinkKind::VerifyEmail))
}

fn link_requested(user: UserView, link: LinkKind) -> Outcome {
    match shared::domain::Email::parse(&user.email) {
        Ok(email) => super::outcome(AccountOutcome::LinkRequested {
            user_id: user.id,
            email,
            link,
        }),
        Err(_) => acknowledged(),
    }
}

pub async fn request_password_reset(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &RequestPasswordReset,
) -> Result<Outcome, sqlx::Error> {
    let found: Option<(Uuid, Option<String>)> = sqlx::query_as(
        "SELECT id, password_hash FROM users WHERE email = $1 AND disabled_at IS NULL",
    )
    .bind(command.email.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((user_id, Some(hash))) = found else {
        return Ok(acknowledged());
    };
    if !may_mail(tx, user_id, envelope.occurred_at, Throttled::Reset).await? {
        return Ok(acknowledged());
    }
    let Some(user) = load(tx, user_id).await? else {
        return Ok(acknowledged());
    };
    let password_version = shared::auth::links::password_version(&hash);
    Ok(link_requested(
        user,
        LinkKind::ResetPassword { password_version },
    ))
}

pub async fn reset_password(
    tx: &mut PgConnection,
    envelope: &Envelope<Command>,
    command: &ResetPassword,
) -> Result<Outcome, sqlx::Error> {
    let current: Option<(Option<String>, bool)> = sqlx::query_as(
        "SELECT password_hash, disabled_at IS NOT NULL FROM users WHERE id = $1 FOR UPDATE",
    )
    .bind(command.user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((hash, disabled)) = current else {
        return Ok(link_refused("the link is not valid"));
    };
    let first_use = use_link(tx, envelope, &command.nonce).await?;
    let fresh = hash.as_deref().map(shared::auth::links::password_version)
        == Some(command.password_version.clone());
    // A redelivery of this very reset finds the new password in place.
    let replayed = !fresh && first_use && hash.as_deref() == Some(command.password_hash.as_str());
    if disabled || (!first_use) || (!fresh && !replayed) {
        return Ok(link_refused(
            "the link was already used or has expired; ask for a new one",
        ));
    }
    if fresh {
        // Following the link proved the address is the account's, too.
        sqlx::query(
            "UPDATE users SET password_hash = $2, updated_at = GREATEST(updated_at, $3), \
             email_verified_at = COALESCE(email_verified_at, $3) WHERE id = $1",
        )
        .bind(command.user_id)
        .bind(&command.password_hash)
        .bind(envelope.occurred_at)
        .execute(&mut *tx)
        .await?;
        super::sessions::end_all(tx, command.user_id, envelope.occurred_at, "password reset")
            .await?;
    }
    Ok(load(tx, command.user_id)
        .await?
        .map_or_else(acknowledged, changed))
}
