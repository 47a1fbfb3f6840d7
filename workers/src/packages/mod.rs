//! Package commands, applied a window at a time: every command a shard's
//! consumer has waiting goes into one PostgreSQL transaction, in queue order,
//! written back with one statement per table.
//!
//! - [`window`]: the commands applied to the packages' state in memory;
//! - [`store`]: locking and loading that state, writing it back;
//! - [`history`]: rebuilding the outcome of a command applied before;
//! - [`prune`]: forgetting ended sessions and used links, hourly;
//! - [`flow`]: the pool's handler for the window runner.
//!
//! Idempotency: the command's event id is unique in `status_events`. A command
//! seen before is not applied again; its recorded outcome is rebuilt instead,
//! unless it carries another request's fingerprint (an `Idempotency-Key`
//! reused for a different request), which is refused.

mod accounts;
mod deliveries;
mod devices;
pub mod flow;
mod history;
pub mod prune;
mod sessions;
mod store;
mod users;
pub mod window;

use shared::wire::{Command, Envelope, Event, RejectReason};
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

pub use store::StoreError as PackageError;
pub use window::Outcome;

/// Applies the commands of one window in one transaction, in order, and
/// returns each one's outcome (same order).
pub async fn apply_window(
    pool: &PgPool,
    commands: &[&Envelope<Command>],
) -> Result<Vec<Outcome>, PackageError> {
    let mut tx = pool.begin().await?;
    let event_ids: Vec<Uuid> = commands.iter().map(|c| c.event_id).collect();
    let applied_before = store::applied_before(&mut tx, &event_ids).await?;
    let tracking_numbers: Vec<&str> = commands
        .iter()
        .filter_map(|c| c.body.tracking_number().map(|tn| tn.as_str()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut window = store::load_locked(&mut tx, &tracking_numbers).await?;
    // Account and delivery commands write their own rows as they go.
    let mut side_writes = false;
    let mut audit = Vec::new();

    let mut outcomes = Vec::with_capacity(commands.len());
    // Earlier commands of this window by event id: a message published twice
    // may arrive twice in one window.
    let mut in_window: HashMap<Uuid, (Option<&str>, usize)> = HashMap::new();
    for (index, command) in commands.iter().enumerate() {
        let fingerprint = command.fingerprint.as_deref();
        let outcome = if let Some(&(first, earlier)) = in_window.get(&command.event_id) {
            if same_request(first, fingerprint) {
                let earlier: &Outcome = &outcomes[earlier];
                Outcome {
                    event: earlier.event.clone(),
                    changed_version: None,
                }
            } else {
                key_reused(command)
            }
        } else if let Some(first) = applied_before.get(&command.event_id) {
            if same_request(first.as_deref(), fingerprint) {
                let event = history::replay(&mut tx, command.event_id)
                    .await?
                    .ok_or(sqlx::Error::RowNotFound)?;
                Outcome {
                    event,
                    changed_version: None,
                }
            } else {
                key_reused(command)
            }
        } else if command.body.tracking_number().is_none() {
            in_window.insert(command.event_id, (fingerprint, index));
            side_writes = true;
            match &command.body {
                Command::RegisterUser(c) => accounts::register(&mut tx, command, c).await?,
                Command::CreateDelivery(c) => deliveries::create(&mut tx, command, c).await?,
                Command::UpdateDelivery(c) => deliveries::update(&mut tx, command, c).await?,
                Command::RegisterDevice(c) => devices::register(&mut tx, command, c).await?,
                Command::RotateDeviceKey(c) => devices::rotate(&mut tx, command, c).await?,
                Command::RevokeDevice(c) => devices::revoke(&mut tx, command, c).await?,
                Command::StartSession(c) => sessions::start(&mut tx, command, c).await?,
                Command::RefreshSession(c) => sessions::refresh(&mut tx, command, c).await?,
                Command::EndSession(c) => sessions::end(&mut tx, command, c).await?,
                Command::UpdateUser(c) => users::update(&mut tx, command, c).await?,
                Command::VerifyEmail(c) => users::verify_email(&mut tx, command, c).await?,
                Command::ResendVerification(c) => {
                    users::resend_verification(&mut tx, command, c).await?
                }
                Command::RequestPasswordReset(c) => {
                    users::request_password_reset(&mut tx, command, c).await?
                }
                Command::ResetPassword(c) => users::reset_password(&mut tx, command, c).await?,
                Command::CreatePackage(_) | Command::UpdateStatus(_) => window.apply(command),
            }
        } else {
            in_window.insert(command.event_id, (fingerprint, index));
            window.apply(command)
        };
        if outcome.applied() {
            audit.push(shared::audit::of_command(command));
        }
        outcomes.push(outcome);
    }
    if window.status_rows.is_empty() && !side_writes {
        tx.rollback().await?;
    } else {
        store::write(&mut tx, &window).await?;
        shared::audit::record(&mut *tx, &audit).await?;
        tx.commit().await?;
    }
    Ok(outcomes)
}

/// An outcome for a command that is not about one package: sent back to
/// the requester only.
fn reply_only_rejection(reason: RejectReason, message: &str) -> Outcome {
    Outcome {
        event: Event::AccountRejected {
            reason,
            message: message.to_owned(),
        },
        changed_version: None,
    }
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

/// Two requests under one event id are the same unless both carry a
/// fingerprint and they differ (commands from before fingerprints had none).
fn same_request(first: Option<&str>, again: Option<&str>) -> bool {
    match (first, again) {
        (Some(first), Some(again)) => first == again,
        _ => true,
    }
}

fn key_reused(command: &Envelope<Command>) -> Outcome {
    let reason = RejectReason::IdempotencyConflict;
    let message = "this Idempotency-Key was already used for a different request".to_owned();
    let event = match command.body.tracking_number() {
        Some(tracking_number) => Event::CommandRejected {
            tracking_number: tracking_number.clone(),
            reason,
            message,
        },
        None => Event::AccountRejected { reason, message },
    };
    Outcome {
        event,
        changed_version: None,
    }
}

impl PackageError {
    /// Whether retrying may succeed: everything but a permanent database
    /// error (see [`is_transient`]).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Database(error) => is_transient(error),
            Self::Raced(_) => true,
        }
    }
}

/// Whether a database error may go away by itself or never will.
///
/// Only errors that the command itself causes are permanent: data exceptions
/// (class 22), constraint violations (class 23) and values that cannot be
/// decoded. Everything else (connection refused or lost, a database not
/// accepting connections, a server restarting, serialization conflicts, a pool
/// timeout) is retried, because dead-lettering a valid command during an outage
/// would lose an accepted write.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            !(code.starts_with("22") || code.starts_with("23"))
        }
        sqlx::Error::Decode(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::RowNotFound
        | sqlx::Error::Encode(_) => false,
        _ => true,
    }
}
