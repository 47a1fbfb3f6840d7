//! Account, session, delivery and device commands. They travel on the
//! package shard queues (so they are ordered with the packages they name)
//! and are applied inside the package pool's window transaction
//! ([`crate::packages::apply_window`]), each writing its own rows as it
//! goes; their outcomes go back to the requester only.
//!
//! - [`register`]: sign-ups and accounts admins create;
//! - [`users`]: role changes, disabling, email verification, password resets;
//! - [`sessions`]: sign-in, refresh (a token used twice ends its session),
//!   sign-out;
//! - [`deliveries`], [`devices`]: couriers' runs and API keys;
//! - [`webhooks`]: integrators' endpoints: register, change, delete, rotate
//!   the secret (the webhook pool delivers to them);
//! - [`prune`]: forgetting ended sessions and used links, hourly.
//!
//! Each command's principal is checked again against the policy: a
//! replayed message, or one re-driven after its principal's rights
//! changed, is refused.

mod deliveries;
mod devices;
pub mod prune;
mod register;
mod sessions;
mod users;
mod webhooks;

use crate::outcome::Outcome;
use shared::wire::{AccountOutcome, Command, Envelope, RejectReason};
use sqlx::PgConnection;
use uuid::Uuid;

/// Applies an account command in the window's transaction; `None` for a
/// package command (the window applies those).
pub async fn apply(
    tx: &mut PgConnection,
    command: &Envelope<Command>,
) -> Result<Option<Outcome>, sqlx::Error> {
    Ok(Some(match &command.body {
        Command::RegisterUser(c) => register::register(tx, command, c).await?,
        Command::CreateDelivery(c) => deliveries::create(tx, command, c).await?,
        Command::UpdateDelivery(c) => deliveries::update(tx, command, c).await?,
        Command::RegisterDevice(c) => devices::register(tx, command, c).await?,
        Command::RotateDeviceKey(c) => devices::rotate(tx, command, c).await?,
        Command::RevokeDevice(c) => devices::revoke(tx, command, c).await?,
        Command::StartSession(c) => sessions::start(tx, command, c).await?,
        Command::RefreshSession(c) => sessions::refresh(tx, command, c).await?,
        Command::EndSession(c) => sessions::end(tx, command, c).await?,
        Command::UpdateUser(c) => users::update(tx, command, c).await?,
        Command::VerifyEmail(c) => users::verify_email(tx, command, c).await?,
        Command::ResendVerification(c) => users::resend_verification(tx, command, c).await?,
        Command::RequestPasswordReset(c) => users::request_password_reset(tx, command, c).await?,
        Command::ResetPassword(c) => users::reset_password(tx, command, c).await?,
        Command::CreateWebhook(c) => webhooks::create(tx, command, c).await?,
        Command::UpdateWebhook(c) => webhooks::update(tx, command, c).await?,
        Command::DeleteWebhook(c) => webhooks::delete(tx, command, c).await?,
        Command::RotateWebhookSecret(c) => webhooks::rotate(tx, command, c).await?,
        Command::UnsubscribeRecipient(c) => {
            crate::mail::recipients::suppress::apply(tx, command, c).await?
        }
        Command::CreatePackage(_) | Command::UpdateStatus(_) | Command::UpdatePlan(_) => {
            return Ok(None)
        }
        // Applied beside the window (crate::geofences::writes), never here.
        Command::CreateGeofence(_) | Command::UpdateGeofence(_) | Command::DeleteGeofence(_) => {
            reply_only_rejection(RejectReason::Invalid, "not an account command")
        }
    }))
}

/// An outcome for a command that is not about one package: sent back to
/// the requester only.
fn reply_only_rejection(reason: RejectReason, message: &str) -> Outcome {
    outcome(AccountOutcome::AccountRejected {
        reason,
        message: message.to_owned(),
    })
}

/// An account outcome: it changed no package.
fn outcome(outcome: AccountOutcome) -> Outcome {
    Outcome::unchanged(outcome)
}

/// The account an envelope's principal names, if it names one.
fn account_of(envelope: &Envelope<Command>) -> Option<Uuid> {
    envelope.principal.subject.as_deref()?.parse().ok()
}

/// Why the envelope's principal may not take the action (`None`: it may).
fn refusal(envelope: &Envelope<Command>, action: shared::auth::Action) -> Option<Outcome> {
    let caller = shared::auth::Caller::from_principal(&envelope.principal);
    if caller.is_some_and(|c| shared::auth::policy::role_may(c.role, action)) {
        None
    } else {
        Some(reply_only_rejection(
            RejectReason::Forbidden,
            "the command's principal may not do this",
        ))
    }
}
