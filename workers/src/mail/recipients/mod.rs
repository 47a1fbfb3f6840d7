//! Mail to packages' recipients (`shared::recipients`).
//!
//! - [`remember`]: a create's `notify_recipient`, written in the package
//!   window's transaction;
//! - [`notices`]: status changes from `<prefix>.mail.recipients` → the
//!   mail each recipient who asked (and did not unsubscribe) is owed, for
//!   the mail queue;
//! - [`letter`]: what such a mail says, per language, text and HTML;
//! - [`suppress`]: an unsubscribed address, applied like an account
//!   command.
//!
//! Rendering and quiet hours are the mail pool's (`super::render`,
//! `super::consumer`).

pub mod letter;
pub mod notices;
pub mod remember;
pub mod suppress;
