//! The protocol side of one client: its requests (subscribe, unsubscribe,
//! the every-package feed), checked against the policy and its limits.

use super::Shared;
use crate::admission::RequestBudget;
use crate::hub::{ClientHandle, ClientId, Outgoing, EVERY_PACKAGE};
use crate::protocol::{self, Request};
use crate::subscriptions::{Bound, Subscriptions};
use std::sync::Arc;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// The most events a public subscription replays with `since_seq`.
const PUBLIC_REPLAY: i64 = 20;

/// The protocol side of one client: its subscriptions and how it changes them.
pub(super) struct Handler {
    pub(super) shared: Arc<Shared>,
    pub(super) id: ClientId,
    pub(super) handle: ClientHandle,
    pub(super) subscriptions: Subscriptions,
    /// Who opened the connection: every subscription asks the policy.
    /// `None` on `/ws/public`: anyone holding a tracking number.
    pub(super) caller: Option<shared::auth::Caller>,
    /// Subscriptions asked for in public mode, found or not.
    pub(super) public_lookups: usize,
    /// The client's network: public lookups count against its shared limit.
    pub(super) network: String,
    /// Requests this connection may still send now.
    pub(super) budget: RequestBudget,
}

impl Handler {
    pub(super) fn new(
        shared: &Arc<Shared>,
        id: ClientId,
        handle: ClientHandle,
        caller: Option<shared::auth::Caller>,
        network: String,
    ) -> Self {
        Self {
            subscriptions: Subscriptions::new(
                Arc::clone(&shared.hub),
                shared.events.clone(),
                id,
                handle.clone(),
            ),
            handle,
            id,
            shared: Arc::clone(shared),
            caller,
            public_lookups: 0,
            network,
            budget: RequestBudget::new(
                shared.limits.requests_per_second,
                shared.limits.requests_burst,
            ),
        }
    }

    pub(super) fn follows_deliveries(&self) -> bool {
        self.caller
            .as_ref()
            .is_some_and(|c| crate::auth::follows_deliveries(c.role))
    }

    /// Handles one text frame; false if the client's outbox is gone or full.
    pub(super) async fn handle_text(&mut self, text: &str) -> bool {
        // Every request may cost queries and a broker bind: a connection
        // gets a burst, then a steady rate, and is told when it is past it.
        if !self.budget.take() {
            return self.reply(protocol::error(
                "too many requests on this connection; slow down",
            ));
        }
        match protocol::parse(text) {
            Ok(Request::Subscribe {
                tracking_number,
                since_seq,
            }) => self.subscribe(tracking_number.as_str(), since_seq).await,
            Ok(Request::Unsubscribe { tracking_number }) => {
                let tn = tracking_number.as_str();
                self.unwatch(tn).await;
                self.reply(protocol::unsubscribed(tn))
            }
            Ok(Request::SubscribeAll { since_seq }) => self.watch_everything(since_seq).await,
            Ok(Request::UnsubscribeAll) => {
                self.unwatch(EVERY_PACKAGE).await;
                self.reply(protocol::unsubscribed_all())
            }
            Ok(Request::SubscribeCourier { courier_id }) => self.watch_courier(courier_id).await,
            Ok(Request::UnsubscribeCourier { courier_id }) => {
                self.unwatch_courier(courier_id).await
            }
            Err(problem) => self.reply(protocol::error(&problem)),
        }
    }

    async fn subscribe(&mut self, tn: &str, since: Option<i64>) -> bool {
        if let Err(problem) = self.may_look_up().await {
            return self.reply(protocol::error(&problem));
        }
        if let Err(problem) = self.room_for(tn) {
            return self.reply(protocol::error(&problem));
        }
        // Packages the caller may not see are refused like unknown ones, and
        // both before they cost a broker binding.
        if let Err(refused) =
            crate::auth::may_watch(&self.shared.pool, self.caller.as_ref(), tn).await
        {
            return self.reply(protocol::error(&refused.to_string()));
        }
        if let Err(problem) = self.head(tn).await {
            return self.reply(protocol::error(&problem));
        }
        // The writer holds the package's live events from here until Start.
        // The head is read again once they are bound: every event past it
        // comes live, and every change made after the client hears
        // "subscribed" is past it.
        match self.subscriptions.bind(tn).await {
            Bound::Yes => {}
            Bound::Failed(problem) => return self.reply(protocol::error(&problem)),
            Bound::Gone => return false,
        }
        let head = match self.head(tn).await {
            Ok(head) => head,
            Err(problem) => return self.refuse(tn, &problem).await,
        };
        self.subscriptions.confirm(tn);
        self.reply(protocol::subscribed(tn))
            && self
                .enqueue(Outgoing::Start {
                    tracking_number: tn.to_owned(),
                    after: self.replay_from(since, head),
                    head,
                })
                .await
    }

    /// Every package's live updates, for a caller who sees every package (a
    /// dashboard). One subscription; one broker binding per instance. With
    /// `since` (a cursor), first what changed since. Asked again on the same
    /// connection (after a `resync`), it resumes without binding again.
    async fn watch_everything(&mut self, since: Option<i64>) -> bool {
        let allowed = self
            .caller
            .as_ref()
            .is_some_and(|c| shared::auth::policy::sees_all(c.role));
        if !allowed {
            return self.reply(protocol::error(
                "only admins and dispatchers may watch every package",
            ));
        }
        if !self.subscriptions.contains(EVERY_PACKAGE) {
            if let Err(problem) = self.room_for(EVERY_PACKAGE) {
                return self.reply(protocol::error(&problem));
            }
            match self.subscriptions.bind(EVERY_PACKAGE).await {
                Bound::Yes => self.subscriptions.confirm(EVERY_PACKAGE),
                Bound::Failed(problem) => return self.reply(protocol::error(&problem)),
                Bound::Gone => return false,
            }
        }
        // Read once the feed is bound: what commits after this read comes
        // live, what committed before is in it.
        let limit = self.shared.limits.feed_resume_max;
        match crate::feed::changed_since(&self.shared.pool, since, limit).await {
            Ok(changes) => {
                self.shared.hub.feed_joined(self.id, changes.cursor);
                self.enqueue(Outgoing::Replies(changes.frames)).await
                    && self.reply(protocol::subscribed_all(changes.cursor, changes.complete))
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read the feed's changes");
                // Live updates flow; the client asks again for its cursor.
                self.reply(protocol::error(
                    "the feed's position is unavailable; subscribe_all again",
                ))
            }
        }
    }

    /// Public mode: every lookup counts, found or not, so one connection
    /// cannot test tracking numbers without end; and every network, over
    /// every ingest and broadcaster, gets the tracking page's budget of
    /// lookups per minute.
    async fn may_look_up(&mut self) -> Result<(), String> {
        if self.caller.is_some() {
            return Ok(());
        }
        let limits = &self.shared.limits;
        self.public_lookups += 1;
        if self.public_lookups > limits.max_subscriptions {
            return Err(format!(
                "at most {} lookups per public connection",
                limits.max_subscriptions
            ));
        }
        let key = shared::rate_limit::public_lookup_key(&self.network);
        let verdict = self
            .shared
            .limiter
            .check(&key, limits.public_lookups_per_minute)
            .await;
        match verdict {
            shared::rate_limit::Verdict::Allow => Ok(()),
            shared::rate_limit::Verdict::Deny { retry_after } => Err(format!(
                "too many lookups from this network; retry in {} s",
                retry_after.as_secs().max(1)
            )),
        }
    }

    /// Whether one more subscription fits (one held already always does).
    pub(super) fn room_for(&self, tn: &str) -> Result<(), String> {
        let max = self.shared.limits.max_subscriptions;
        if !self.subscriptions.contains(tn) && self.subscriptions.len() >= max {
            return Err(format!("at most {max} subscriptions per connection"));
        }
        Ok(())
    }

    /// Where a subscription's stream starts. The public mode replays at most
    /// the last [`PUBLIC_REPLAY`] events: enough for a page that looked the
    /// package up a moment ago, not the package's whole location history.
    fn replay_from(&self, since: Option<i64>, head: i64) -> i64 {
        let since = since.unwrap_or(head);
        match self.caller {
            Some(_) => since,
            None => since.max(head - PUBLIC_REPLAY),
        }
    }

    /// The package's last seq, or what to tell the client instead.
    async fn head(&self, tn: &str) -> Result<i64, String> {
        match self.shared.store.head(tn).await {
            Ok(Some(head)) => Ok(head),
            Ok(None) => Err(format!("package {tn} not found")),
            Err(error) => {
                tracing::warn!(%error, "package lookup failed");
                Err("package lookup unavailable, retry later".to_owned())
            }
        }
    }

    /// Undoes a subscription that could not be confirmed, and says why.
    async fn refuse(&mut self, tn: &str, problem: &str) -> bool {
        self.subscriptions.unbind(tn).await && self.reply(protocol::error(problem))
    }

    pub(super) async fn unwatch(&mut self, tn: &str) {
        self.subscriptions.end(tn).await;
    }

    /// Queues an answer without waiting: a client whose outbox is full is too slow.
    pub(super) fn reply(&self, text: String) -> bool {
        self.handle
            .outbox
            .try_send(Outgoing::Reply(Utf8Bytes::from(text)))
            .is_ok()
    }

    /// Queues for the writer, waiting for room (only this client waits).
    pub(super) async fn enqueue(&self, outgoing: Outgoing) -> bool {
        self.handle.outbox.send(outgoing).await.is_ok()
    }
}
