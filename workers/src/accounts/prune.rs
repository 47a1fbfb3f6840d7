//! Forgets what no longer protects anyone: sessions that ended (signed out,
//! revoked or expired) a week ago, with their spent refresh tokens, and
//! used mailed links older than any link lives, and the recipient-mail
//! ledger's rows of last week. Without it those tables grow by a row per
//! sign-in, refresh and mail, forever.
//!
//! A live session keeps its spent tokens: they are how a copied refresh
//! token is recognised. Runs in the package pool, every [`EVERY`]; each
//! run deletes at most [`BATCH`] rows per table, so a backlog is worked
//! off in small transactions that never hold locks for long.

use shared::backoff::sleep_unless_cancelled;
use sqlx::PgPool;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often the tables are pruned.
pub const EVERY: Duration = Duration::from_secs(3600);
/// How long an ended session is kept (for the audit of who was signed in).
const KEEP_ENDED: &str = "7 days";
/// Longer than any mailed link is valid ([`shared::auth::links::VERIFY_TTL`]).
const KEEP_USED_LINKS: &str = "2 days";
/// Longer than a recipient mail can wait (quiet hours, retries) or a
/// broker replay can plausibly come: the ledger's rows of last week.
const KEEP_RECIPIENT_MAIL: &str = "7 days";
/// Rows deleted per table and statement.
const BATCH: i64 = 10_000;

/// Rows one pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub sessions: u64,
    pub used_links: u64,
    pub recipient_mails: u64,
}

/// One pass: deletes what expired as of `now` (spent refresh tokens go
/// with their sessions).
pub async fn prune(
    pool: &PgPool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Pruned, sqlx::Error> {
    let sessions = sqlx::query(&format!(
        "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions \
         WHERE LEAST(revoked_at, expires_at) < $1 - interval '{KEEP_ENDED}' \
         LIMIT $2)"
    ))
    .bind(now)
    .bind(BATCH)
    .execute(pool)
    .await?
    .rows_affected();
    let used_links = sqlx::query(&format!(
        "DELETE FROM used_links WHERE nonce IN (SELECT nonce FROM used_links \
         WHERE used_at < $1 - interval '{KEEP_USED_LINKS}' LIMIT $2)"
    ))
    .bind(now)
    .bind(BATCH)
    .execute(pool)
    .await?
    .rows_affected();
    let recipient_mails = sqlx::query(&format!(
        "DELETE FROM recipient_mail_log WHERE mail_id IN (SELECT mail_id FROM recipient_mail_log \
         WHERE claimed_at < $1 - interval '{KEEP_RECIPIENT_MAIL}' LIMIT $2)"
    ))
    .bind(now)
    .bind(BATCH)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(Pruned {
        sessions,
        used_links,
        recipient_mails,
    })
}

/// Prunes every [`EVERY`] until `stop`; the caller awaits the handle.
pub fn spawn(pool: PgPool, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match prune(&pool, chrono::Utc::now()).await {
                Ok(pruned) if pruned != Pruned::default() => {
                    tracing::info!(
                        ?pruned,
                        "pruned ended sessions, used links and old recipient mail"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "pruning sessions failed; next pass retries"),
            }
            if !sleep_unless_cancelled(EVERY, &stop).await {
                return;
            }
        }
    })
}
