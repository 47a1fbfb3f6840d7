//! Account commands, applied in the package window's transaction (they share
//! the shard queues: an email picks the shard, so two sign-ups for one
//! address are decided in order).

use crate::outcome::Outcome;
use shared::auth::policy::{self, Action};
use shared::auth::{Caller, Role, UserView, USER_COLUMNS};
use shared::wire::{AccountOutcome, Envelope, RegisterUser, RejectReason};
use sqlx::PgConnection;

/// Creates the account, or says why not. Idempotent: the account's id comes
/// from the command's event id, so a redelivery finds its own row.
pub async fn register(
    tx: &mut PgConnection,
    envelope: &Envelope<shared::wire::Command>,
    command: &RegisterUser,
) -> Result<Outcome, sqlx::Error> {
    if !may_register(
        Caller::from_principal(&envelope.principal).as_ref(),
        command.role,
    ) {
        return Ok(super::reply_only_rejection(
            RejectReason::Forbidden,
            "only an admin creates accounts with this role",
        ));
    }
    if let Some(user) = insert(tx, envelope, command).await? {
        return Ok(super::outcome(AccountOutcome::UserRegistered(user)));
    }
    // The email has an account. An admin is told so; a sign-up is answered
    // like any other (the requester learns nothing), and the account's
    // owner gets a mail saying someone tried, at most every few minutes.
    if envelope.principal.subject.is_some() {
        return Ok(super::reply_only_rejection(
            RejectReason::Conflict,
            "an account with this email already exists",
        ));
    }
    let owner: Option<uuid::Uuid> = sqlx::query_scalar(
        "UPDATE users SET notice_mail_at = $2 WHERE email = $1 \
         AND (notice_mail_at IS NULL OR notice_mail_at < $3) RETURNING id",
    )
    .bind(command.email.as_str())
    .bind(envelope.occurred_at)
    .bind(envelope.occurred_at - super::users::MAIL_THROTTLE)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(super::outcome(match owner {
        Some(_) => AccountOutcome::AlreadyRegistered {
            email: command.email.clone(),
        },
        None => AccountOutcome::Acknowledged,
    }))
}

/// The new account, or the one this command made before (a redelivery);
/// `None` when the email belongs to another account.
async fn insert(
    tx: &mut PgConnection,
    envelope: &Envelope<shared::wire::Command>,
    command: &RegisterUser,
) -> Result<Option<UserView>, sqlx::Error> {
    let inserted: Option<UserView> = sqlx::query_as(&format!(
        "INSERT INTO users (id, email, name, password_hash, role, created_at, verify_mail_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT DO NOTHING RETURNING {USER_COLUMNS}"
    ))
    .bind(command.user_id)
    .bind(command.email.as_str())
    .bind(command.name.as_str())
    .bind(&command.password_hash)
    .bind(command.role.as_str())
    .bind(envelope.occurred_at)
    .fetch_optional(&mut *tx)
    .await?;
    if inserted.is_some() {
        return Ok(inserted);
    }
    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(command.user_id)
        .fetch_optional(&mut *tx)
        .await
}

/// Anyone may sign up as a customer (an envelope with no principal is a
/// sign-up); every other role is an admin's to give.
fn may_register(caller: Option<&Caller>, role: Role) -> bool {
    match caller {
        None => role == Role::Customer,
        Some(caller) => policy::role_may(caller.role, Action::ManageUsers),
    }
}
