//! Mail to packages' recipients (`shared::recipients`).
//!
//! - [`remember`]: a create's `notify_recipient`, written in the package
//!   window's transaction;
//! - [`notices`]: status changes from `<prefix>.mail.recipients` → the
//!   mail each recipient who asked (and did not unsubscribe) is owed, for
//!   the mail queue;
//! - [`outgoing`]: just before such a mail goes: quiet hours, then the
//!   [`ledger`] (sent once, a daily cap per address, the unsubscribe
//!   token), then the [`letter`]: what it says, per language, text and
//!   HTML;
//! - [`suppress`]: an unsubscribed address, applied like an account
//!   command.
//!
//! The mail pool's loop (`super::consumer`) calls [`outgoing`] for them.

pub mod ledger;
pub mod letter;
pub mod notices;
pub mod outgoing;
pub mod remember;
pub mod suppress;
