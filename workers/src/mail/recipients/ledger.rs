//! The recipient-mail ledger (`recipient_mail_log`): what is asked of the
//! database just before a recipient mail goes, and just after.
//!
//! A mail is *claimed* (a row under its id, the id derived from the status
//! change that caused it) before the transport is called and *marked sent*
//! after. So a redelivered or replayed mail request finds its row and is not
//! sent again; a claim that was never marked (the pool was killed in the
//! middle) lapses after [`CLAIM_LAPSES`] and the mail is sent then; and an
//! address gets at most the daily cap of recipient mails, however many
//! packages name it (one customer cannot turn DeliverTrack's mail server on
//! a stranger).

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// After this long an unmarked claim is taken to have died with its sender
/// (the transport gives up on a server after 30 s).
const CLAIM_LAPSES: &str = "2 minutes";

/// Whether a recipient mail may go now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Claimed: send it, with this unsubscribe token, then [`sent`].
    Send { unsubscribe_token: String },
    /// Owed no more, and why (`unsubscribed`, `daily_cap`, `already_sent`:
    /// the metric's labels).
    Skip(&'static str),
    /// Another sender claimed it moments ago: ask again later.
    Busy,
}

/// Claims mail `mail_id` to `email` unless it is owed no more.
pub async fn admit(
    pool: &PgPool,
    mail_id: Uuid,
    email: &str,
    daily_cap: u32,
    now: DateTime<Utc>,
) -> Result<Admission, sqlx::Error> {
    let email = email.to_ascii_lowercase();
    let (unsubscribed, sent_today): (bool, i64) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM mail_suppressions WHERE email = $1), \
                (SELECT count(*) FROM recipient_mail_log WHERE email = $1 \
                   AND claimed_at > $3 - interval '1 day' AND mail_id <> $2)",
    )
    .bind(&email)
    .bind(mail_id)
    .bind(now)
    .fetch_one(pool)
    .await?;
    if unsubscribed {
        return Ok(Admission::Skip("unsubscribed"));
    }
    if sent_today >= i64::from(daily_cap) {
        return Ok(Admission::Skip("daily_cap"));
    }
    if !claim(pool, mail_id, &email, now).await? {
        let sent: Option<Option<DateTime<Utc>>> =
            sqlx::query_scalar("SELECT sent_at FROM recipient_mail_log WHERE mail_id = $1")
                .bind(mail_id)
                .fetch_optional(pool)
                .await?;
        return Ok(match sent {
            Some(Some(_)) => Admission::Skip("already_sent"),
            _ => Admission::Busy,
        });
    }
    Ok(Admission::Send {
        unsubscribe_token: token(pool, &email, now).await?,
    })
}

/// Takes the claim: a new row, or one whose claim lapsed unsent.
async fn claim(
    pool: &PgPool,
    mail_id: Uuid,
    email: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query(&format!(
        "INSERT INTO recipient_mail_log (mail_id, email, claimed_at) VALUES ($1, $2, $3) \
         ON CONFLICT (mail_id) DO UPDATE SET claimed_at = EXCLUDED.claimed_at \
         WHERE recipient_mail_log.sent_at IS NULL \
           AND recipient_mail_log.claimed_at < EXCLUDED.claimed_at - interval '{CLAIM_LAPSES}'"
    ))
    .bind(mail_id)
    .bind(email)
    .bind(now)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(claimed == 1)
}

/// The address's unsubscribe token, made the first time it is mailed.
async fn token(pool: &PgPool, email: &str, now: DateTime<Utc>) -> Result<String, sqlx::Error> {
    // The no-op update makes RETURNING give the kept token on a conflict.
    sqlx::query_scalar(
        "INSERT INTO recipient_unsubscribe_tokens (email, token, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email RETURNING token",
    )
    .bind(email)
    .bind(shared::recipients::unsubscribe::new_token())
    .bind(now)
    .fetch_one(pool)
    .await
}

/// The mail went: its claim stays, for good.
pub async fn sent(pool: &PgPool, mail_id: Uuid, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE recipient_mail_log SET sent_at = $2 WHERE mail_id = $1")
        .bind(mail_id)
        .bind(now)
        .execute(pool)
        .await
        .map(drop)
}

/// The mail did not go: its claim is given back, so the retry is not
/// [`Admission::Busy`] and the cap counts only mail that went (or is going).
pub async fn release(pool: &PgPool, mail_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM recipient_mail_log WHERE mail_id = $1 AND sent_at IS NULL")
        .bind(mail_id)
        .execute(pool)
        .await
        .map(drop)
}
