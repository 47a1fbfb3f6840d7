//! Package commands, applied a window at a time: every command a shard's
//! consumer has waiting goes into one PostgreSQL transaction, in queue order,
//! written back with one statement per table.
//!
//! - [`window`]: the commands applied to the packages' state in memory;
//! - [`store`]: locking and loading that state, writing it back;
//! - [`carriage`]: which courier each package rides with, settled as
//!   statuses and runs change;
//! - [`plan`]: a package's destination and promise;
//! - [`history`]: rebuilding the outcome of a command applied before;
//! - [`flow`]: the pool's handler for the window runner;
//! - [`counts`]: folding the count changes the table's triggers append
//!   (what `GET /api/v1/stats` reads); [`change_log`]: pruning the
//!   every-package feed's change log, which triggers write.
//!
//! Account, delivery and device commands share the shard queues and the
//! window's transaction; [`crate::accounts`] applies them.
//!
//! Idempotency: the command's event id is unique in `status_events`. A command
//! seen before is not applied again; its recorded outcome is rebuilt instead,
//! unless it carries another request's fingerprint (an `Idempotency-Key`
//! reused for a different request), which is refused.

pub(crate) mod carriage;
pub mod change_log;
pub mod counts;
pub mod flow;
mod history;
mod plan;
mod store;
pub mod window;

use shared::wire::{AccountOutcome, Command, Envelope, Event, PackageEvent, RejectReason};
use sqlx::{PgConnection, PgPool};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

pub use crate::outcome::Outcome;
pub use store::StoreError as PackageError;
use window::Window;

/// Applies the commands of one window in one transaction, in order, and
/// returns each one's outcome (same order).
pub async fn apply_window(
    pool: &PgPool,
    commands: &[&Envelope<Command>],
) -> Result<Vec<Outcome>, PackageError> {
    let mut tx = pool.begin().await?;
    let deliveries = carriage::deliveries_of(commands);
    // The packages a changed run stopped at before: they may leave it.
    let mut aboard_before = carriage::stops_of(&mut tx, &deliveries).await?;
    let mut applying = Applying::open(&mut tx, commands).await?;
    let mut outcomes = Vec::with_capacity(commands.len());
    for (index, command) in commands.iter().enumerate() {
        let outcome = applying.apply(&mut tx, index, command, &outcomes).await?;
        if outcome.applied() {
            applying.audit.push(shared::audit::of_command(command));
        }
        outcomes.push(outcome);
    }
    if !applying.window.changed() && !applying.side_writes {
        tx.rollback().await?;
    } else {
        store::write(&mut tx, &applying.window).await?;
        crate::mail::recipients::remember::remember(&mut tx, commands, &outcomes).await?;
        let mut settle: Vec<Uuid> = applying
            .window
            .status_rows
            .iter()
            .map(|r| r.package_id)
            .collect();
        settle.append(&mut aboard_before);
        settle.extend(carriage::stops_of(&mut tx, &deliveries).await?);
        settle.sort_unstable();
        settle.dedup();
        // The window's own packages were locked when it loaded them.
        let held: HashSet<Uuid> = applying.window.packages.values().map(|r| r.id).collect();
        let moved = carriage::settle(&mut tx, &settle, |id| held.contains(id)).await?;
        // A run reassigned or completed changes no command's own package:
        // the window's last outcome carries the views to invalidate.
        if let Some(last) = outcomes.last_mut() {
            last.carried_off = moved;
        }
        shared::audit::record(&mut *tx, &applying.audit).await?;
        tx.commit().await?;
    }
    Ok(outcomes)
}

/// A window's state while its commands are applied in its transaction.
struct Applying<'c> {
    /// Commands applied by an earlier window, with their fingerprints.
    applied_before: HashMap<Uuid, Option<String>>,
    /// The packages the window names, locked, and what it changes.
    window: Window,
    /// Earlier commands of this window by event id: a message published
    /// twice may arrive twice in one window.
    in_window: HashMap<Uuid, (Option<&'c str>, usize)>,
    /// Account and delivery commands write their own rows as they go.
    side_writes: bool,
    audit: Vec<shared::audit::AuditEntry>,
}

impl<'c> Applying<'c> {
    async fn open(
        tx: &mut PgConnection,
        commands: &[&Envelope<Command>],
    ) -> Result<Self, sqlx::Error> {
        let event_ids: Vec<Uuid> = commands.iter().map(|c| c.event_id).collect();
        let applied_before = store::applied_before(tx, &event_ids).await?;
        let tracking_numbers: Vec<&str> = commands
            .iter()
            .filter_map(|c| c.body.tracking_number().map(|tn| tn.as_str()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let window = store::load_locked(tx, &tracking_numbers).await?;
        Ok(Self {
            applied_before,
            window,
            in_window: HashMap::new(),
            side_writes: false,
            audit: Vec::new(),
        })
    }

    /// One command's outcome: applied now, or the outcome it had when it
    /// was applied before (in this window or an earlier one), or a refusal
    /// of an `Idempotency-Key` reused for another request.
    async fn apply(
        &mut self,
        tx: &mut PgConnection,
        index: usize,
        command: &'c Envelope<Command>,
        outcomes: &[Outcome],
    ) -> Result<Outcome, sqlx::Error> {
        let fingerprint = command.fingerprint.as_deref();
        if let Some(&(first, earlier)) = self.in_window.get(&command.event_id) {
            return Ok(if same_request(first, fingerprint) {
                Outcome::unchanged(outcomes[earlier].event.clone())
            } else {
                key_reused(command)
            });
        }
        if let Some(first) = self.applied_before.get(&command.event_id) {
            if !same_request(first.as_deref(), fingerprint) {
                return Ok(key_reused(command));
            }
            let event = history::replay(tx, command.event_id)
                .await?
                .ok_or(sqlx::Error::RowNotFound)?;
            return Ok(Outcome::unchanged(event));
        }
        self.in_window
            .insert(command.event_id, (fingerprint, index));
        if command.body.tracking_number().is_some() {
            return Ok(self.window.apply(command));
        }
        self.side_writes = true;
        Ok(match crate::accounts::apply(tx, command).await? {
            Some(outcome) => outcome,
            None => self.window.apply(command),
        })
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
        Some(tracking_number) => PackageEvent::CommandRejected {
            tracking_number: tracking_number.clone(),
            reason,
            message,
        }
        .into(),
        None => Event::Account(AccountOutcome::AccountRejected { reason, message }),
    };
    Outcome::unchanged(event)
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

pub use shared::db::is_transient;
