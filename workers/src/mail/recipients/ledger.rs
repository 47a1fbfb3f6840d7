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

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// After this long an unmarked claim is taken to have died with its sender
/// (the transport gives up on a server after 30 s).
const CLAIM_LAPSES: &str = "2 minutes";

/// Whether a recipient mail may go now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Claimed at `claim`: send it, with this unsubscribe token, then
    /// [`sent`] or [`release`] with the same `claim` (a claim another
    /// sender took over after it lapsed is theirs to mark).
    Send {
        unsubscribe_token: String,
        claim: DateTime<Utc>,
    },
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
    // The database keeps microseconds: the claim is compared later.
    let now = now.trunc_subsecs(6);
    // One admission per address at a time: concurrent senders cannot all
    // count the same day's mail and pass the cap together.
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
        .bind(&email)
        .execute(&mut *tx)
        .await?;
    let (unsubscribed, sent_today): (bool, i64) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM mail_suppressions WHERE email = $1), \
                (SELECT count(*) FROM recipient_mail_log WHERE email = $1 \
                   AND claimed_at > $3 - interval '1 day' AND mail_id <> $2)",
    )
    .bind(&email)
    .bind(mail_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    if unsubscribed {
        return Ok(Admission::Skip("unsubscribed"));
    }
    if sent_today >= i64::from(daily_cap) {
        return Ok(Admission::Skip("daily_cap"));
    }
    if !claim(&mut tx, mail_id, &email, now).await? {
        let sent: Option<Option<DateTime<Utc>>> =
            sqlx::query_scalar("SELECT sent_at FROM recipient_mail_log WHERE mail_id = $1")
                .bind(mail_id)
                .fetch_optional(&mut *tx)
                .await?;
        return Ok(match sent {
            Some(Some(_)) => Admission::Skip("already_sent"),
            _ => Admission::Busy,
        });
    }
    tx.commit().await?;
    Ok(Admission::Send {
        unsubscribe_token: token(pool, &email, now).await?,
        claim: now,
    })
}

/// Takes the claim: a new row, or one whose claim lapsed unsent.
async fn claim(
    tx: &mut sqlx::PgConnection,
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
    .execute(&mut *tx)
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
pub async fn sent(
    pool: &PgPool,
    mail_id: Uuid,
    claim: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE recipient_mail_log SET sent_at = $3 WHERE mail_id = $1 AND claimed_at = $2")
        .bind(mail_id)
        .bind(claim)
        .bind(now)
        .execute(pool)
        .await
        .map(drop)
}

/// The mail did not go: its claim is given back, so the retry is not
/// [`Admission::Busy`] and the cap counts only mail that went (or is going).
pub async fn release(
    pool: &PgPool,
    mail_id: Uuid,
    claim: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM recipient_mail_log WHERE mail_id = $1 AND claimed_at = $2 AND sent_at IS NULL",
    )
    .bind(mail_id)
    .bind(claim)
    .execute(pool)
    .await
    .map(drop)
}
