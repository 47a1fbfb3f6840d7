//! Zone commands (draw, change, delete), applied beside the package window:
//! the zone is written to MongoDB, then `geofence_revision` moves so every
//! location worker reloads what changed ([`super::zones`]).
//!
//! Each write is idempotent (a whole document replaced by id), so a
//! redelivered command is applied again harmlessly; a create whose zone
//! exists answers with it.

use crate::outcome::Outcome;
use chrono::Utc;
use mongodb::bson::doc;
use mongodb::Collection;
use shared::auth::policy::{role_may, Action};
use shared::auth::Caller;
use shared::geofences::stored::GeofenceDoc;
use shared::geofences::Zone;
use shared::wire::{AccountOutcome, Command, Envelope, RejectReason};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum ZoneWriteError {
    #[error("zones unavailable: {0}")]
    Mongo(#[from] mongodb::error::Error),
    #[error("zone revision unavailable: {0}")]
    Postgres(#[from] sqlx::Error),
    #[error("zone cannot be stored: {0}")]
    Unstorable(String),
}

impl ZoneWriteError {
    /// A store that is down comes back; a zone that cannot be stored never will.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Mongo(_) => true,
            Self::Postgres(error) => shared::db::is_transient(error),
            Self::Unstorable(_) => false,
        }
    }
}

#[derive(Clone)]
pub struct ZoneWriter {
    pub zones: Collection<GeofenceDoc>,
    pub pool: PgPool,
}

impl ZoneWriter {
    /// Applies zone commands in order.
    pub async fn apply_all(
        &self,
        commands: &[&Envelope<Command>],
    ) -> Result<Vec<Outcome>, ZoneWriteError> {
        let mut outcomes = Vec::with_capacity(commands.len());
        for command in commands {
            let mut touched = Vec::new();
            let event = self.apply(command, &mut touched).await?;
            let mut outcome = Outcome::unchanged(event);
            // Packages standing in a zone renamed or deleted: their cached
            // views name it.
            outcome.carried_off = super::notify::touch(&self.pool, &touched).await?;
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// Applies one command; `touched`: the subjects whose standing it changed.
    async fn apply(
        &self,
        command: &Envelope<Command>,
        touched: &mut Vec<Uuid>,
    ) -> Result<AccountOutcome, ZoneWriteError> {
        // Checked again here: a replayed message, or one re-driven after
        // its principal lost the right, is refused.
        let caller = Caller::from_principal(&command.principal);
        if !caller.is_some_and(|c| role_may(c.role, Action::ManageGeofences)) {
            return Ok(rejected(
                RejectReason::Forbidden,
                "the command's principal may not manage geofences",
            ));
        }
        let outcome = match &command.body {
            Command::CreateGeofence(create) => self.create(&create.zone).await?,
            Command::UpdateGeofence(update) => {
                self.update(update.zone_id, update.changes.clone(), touched)
                    .await?
            }
            Command::DeleteGeofence(delete) => self.delete(delete.zone_id, touched).await?,
            _ => return Ok(rejected(RejectReason::Invalid, "not a zone command")),
        };
        // Also after a refusal: a retried write may have stored the zone
        // before failing, and a spare reload costs little.
        self.bump_revision().await?;
        Ok(outcome)
    }

    async fn create(&self, zone: &Zone) -> Result<AccountOutcome, ZoneWriteError> {
        match self.find(zone.id).await? {
            Some(stored) if stored.deleted => Ok(not_found(zone.id)),
            Some(stored) => Ok(stored
                .zone()
                .map_or_else(|| not_found(zone.id), AccountOutcome::GeofenceChanged)),
            None => {
                // Stamped by the worker's clock like every change: caches
                // reload by `updated_at`, and a create that waited in the
                // queue must not land behind what they already read.
                let mut zone = zone.clone();
                zone.updated_at = Utc::now();
                self.store(&zone).await?;
                Ok(AccountOutcome::GeofenceChanged(zone))
            }
        }
    }

    async fn update(
        &self,
        zone_id: Uuid,
        changes: shared::geofences::parse::ZoneFields,
        touched: &mut Vec<Uuid>,
    ) -> Result<AccountOutcome, ZoneWriteError> {
        let Some(mut zone) = self.find(zone_id).await?.and_then(|d| d.zone()) else {
            return Ok(not_found(zone_id));
        };
        // The worker's clock, not the request's: caches reload by
        // `updated_at`, and a command that waited in the queue must not
        // land behind what they already read.
        let renamed = changes.name.as_ref().is_some_and(|name| *name != zone.name);
        zone.change(changes, Utc::now());
        self.store(&zone).await?;
        if renamed {
            touched.extend(super::standing::rename_zone(&self.pool, zone_id, &zone.name).await?);
        }
        Ok(AccountOutcome::GeofenceChanged(zone))
    }

    async fn delete(
        &self,
        zone_id: Uuid,
        touched: &mut Vec<Uuid>,
    ) -> Result<AccountOutcome, ZoneWriteError> {
        let Some(stored) = self.find(zone_id).await? else {
            return Ok(not_found(zone_id));
        };
        if !stored.deleted {
            let tombstone = GeofenceDoc::tombstone(zone_id, Utc::now());
            self.replace(&tombstone).await?;
        }
        // Also for a tombstone: a delete retried after the tombstone was
        // written finishes the job (and answers as the repeat it is).
        touched.extend(super::standing::forget_zone(&self.pool, zone_id).await?);
        Ok(if stored.deleted {
            not_found(zone_id)
        } else {
            AccountOutcome::GeofenceDeleted { zone_id }
        })
    }

    async fn find(&self, zone_id: Uuid) -> Result<Option<GeofenceDoc>, ZoneWriteError> {
        Ok(self
            .zones
            .find_one(doc! { "_id": zone_id.to_string() })
            .await?)
    }

    async fn store(&self, zone: &Zone) -> Result<(), ZoneWriteError> {
        let document = GeofenceDoc::of(zone).map_err(ZoneWriteError::Unstorable)?;
        self.replace(&document).await
    }

    async fn replace(&self, document: &GeofenceDoc) -> Result<(), ZoneWriteError> {
        self.zones
            .replace_one(doc! { "_id": &document.id }, document)
            .upsert(true)
            .await
            .map(drop)
            .map_err(|error| match error.kind.as_ref() {
                // The server refused the area itself (its 2dsphere index
                // cannot take it): no retry makes it storable.
                mongodb::error::ErrorKind::Write(_) => {
                    ZoneWriteError::Unstorable(error.to_string())
                }
                _ => ZoneWriteError::Mongo(error),
            })
    }

    async fn bump_revision(&self) -> Result<(), ZoneWriteError> {
        super::standing::bump_revision(&self.pool).await?;
        Ok(())
    }
}

fn rejected(reason: RejectReason, message: &str) -> AccountOutcome {
    AccountOutcome::AccountRejected {
        reason,
        message: message.to_owned(),
    }
}

fn not_found(zone_id: Uuid) -> AccountOutcome {
    rejected(
        RejectReason::NotFound,
        &format!("geofence {zone_id} not found"),
    )
}
