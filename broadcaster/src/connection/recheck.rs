//! A connection checking itself again: its session when its account
//! changed (or a minute passed), its subscriptions when rights changed.

use super::handler::Handler;
use crate::hub::EVERY_PACKAGE;
use crate::protocol;
use std::time::Duration;

/// The longest a check of one connection's subscriptions may take.
const RECHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// How a check of the connection's session went, after its account changed.
pub(super) enum SessionCheck {
    /// Live (perhaps with another role or a newly verified email: every
    /// subscription was checked again).
    Live,
    /// Ended: every subscription was revoked; the connection closes.
    Ended,
    /// The stores could not answer: try again soon.
    Failed,
    /// The client's outbox is gone or full.
    Gone,
}

/// How a check of the subscriptions against changed rights went.
pub(super) enum Recheck {
    Done,
    /// The stores could not answer: try again soon, not at the next change
    /// (the change that asked for this one would otherwise be lost).
    Failed,
    /// The client's outbox is gone or full.
    Gone,
}

impl Handler {
    /// Reads the connection's session again (its account changed): an
    /// ended one revokes every subscription; a live one brings the
    /// account's current role and email, against which every subscription
    /// is checked again.
    pub(super) async fn check_session(&mut self) -> SessionCheck {
        let Some((user_id, Some(session_id))) =
            self.caller.as_ref().map(|c| (c.user_id, c.session_id))
        else {
            return SessionCheck::Live;
        };
        let current = tokio::time::timeout(
            RECHECK_TIMEOUT,
            shared::auth::session::current(&self.shared.pool, user_id, session_id),
        )
        .await;
        match current {
            Ok(Ok(Some(caller))) => {
                if let Ok(mut reader) = self.handle.reader.write() {
                    *reader = shared::packages::aboard::Reader::of(Some(&caller));
                }
                self.caller = Some(caller);
                match self.recheck().await {
                    Recheck::Done => SessionCheck::Live,
                    Recheck::Failed => SessionCheck::Failed,
                    Recheck::Gone => SessionCheck::Gone,
                }
            }
            Ok(Ok(None)) => {
                // Every subscription ends first, then the client is told.
                for tn in self.subscriptions.end_all().await {
                    let notice = if tn == EVERY_PACKAGE {
                        protocol::revoked_all()
                    } else if let Some(courier_id) = crate::hub::courier_of(&tn) {
                        protocol::revoked_courier(courier_id)
                    } else {
                        protocol::revoked(&tn)
                    };
                    if !self.reply(notice) {
                        return SessionCheck::Gone;
                    }
                }
                SessionCheck::Ended
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot check a connection's session");
                SessionCheck::Failed
            }
            Err(_) => SessionCheck::Failed,
        }
    }

    /// Asks again which watched packages the caller may still see (their
    /// rights changed, see [`crate::rights`]), in one query; the rest are
    /// unsubscribed, with a reason. The every-package feed ends for a role
    /// that no longer sees every package.
    pub(super) async fn recheck(&mut self) -> Recheck {
        let watched = self.subscriptions.packages();
        let Some(caller) = self.caller.as_ref() else {
            return Recheck::Done;
        };
        if self.subscriptions.contains(EVERY_PACKAGE)
            && !shared::auth::policy::sees_all(caller.role)
        {
            self.unwatch(EVERY_PACKAGE).await;
            if !self.reply(protocol::revoked_all()) {
                return Recheck::Gone;
            }
        }
        if !self.recheck_couriers().await {
            return Recheck::Gone;
        }
        let Some(caller) = self.caller.as_ref() else {
            return Recheck::Done;
        };
        if watched.is_empty() {
            return Recheck::Done;
        }
        let still = tokio::time::timeout(
            RECHECK_TIMEOUT,
            shared::auth::access::visible_among(&self.shared.pool, caller, &watched),
        )
        .await;
        let still = match still {
            Ok(Ok(still)) => still,
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot check subscriptions against changed rights");
                return Recheck::Failed;
            }
            Err(_) => return Recheck::Failed,
        };
        for tn in watched.iter().filter(|tn| !still.contains(*tn)) {
            self.unwatch(tn).await;
            if !self.reply(protocol::revoked(tn)) {
                return Recheck::Gone;
            }
        }
        Recheck::Done
    }
}
