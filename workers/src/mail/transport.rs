//! Where mail goes: an SMTP server through `lettre` (`SMTP_URL`:
//! `smtps://user:pass@host:465`, `smtp://host:587?tls=required`, or plain
//! `smtp://host:25` for a relay on the same host), or the log
//! (`SMTP_URL=log`, for local use: each message is written to the log).

use super::rendered::Rendered;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
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
        let mut builder = Message::builder()
            .from(from.clone())
            .to(mail
                .to
                .parse::<Mailbox>()
                .map_err(|e| SendError::Permanent(format!("recipient {:?}: {e}", mail.to)))?)
            .subject(mail.subject.clone());
        if let Some(link) = &mail.unsubscribe {
            // RFC 8058: mail clients offer one-click unsubscribe (a POST).
            builder = builder
                .header(ListUnsubscribe(format!("<{link}>")))
                .header(ListUnsubscribePost);
        }
        let message = match &mail.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                mail.body.clone(),
                html.clone(),
            )),
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(mail.body.clone()),
        }
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

type HeaderError = Box<dyn std::error::Error + Send + Sync>;

/// `List-Unsubscribe: <https://...>`
#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, HeaderError> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click`
#[derive(Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, HeaderError> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}
