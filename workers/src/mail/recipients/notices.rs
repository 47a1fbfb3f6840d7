//! Status changes into recipient mail: a window of `status_changed` events
//! (the mail pool's own queue on the events exchange), one query for the
//! recipients of those packages who asked for mail and did not
//! unsubscribe, one mail request each for the mail queue.

use crate::publisher::Abandoned;
use crate::runner::{Effects, Flow, Runner};
use lapin::message::Delivery;
use shared::notices::Eta;
use shared::recipients::{Locale, NoticeKind, Preferences};
use shared::wire::{Envelope, Mail, MailRequest, PackageEvent, Principal};
use uuid::Uuid;

pub struct RecipientNotices {
    pub pool: sqlx::PgPool,
}

/// One status change that may owe a mail.
struct Change {
    event_id: Uuid,
    tracking_number: String,
    notice: NoticeKind,
}

#[derive(sqlx::FromRow)]
struct Recipient {
    tracking_number: String,
    email: String,
    locale: String,
    time_zone: String,
    notices: Vec<String>,
    eta: Option<serde_json::Value>,
}

impl Flow for RecipientNotices {
    const POOL: &'static str = "mail";
    const PARALLEL: usize = 1;

    async fn handle(
        &self,
        runner: &Runner,
        queue: &str,
        window: &[Delivery],
    ) -> Result<Effects, Abandoned> {
        let mut effects = Effects::default();
        let decoded =
            runner.decode_all::<PackageEvent>(Self::POOL, queue, window, &mut effects.messages);
        let changes: Vec<Change> = decoded
            .iter()
            .filter_map(|(_, event)| match &event.body {
                // A repeated status (out for delivery again, failed again)
                // tells the recipient nothing new: no second mail.
                PackageEvent::StatusChanged(changed) if changed.previous != changed.status => {
                    Some(Change {
                        event_id: event.event_id,
                        tracking_number: changed.tracking_number.as_str().to_owned(),
                        notice: NoticeKind::for_status(changed.status)?,
                    })
                }
                _ => None,
            })
            .collect();
        if changes.is_empty() {
            return Ok(effects);
        }
        let recipients = runner
            .until_done("reading packages' recipients", || self.recipients(&changes))
            .await?;
        for change in &changes {
            let Some(recipient) = recipients
                .iter()
                .find(|r| r.tracking_number == change.tracking_number)
            else {
                continue;
            };
            let Some(mail) = request(change, recipient) else {
                continue;
            };
            match runner.mail_message(&mail) {
                Ok(message) => effects.messages.push(message),
                Err(error) => tracing::error!(%error, "cannot encode a mail request"),
            }
        }
        Ok(effects)
    }
}

impl RecipientNotices {
    async fn recipients(&self, changes: &[Change]) -> Result<Vec<Recipient>, sqlx::Error> {
        let numbers: Vec<&str> = changes.iter().map(|c| c.tracking_number.as_str()).collect();
        sqlx::query_as(
            "SELECT n.tracking_number, n.email, n.locale, n.time_zone, n.notices, p.eta \
             FROM recipient_notifications n JOIN packages p ON p.id = n.package_id \
             WHERE n.tracking_number = ANY($1) \
               AND NOT EXISTS (SELECT 1 FROM mail_suppressions s WHERE s.email = n.email)",
        )
        .bind(&numbers)
        .fetch_all(&self.pool)
        .await
    }
}

/// The mail request a change owes its recipient (none for a notice they
/// did not ask for).
fn request(change: &Change, recipient: &Recipient) -> Option<Envelope<MailRequest>> {
    let notices: Vec<NoticeKind> = recipient
        .notices
        .iter()
        .filter_map(|n| NoticeKind::parse(n))
        .collect();
    if !notices.contains(&change.notice) {
        return None;
    }
    let eta = match change.notice {
        NoticeKind::OutForDelivery => recipient
            .eta
            .clone()
            .and_then(|value| serde_json::from_value::<Eta>(value).ok()),
        _ => None,
    };
    Some(Envelope::new(
        Uuid::new_v5(&change.event_id, b"recipient mail"),
        chrono::Utc::now(),
        Principal::default(),
        MailRequest {
            to: shared::domain::Email::parse(&recipient.email).ok()?,
            mail: Mail::RecipientNotice {
                tracking_number: change.tracking_number.clone(),
                notice: change.notice,
                eta,
                preferences: Preferences {
                    locale: Locale::parse(&recipient.locale).unwrap_or_default(),
                    time_zone: recipient.time_zone.clone(),
                    notices,
                },
            },
        },
    ))
}
