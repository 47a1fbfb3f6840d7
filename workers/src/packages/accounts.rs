//! Account commands, applied in the package window's transaction (they share
//! the shard queues: an email picks the shard, so two sign-ups for one
//! address are decided in order).

use super::Outcome;
use shared::auth::policy::{self, Action};
use shared::auth::{Caller, Role, UserView};
use shared::wire::{Envelope, Event, RegisterUser, RejectReason};
use sqlx::PgConnection;

const USER_COLUMNS: &str = "id, email, name, role, created_at";

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
    let inserted: Option<UserView> = sqlx::query_as(&format!(
        "INSERT INTO users (id, email, name, password_hash, role, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING {USER_COLUMNS}"
    ))
    .bind(command.user_id)
    .bind(command.email.as_str())
    .bind(command.name.as_str())
    .bind(&command.password_hash)
    .bind(command.role.as_str())
    .bind(envelope.occurred_at)
    .fetch_optional(&mut *tx)
    .await?;
    let user = match inserted {
        Some(user) => Some(user),
        None => {
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                .bind(command.user_id)
                .fetch_optional(&mut *tx)
                .await?
        }
    };
    Ok(match user {
        Some(user) => Outcome {
            event: Event::UserRegistered(user),
            changed_version: None,
        },
        None => super::reply_only_rejection(
            RejectReason::Conflict,
            "an account with this email already exists",
        ),
    })
}

/// Anyone may sign up as a customer (an envelope with no principal is a
/// sign-up); every other role is an admin's to give.
fn may_register(caller: Option<&Caller>, role: Role) -> bool {
    match caller {
        None => role == Role::Customer,
        Some(caller) => policy::role_may(caller.role, Action::ManageUsers),
    }
}
