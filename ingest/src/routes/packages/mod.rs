//! `/api/v1/packages` and the endpoints below it.

pub mod create;
pub mod events;
pub mod get;
pub mod list;
pub mod plan;
mod recipient_mail;
pub mod status;

/// Limits for free-text fields, in characters.
pub const NAME_MAX: usize = 200;
pub const ADDRESS_MAX: usize = 500;
pub const DESCRIPTION_MAX: usize = 2000;
