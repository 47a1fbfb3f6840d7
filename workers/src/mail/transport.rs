//! Where mail goes: an SMTP server through `lettre` (`SMTP_URL`:
//! `smtps://user:pass@host:465`, `smtp://host:587?tls=required`, or plain
//! `smtp://host:25` for a relay on the same host), or the log
//! (`SMTP_URL=log`, for local use: each message is written to the log).

use super::render::Rendered;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth another try later: the server is down, busy, or said 4xx.
    #[error("mail not sent yet: {0}")]
    Transient(String),
    /// Never worth another try: the server refused the recipient (5xx), or
    /// the message cannot be built.
    #[error("mail cannot be sent: {0}")]
    Permanent(String),
}

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Log,
}

impl Transport {
    /// `log`, or an SMTP URL (see the module's doc).
    pub fn from_url(url: &str) -> Result<Self, lettre::transport::smtp::Error> {
        if url == "log" {
            return Ok(Self::Log);
        }
        Ok(Self::Smtp(
            AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
                .timeout(Some(std::time::Duration::from_secs(30)))
                .build(),
        ))
    }

    pub async fn send(&self, from: &Mailbox, mail: &Rendered) -> Result<(), SendError> {
        let message = Message::builder()
            .from(from.clone())
            .to(mail
                .to
                .parse::<Mailbox>()
                .map_err(|e| SendError::Permanent(format!("recipient {:?}: {e}", mail.to)))?)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| SendError::Permanent(e.to_string()))?;
        match self {
            Self::Log => {
                tracing::info!(
                    to = %mail.to,
                    subject = %mail.subject,
                    body = %mail.body,
                    "mail (SMTP_URL=log: written to the log, not sent)"
                );
                Ok(())
            }
            Self::Smtp(smtp) => smtp.send(message).await.map(drop).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(e.to_string())
                } else {
                    SendError::Transient(e.to_string())
                }
            }),
        }
    }
}
