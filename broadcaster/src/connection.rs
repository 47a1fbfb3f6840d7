//! One WebSocket client: the reader side handles the protocol, a [`Writer`]
//! task owns the sending side. Either ends the connection through a shared
//! [`Closing`], with a close frame saying why.

use crate::admission::{Places, RequestBudget};
use crate::auth::Credential;
use crate::events::Events;
use crate::hub::{ClientHandle, ClientId, Hub, Outgoing, EVERY_PACKAGE};
use crate::protocol::{self, Request};
use crate::store::EventStore;
use crate::subscriptions::{Bound, Subscriptions};
use crate::writer::{Closing, Writer, TOO_SLOW};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

pub struct Limits {
    pub max_subscriptions: usize,
    pub client_queue: usize,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    /// The most package states one feed resume sends.
    pub feed_resume_max: usize,
    /// Requests (subscribe, unsubscribe, ...) per second a connection may
    /// send on average, after a burst of `requests_burst`.
    pub requests_per_second: f64,
    pub requests_burst: u32,
    /// Public lookups per minute per client network, over every instance.
    pub public_lookups_per_minute: u32,
}

/// What every connection shares.
pub struct Shared {
    pub hub: Arc<Hub>,
    pub events: Events,
    pub store: EventStore,
    /// For the policy's package lookups.
    pub pool: sqlx::PgPool,
    pub limits: Limits,
    pub auth: shared::auth::AuthConfig,
    /// When rights to packages, or accounts, may have changed ([`crate::rights`]).
    pub rights: crate::rights::Rights,
    /// Tickets and account changes; the public lookups' shared limit.
    pub cache: shared::cache::ViewCache,
    /// Open what ingest sealed into tickets.
    pub keys: shared::wire::SigningKeys,
    pub limiter: Arc<shared::rate_limit::RateLimiter>,
    /// Open connections per account (`WS_MAX_PER_ACCOUNT`).
    pub per_account: Arc<Places>,
}

/// Who is on the other end of a new socket, as the upgrade saw them.
pub struct Peer {
    pub credential: Credential,
    /// The client's network (its IPv4 address, or IPv6 /64).
    pub network: String,
}

pub async fn serve(
    ws: WebSocketStream<TcpStream>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    peer: Peer,
) {
    let (sink, mut source) = ws.split();
    let (outbox, inbox) = mpsc::channel::<Outgoing>(shared.limits.client_queue);
    let closing = Closing::default();
    // Every frame the client sends before this is answered waits for it.
    let resolved =
        crate::auth::resolve(&shared.pool, &shared.cache, &shared.keys, peer.credential).await;
    let (session, _account_place) = match resolved {
        Ok(session) => {
            let place = match &session.caller {
                Some(caller) if caller.session_id.is_some() => {
                    match shared.per_account.admit(caller.user_id.to_string()) {
                        Some(place) => Some(place),
                        None => {
                            refuse_at_once(sink, "too many connections for this account").await;
                            return;
                        }
                    }
                }
                _ => None,
            };
            (session, place)
        }
        Err(reason) => {
            refuse_at_once(sink, reason).await;
            return;
        }
    };
    let handle = ClientHandle {
        outbox,
        too_slow: CancellationToken::new(),
    };
    let id = shared.hub.new_client_id();
    let mut client = Handler {
        subscriptions: Subscriptions::new(
            Arc::clone(&shared.hub),
            shared.events.clone(),
            id,
            handle.clone(),
        ),
        handle,
        id,
        shared: Arc::clone(&shared),
        caller: session.caller,
        public_lookups: 0,
        network: peer.network,
        budget: RequestBudget::new(
            shared.limits.requests_per_second,
            shared.limits.requests_burst,
        ),
    };
    // The connection lives as long as its token: then it closes with 1008,
    // and the client reconnects with a fresh token and `since_seq`.
    let expiry = tokio::time::sleep(until_expiry(session.expires_at));
    tokio::pin!(expiry);
    let metrics = &shared.hub.metrics;
    metrics.connections.inc();
    let writer = tokio::spawn(
        Writer {
            sink,
            inbox,
            closing: closing.clone(),
            ping_interval: shared.limits.ping_interval,
            hold_limit: shared.limits.client_queue,
            store: shared.store.clone(),
            hub: Arc::clone(&shared.hub),
        }
        .run(),
    );
    let mut last_heard = Instant::now();
    let mut idle_check =
        tokio::time::interval(shared.limits.ping_interval.min(shared.limits.idle_timeout));
    let too_slow = client.handle.too_slow.clone();
    let mut deliveries = shared.rights.deliveries.clone();
    let mut accounts = shared.rights.accounts.subscribe();
    let has_session = client
        .caller
        .as_ref()
        .is_some_and(|c| c.session_id.is_some());
    let mut recheck_at: Option<Instant> = None;
    let mut session_check_at: Option<Instant> = None;
    // Whatever the change log says, the session is read again now and then:
    // the bound on a revocation Redis lost.
    let mut session_ticks = tokio::time::interval_at(
        Instant::now() + SESSION_RECHECK + spread(client.id),
        SESSION_RECHECK,
    );
    session_ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                closing.close(CloseCode::Away, "server shutting down");
                break;
            }
            _ = too_slow.cancelled() => {
                closing.close(CloseCode::Policy, TOO_SLOW);
                break;
            }
            _ = closing.token.cancelled() => break,
            _ = &mut expiry => {
                closing.close(CloseCode::Policy, TOKEN_EXPIRED);
                break;
            }
            Ok(()) = deliveries.changed(), if client.follows_deliveries() => {
                // Every courier connection wakes at once: spread their
                // checks over a second.
                recheck_at.get_or_insert(Instant::now() + spread(client.id));
            }
            changed = accounts.recv(), if has_session => {
                let mine = match changed {
                    Ok(changed) => client.caller.as_ref().is_some_and(|c| changed.includes(c.user_id)),
                    // Fell behind: whatever was missed may have been ours.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => false,
                };
                if mine {
                    session_check_at.get_or_insert(Instant::now() + spread(client.id));
                }
            }
            _ = session_ticks.tick(), if has_session => {
                session_check_at.get_or_insert_with(Instant::now);
            }
            _ = sleep_until(session_check_at), if session_check_at.is_some() => {
                session_check_at = match client.check_session().await {
                    SessionCheck::Live => None,
                    SessionCheck::Failed => Some(Instant::now() + RECHECK_RETRY + spread(client.id)),
                    SessionCheck::Ended => {
                        // The notices first, then the close; the writer ends
                        // the connection.
                        client.enqueue(Outgoing::Close(crate::auth::SESSION_ENDED)).await;
                        let _ = tokio::time::timeout(
                            Duration::from_secs(5),
                            closing.token.cancelled(),
                        )
                        .await;
                        closing.close(CloseCode::Policy, crate::auth::SESSION_ENDED);
                        break;
                    }
                    SessionCheck::Gone => {
                        closing.close(CloseCode::Policy, TOO_SLOW);
                        break;
                    }
                };
            }
            _ = sleep_until(recheck_at), if recheck_at.is_some() => {
                recheck_at = match client.recheck().await {
                    Recheck::Done => None,
                    Recheck::Failed => Some(Instant::now() + RECHECK_RETRY + spread(client.id)),
                    Recheck::Gone => {
                        closing.close(CloseCode::Policy, TOO_SLOW);
                        break;
                    }
                };
            }
            _ = idle_check.tick() => {
                if last_heard.elapsed() > shared.limits.idle_timeout {
                    closing.close(CloseCode::Policy, "idle timeout");
                    break;
                }
            }
            frame = source.next() => {
                last_heard = Instant::now();
                match frame {
                    Some(Ok(Message::Text(text))) => {
                        if !client.handle_text(&text).await {
                            closing.close(CloseCode::Policy, TOO_SLOW);
                            break;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        closing.close(CloseCode::Unsupported, "only JSON text frames are accepted");
                        break;
                    }
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Ok(_)) => {} // ping (answered by the library), pong
                    Some(Err(error)) => {
                        tracing::debug!(%error, "client frame error");
                        closing.close(CloseCode::Size, "frame too large or malformed");
                        break;
                    }
                }
            }
        }
    }
    client.subscriptions.end_all().await;
    closing.token.cancel();
    let _ = writer.await;
    metrics.connections.dec();
}

/// Closes a socket whose session did not check out, saying why.
async fn refuse_at_once(
    mut sink: futures_util::stream::SplitSink<WebSocketStream<TcpStream>, Message>,
    reason: &str,
) {
    use futures_util::SinkExt;
    let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: CloseCode::Policy,
        reason: reason.to_owned().into(),
    };
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        sink.send(Message::Close(Some(frame))),
    )
    .await;
}

/// How a check of the connection's session went, after its account changed.
enum SessionCheck {
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
enum Recheck {
    Done,
    /// The stores could not answer: try again soon, not at the next change
    /// (the change that asked for this one would otherwise be lost).
    Failed,
    /// The client's outbox is gone or full.
    Gone,
}

/// The longest a check of one connection's subscriptions may take.
const RECHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a connection reads its session again though no change was
/// recorded for its account (the same bound as ingest's remembered tokens).
const SESSION_RECHECK: Duration = Duration::from_secs(60);
const RECHECK_RETRY: Duration = Duration::from_secs(1);

/// Up to a second, different per client: when many connections must act on
/// one signal, they do not all hit the database in the same instant.
fn spread(id: ClientId) -> Duration {
    Duration::from_millis(id % 1000)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The close reason when a connection's token runs out.
pub const TOKEN_EXPIRED: &str = "token expired";

/// How long until `expires_at` (seconds since the epoch); a year when the
/// session never expires (authentication disabled).
fn until_expiry(expires_at: Option<u64>) -> Duration {
    match expires_at {
        Some(at) => Duration::from_secs(at.saturating_sub(shared::auth::token::now())),
        None => Duration::from_secs(365 * 24 * 3600),
    }
}

/// The most events a public subscription replays with `since_seq`.
const PUBLIC_REPLAY: i64 = 20;

/// The protocol side of one client: its subscriptions and how it changes them.
struct Handler {
    shared: Arc<Shared>,
    id: ClientId,
    handle: ClientHandle,
    subscriptions: Subscriptions,
    /// Who opened the connection: every subscription asks the policy.
    /// `None` on `/ws/public`: anyone holding a tracking number.
    caller: Option<shared::auth::Caller>,
    /// Subscriptions asked for in public mode, found or not.
    public_lookups: usize,
    /// The client's network: public lookups count against its shared limit.
    network: String,
    /// Requests this connection may still send now.
    budget: RequestBudget,
}

impl Handler {
    fn follows_deliveries(&self) -> bool {
        self.caller
            .as_ref()
            .is_some_and(|c| crate::auth::follows_deliveries(c.role))
    }

    /// Handles one text frame; false if the client's outbox is gone or full.
    async fn handle_text(&mut self, text: &str) -> bool {
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
            Err(problem) => self.reply(protocol::error(&problem)),
        }
    }

    async fn subscribe(&mut self, tn: &str, since: Option<i64>) -> bool {
        let limits = &self.shared.limits;
        // Public mode: every lookup counts, found or not, so one connection
        // cannot test tracking numbers without end.
        if self.caller.is_none() {
            self.public_lookups += 1;
            if self.public_lookups > limits.max_subscriptions {
                return self.reply(protocol::error(&format!(
                    "at most {} lookups per public connection",
                    limits.max_subscriptions
                )));
            }
            // And every network, over every ingest and broadcaster, gets
            // the tracking page's budget of lookups per minute.
            let key = shared::rate_limit::public_lookup_key(&self.network);
            if let shared::rate_limit::Verdict::Deny { retry_after } = self
                .shared
                .limiter
                .check(&key, limits.public_lookups_per_minute)
                .await
            {
                return self.reply(protocol::error(&format!(
                    "too many lookups from this network; retry in {} s",
                    retry_after.as_secs().max(1)
                )));
            }
        }
        if !self.subscriptions.contains(tn) && self.subscriptions.len() >= limits.max_subscriptions
        {
            let problem = format!(
                "at most {} subscriptions per connection",
                limits.max_subscriptions
            );
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
            if self.subscriptions.len() >= self.shared.limits.max_subscriptions {
                let problem = format!(
                    "at most {} subscriptions per connection",
                    self.shared.limits.max_subscriptions
                );
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

    /// Reads the connection's session again (its account changed): an
    /// ended one revokes every subscription; a live one brings the
    /// account's current role and email, against which every subscription
    /// is checked again.
    async fn check_session(&mut self) -> SessionCheck {
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
    async fn recheck(&mut self) -> Recheck {
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
        let Some(caller) = self.caller.as_ref() else {
            return Recheck::Done;
        };
        if watched.is_empty() {
            return Recheck::Done;
        }
        let still = tokio::time::timeout(
            RECHECK_TIMEOUT,
            crate::auth::still_visible(&self.shared.pool, caller, &watched),
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

    /// Undoes a subscription that could not be confirmed, and says why.
    async fn refuse(&mut self, tn: &str, problem: &str) -> bool {
        self.subscriptions.unbind(tn).await && self.reply(protocol::error(problem))
    }

    async fn unwatch(&mut self, tn: &str) {
        self.subscriptions.end(tn).await;
    }

    /// Queues an answer without waiting: a client whose outbox is full is too slow.
    fn reply(&self, text: String) -> bool {
        self.handle
            .outbox
            .try_send(Outgoing::Reply(Utf8Bytes::from(text)))
            .is_ok()
    }

    /// Queues for the writer, waiting for room (only this client waits).
    async fn enqueue(&self, outgoing: Outgoing) -> bool {
        self.handle.outbox.send(outgoing).await.is_ok()
    }
}
