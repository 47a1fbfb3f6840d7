//! The accounts flow's data (accounts, their sessions, couriers' deliveries
//! and devices), and who is calling and what they may do: one module every
//! service asks.
//!
//! - [`users`], [`deliveries`], [`devices`]: accounts, runs and devices as
//!   the API shows them, and every read of their tables outside the
//!   workers that write them (`workers/src/accounts/`).
//! - [`Role`] and [`Caller`]: an authenticated principal, as ingest, the
//!   workers and the broadcaster see it.
//! - [`token`]: access tokens (JWT) made and checked with `jsonwebtoken`.
//! - [`password`]: argon2id hashes, computed off the async runtime.
//! - [`api_key`]: device API keys and their stored hashes.
//! - [`policy`]: "may this caller do this to that package", decided in one
//!   place: allowed, forbidden for the role (403), or hidden (404).
//! - [`access`]: the facts the policy needs about a package (owner,
//!   recipient, couriers), read from PostgreSQL.
//! - [`config`]: `AUTH_DISABLED`, `JWT_*`, read once at start-up.
//! - [`sign_in_delay`]: growing delays after failed sign-ins, per account.

pub mod access;
pub mod api_key;
pub mod changes;
pub mod config;
pub mod deliveries;
pub mod devices;
pub mod links;
pub mod password;
pub mod policy;
mod principal;
pub mod session;
pub mod sign_in_delay;
pub mod token;
pub mod users;
pub mod ws_ticket;

pub use config::AuthConfig;
pub use deliveries::{DeliveryFilter, DeliveryView, StopView};
pub use devices::DeviceView;
pub use policy::{Action, Decision, PackageAccess};
pub use token::{IssueError, TokenError, Tokens};
pub use users::{UserView, USER_COLUMNS};

use crate::domain::Email;
pub use principal::Principal;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// What a user account may do; see [`policy`] for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Dispatcher,
    Courier,
    Customer,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role must be one of admin, dispatcher, courier, customer")]
pub struct UnknownRole;

impl Role {
    pub const ALL: [Role; 4] = [Self::Admin, Self::Dispatcher, Self::Courier, Self::Customer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Dispatcher => "dispatcher",
            Self::Courier => "courier",
            Self::Customer => "customer",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = UnknownRole;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == raw)
            .ok_or(UnknownRole)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Role {
    type Error = UnknownRole;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

/// An authenticated caller: a user account, as it stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: Uuid,
    pub role: Role,
    /// The account's email once it is verified (the account proved it
    /// owns it): the packages addressed to it are then the caller's to see.
    /// `None` before that, and for a caller rebuilt from an envelope's
    /// principal (the workers), which then reaches no package by email.
    pub email: Option<Email>,
    /// Set when a device's API key authenticated the request: the caller is
    /// the device's courier, acting through it.
    pub device_id: Option<Uuid>,
    /// The session the caller's access token belongs to.
    pub session_id: Option<Uuid>,
}

impl Caller {
    /// Who every request is when `AUTH_DISABLED=true` (development only).
    pub fn development() -> Self {
        Self {
            user_id: Uuid::nil(),
            role: Role::Admin,
            email: Some(Email::trusted("dev@localhost.invalid")),
            device_id: None,
            session_id: None,
        }
    }

    /// The caller an envelope's principal names; `None` when it names no
    /// account (a message without a principal is allowed nothing).
    pub fn from_principal(principal: &Principal) -> Option<Self> {
        Some(Self {
            user_id: principal.subject.as_deref()?.parse().ok()?,
            role: principal.role.as_deref()?.parse().ok()?,
            email: None,
            device_id: principal.device.as_deref().and_then(|d| d.parse().ok()),
            session_id: None,
        })
    }

    /// The principal stamped into the envelopes of this caller's commands.
    pub fn principal(&self) -> Principal {
        Principal {
            subject: Some(self.user_id.to_string()),
            role: Some(self.role.as_str().to_owned()),
            device: self.device_id.map(|d| d.to_string()),
            address: None,
        }
    }
}
