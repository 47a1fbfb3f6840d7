//! The mail pool: account mails (verify an address, reset a password, "this
//! address already has an account") sent over SMTP from the mail queue,
//! never from a request's path.
//!
//! - [`request_for`]: which outcomes of the package pool owe a mail (the
//!   package consumer publishes the request with the outcome's other
//!   effects, after the commit);
//! - [`render`]: a request into a message ([`rendered`]), with its signed
//!   link;
//! - [`transport`]: SMTP through `lettre` (`SMTP_URL`), or the log;
//! - [`recipients`]: mail to packages' recipients (status changes from
//!   the events exchange; quiet hours are kept by [`consumer`]);
//! - [`consumer`]: the mail queue's loop: send, or retry through the
//!   broker's delay line, or dead-letter what can never be sent.

pub mod consumer;
pub mod recipients;
pub mod render;
pub mod rendered;
pub mod transport;

use shared::wire::{AccountOutcome, Event, LinkKind, Mail, MailRequest};

/// The mail an outcome owes, if any.
pub fn request_for(event: &Event) -> Option<MailRequest> {
    match event {
        Event::Account(AccountOutcome::UserRegistered(user)) if !user.email_verified => {
            Some(MailRequest {
                to: shared::domain::Email::parse(&user.email).ok()?,
                mail: Mail::VerifyEmail { user_id: user.id },
            })
        }
        Event::Account(AccountOutcome::AlreadyRegistered { email }) => Some(MailRequest {
            to: email.clone(),
            mail: Mail::AccountExists,
        }),
        Event::Account(AccountOutcome::LinkRequested {
            user_id,
            email,
            link,
        }) => Some(MailRequest {
            to: email.clone(),
            mail: match link {
                LinkKind::VerifyEmail => Mail::VerifyEmail { user_id: *user_id },
                LinkKind::ResetPassword { password_version } => Mail::ResetPassword {
                    user_id: *user_id,
                    password_version: password_version.clone(),
                },
            },
        }),
        _ => None,
    }
}
