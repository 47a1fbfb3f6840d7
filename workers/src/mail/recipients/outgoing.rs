//! What the mail pool does with a recipient notice just before sending:
//! hold it in quiet hours (unless it is urgent), let an out-for-delivery
//! mail wait once for its package's first arrival estimate, ask the ledger
//! whether it is still owed and claim it, and render it with the address's
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
    /// `RECIPIENT_ETA_WAIT_S`: how long an out-for-delivery mail waits for
    /// its package's first arrival estimate (zero: not at all).
    pub eta_wait: std::time::Duration,
}

/// A recipient notice as it travels in a mail request.
pub struct Notice<'a> {
    /// The mail's id (derived from the status change): the ledger's key.
    pub mail_id: Uuid,
    /// When it was queued: one older than [`MAX_AGE`] is news no more
    /// (and the ledger, kept a week, could not tell a replay of it).
    pub queued_at: DateTime<Utc>,
    pub to: &'a str,
    pub tracking_number: &'a str,
    pub notice: NoticeKind,
    pub preferences: &'a Preferences,
    /// It waited for an arrival estimate already (it does so once).
    pub waited_for_eta: bool,
}

/// How old a notice may be when it is sent: quiet hours hold one half a
/// day at most, retries two hours.
const MAX_AGE: chrono::TimeDelta = chrono::TimeDelta::days(3);

/// A notice's claim in the ledger, to mark once the transport answered.
pub struct Claimed {
    pub mail_id: Uuid,
    pub at: DateTime<Utc>,
}

/// What to do with a mail now.
pub enum Prepared {
    /// Rendered (and, for a recipient notice, claimed): send it, then
    /// [`finish`] the claim.
    Send(Rendered, Option<Claimed>),
    /// Quiet hours: it waits this much longer.
    Held(std::time::Duration),
    /// Out for delivery towards a destination with no arrival estimate
    /// yet (the courier's next fix brings one): it waits this long, once.
    AwaitEta(std::time::Duration),
    /// Not owed any more, and why (a metric label: the ledger's, or
    /// `expired`).
    Skipped(&'static str),
}

pub async fn prepare(
    outbox: &Outbox<'_>,
    notice: &Notice<'_>,
    now: DateTime<Utc>,
) -> Result<Prepared, SendError> {
    if now - notice.queued_at > MAX_AGE {
        return Ok(Prepared::Skipped("expired"));
    }
    let wait = shared::recipients::quiet::wait(&notice.preferences.time_zone, now);
    if let (false, Some(wait)) = (notice.notice.urgent(), wait) {
        return Ok(Prepared::Held(wait));
    }
    let eta = match notice.notice {
        NoticeKind::OutForDelivery => match estimate(outbox.pool, notice.tracking_number).await? {
            Estimate::Known(eta) => Some(eta),
            Estimate::Expected if !notice.waited_for_eta && !outbox.eta_wait.is_zero() => {
                return Ok(Prepared::AwaitEta(outbox.eta_wait));
            }
            Estimate::Expected | Estimate::None => None,
            // Delivered, failed or back at the depot while the mail waited:
            // "on its way" would now be wrong, and later news is mailed.
            Estimate::Superseded => return Ok(Prepared::Skipped("superseded")),
        },
        _ => None,
    };
    let admission = ledger::admit(
        outbox.pool,
        notice.mail_id,
        notice.to,
        outbox.daily_cap,
        now,
    )
    .await
    .map_err(|error| SendError::Transient(error.to_string()))?;
    let (unsubscribe_token, claim) = match admission {
        Admission::Send {
            unsubscribe_token,
            claim,
        } => (unsubscribe_token, claim),
        Admission::Skip(reason) => return Ok(Prepared::Skipped(reason)),
        // The broker's delay line brings it back after the claim lapsed.
        Admission::Busy => return Err(SendError::Transient("another sender claimed it".into())),
    };
    let mail = letter::render(
        notice.to,
        notice.tracking_number,
        notice.notice,
        eta.as_ref(),
        notice.preferences,
        &unsubscribe_token,
        outbox.public_url.trim_end_matches('/'),
    );
    let claimed = Claimed {
        mail_id: notice.mail_id,
        at: claim,
    };
    Ok(Prepared::Send(mail, Some(claimed)))
}

/// What an out-for-delivery mail can say of when the parcel comes.
enum Estimate {
    /// The estimate on the package now (fresher than the one the notice
    /// was queued with).
    Known(Eta),
    /// None yet, but one will come: the package is out for delivery to a
    /// known destination.
    Expected,
    /// None, and none is coming: no destination (or no package).
    None,
    /// The package is not out for delivery any more.
    Superseded,
}

async fn estimate(pool: &PgPool, tracking_number: &str) -> Result<Estimate, SendError> {
    let row: Option<(Option<sqlx::types::Json<Eta>>, bool, bool)> = sqlx::query_as(
        "SELECT eta, status = 'out_for_delivery', destination IS NOT NULL \
         FROM packages WHERE tracking_number = $1",
    )
    .bind(tracking_number)
    .fetch_optional(pool)
    .await
    .map_err(|error| SendError::Transient(error.to_string()))?;
    Ok(match row {
        Some((_, false, _)) => Estimate::Superseded,
        Some((Some(eta), true, _)) => Estimate::Known(eta.0),
        Some((None, true, true)) => Estimate::Expected,
        Some((None, true, false)) | None => Estimate::None,
    })
}

/// Records how the send went. A ledger that cannot be written is only
/// logged: a sent mail whose mark is lost is at worst sent once more after
/// a broker replay; an unsent one whose claim stays is retried once the
/// claim lapsed.
pub async fn finish(pool: &PgPool, claimed: &Claimed, went: bool) {
    let recorded = if went {
        ledger::sent(pool, claimed.mail_id, claimed.at, Utc::now()).await
    } else {
        ledger::release(pool, claimed.mail_id, claimed.at).await
    };
    if let Err(error) = recorded {
        let mail_id = claimed.mail_id;
        tracing::warn!(%error, %mail_id, went, "cannot record a recipient mail in its ledger");
    }
}
