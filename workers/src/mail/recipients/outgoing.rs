//! What the mail pool does with a recipient notice just before sending:
//! hold it in quiet hours (unless it is urgent), ask the ledger whether it
//! is still owed and claim it, and render it with the address's
//! unsubscribe link; then, once the transport answered, mark it sent or
//! give the claim back.

use super::ledger::{self, Admission};
use super::letter;
use crate::mail::rendered::Rendered;
use crate::mail::transport::SendError;
use chrono::{DateTime, Utc};
use shared::notices::Eta;
use shared::recipients::{NoticeKind, Preferences};
use sqlx::PgPool;
use uuid::Uuid;

/// What the mail pool sends recipient mail with.
pub struct Outbox<'a> {
    /// The ledger's database.
    pub pool: &'a PgPool,
    /// `RECIPIENT_MAIL_DAILY_CAP`.
    pub daily_cap: u32,
    /// `PUBLIC_URL`, the links' base.
    pub public_url: &'a str,
}

/// A recipient notice as it travels in a mail request.
pub struct Notice<'a> {
    /// The mail's id (derived from the status change): the ledger's key.
    pub mail_id: Uuid,
    pub to: &'a str,
    pub tracking_number: &'a str,
    pub notice: NoticeKind,
    pub eta: Option<&'a Eta>,
    pub preferences: &'a Preferences,
}

/// What to do with a notice now.
pub enum Prepared {
    /// Claimed and rendered: send it, then [`finish`].
    Send(Rendered),
    /// Quiet hours: it waits this much longer.
    Held(std::time::Duration),
    /// Not owed any more, and why (a metric label).
    Skipped(&'static str),
}

pub async fn prepare(
    outbox: &Outbox<'_>,
    notice: &Notice<'_>,
    now: DateTime<Utc>,
) -> Result<Prepared, SendError> {
    let wait = shared::recipients::quiet::wait(&notice.preferences.time_zone, now);
    if let (false, Some(wait)) = (notice.notice.urgent(), wait) {
        return Ok(Prepared::Held(wait));
    }
    let admission = ledger::admit(
        outbox.pool,
        notice.mail_id,
        notice.to,
        outbox.daily_cap,
        now,
    )
    .await
    .map_err(|error| SendError::Transient(error.to_string()))?;
    let unsubscribe_token = match admission {
        Admission::Send { unsubscribe_token } => unsubscribe_token,
        Admission::Skip(reason) => return Ok(Prepared::Skipped(reason)),
        // The broker's delay line brings it back after the claim lapsed.
        Admission::Busy => return Err(SendError::Transient("another sender claimed it".into())),
    };
    Ok(Prepared::Send(letter::render(
        notice.to,
        notice.tracking_number,
        notice.notice,
        notice.eta,
        notice.preferences,
        &unsubscribe_token,
        outbox.public_url.trim_end_matches('/'),
    )))
}

/// Records how the send went. A ledger that cannot be written is only
/// logged: a sent mail whose mark is lost is at worst sent once more after
/// a broker replay; an unsent one whose claim stays is retried once the
/// claim lapsed.
pub async fn finish(pool: &PgPool, mail_id: Uuid, went: bool) {
    let recorded = if went {
        ledger::sent(pool, mail_id, Utc::now()).await
    } else {
        ledger::release(pool, mail_id).await
    };
    if let Err(error) = recorded {
        tracing::warn!(%error, %mail_id, went, "cannot record a recipient mail in its ledger");
    }
}
