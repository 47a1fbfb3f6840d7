//! Packages: the original flow end to end, the package pool, public
//! tracking, mail to recipients.

mod counts;
mod original_flow;
pub(crate) mod recipient_mail;
mod recipient_mail_ledger;
pub(crate) mod tracking;
mod window_shape;
mod worker;
