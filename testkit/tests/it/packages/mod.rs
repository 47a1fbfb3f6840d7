//! Packages: the original flow end to end, the package pool, public
//! tracking, mail to recipients.

mod original_flow;
mod recipient_mail;
pub(crate) mod tracking;
mod worker;
