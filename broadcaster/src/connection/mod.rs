//! One WebSocket client: the reader side ([`Connection`]) handles the
//! protocol ([`handler`], couriers in [`couriers`]) and keeps the connection's checks ([`recheck`]);
//! a [`Writer`] task owns the sending side. Either ends the connection
//! through a shared [`Closing`], with a close frame saying why.

mod couriers;
mod handler;
mod recheck;

use crate::admission::Places;
use crate::auth::Credential;
use crate::events::Events;
use crate::hub::{ClientHandle, ClientId, Hub, Outgoing};
use crate::store::EventStore;
use crate::writer::{Closing, Writer, TOO_SLOW};
use futures_util::StreamExt;
use handler::Handler;
use recheck::{Recheck, SessionCheck};
use shared::auth::changes::Changed;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

type Sink = futures_util::stream::SplitSink<WebSocketStream<TcpStream>, Message>;
type Source = futures_util::stream::SplitStream<WebSocketStream<TcpStream>>;

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
    let (sink, source) = ws.split();
    // Every frame the client sends before this is answered waits for it.
    let resolved =
        crate::auth::resolve(&shared.pool, &shared.cache, &shared.keys, peer.credential).await;
    let session = match resolved {
        Ok(session) => session,
        Err(reason) => return refuse_at_once(sink, reason).await,
    };
    // An account's connections are counted (an anonymous or development
    // caller's are not).
    let account_place = match &session.caller {
        Some(caller) if caller.session_id.is_some() => {
            match shared.per_account.admit(caller.user_id.to_string()) {
                Some(place) => Some(place),
                None => return refuse_at_once(sink, "too many connections for this account").await,
            }
        }
        _ => None,
    };
    let metrics = &shared.hub.metrics;
    metrics.connections.inc();
    let (mut connection, writer) = Connection::open(sink, &shared, session, peer.network);
    connection.run(source, &shutdown).await;
    connection.client.subscriptions.end_all().await;
    connection.closing.token.cancel();
    let _ = writer.await;
    metrics.connections.dec();
    drop(account_place);
}

/// What woke a connection up.
enum Wake {
    Shutdown,
    TooSlow,
    Closed,
    Expired,
    DeliveriesChanged,
    AccountsChanged(Result<Arc<Changed>, RecvError>),
    SessionTick,
    CheckSession,
    Recheck,
    IdleCheck,
    Frame(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
}

/// What a connection does next.
enum Step {
    Go,
    /// Close with this frame.
    Close(CloseCode, &'static str),
    /// Closed already (by the writer, or the client).
    End,
}

/// One open connection: its protocol side and the timers it keeps.
struct Connection {
    client: Handler,
    closing: Closing,
    too_slow: CancellationToken,
    /// The connection lives as long as its token: then it closes with 1008,
    /// and the client reconnects with a fresh token and `since_seq`.
    expiry: std::pin::Pin<Box<tokio::time::Sleep>>,
    last_heard: Instant,
    idle_timeout: Duration,
    idle_check: tokio::time::Interval,
    deliveries: tokio::sync::watch::Receiver<u64>,
    accounts: tokio::sync::broadcast::Receiver<Arc<Changed>>,
    has_session: bool,
    recheck_at: Option<Instant>,
    session_check_at: Option<Instant>,
    /// Whatever the change log says, the session is read again now and
    /// then: the bound on a revocation Redis lost.
    session_ticks: tokio::time::Interval,
}

impl Connection {
    /// The protocol side, and the writer task that owns the sending side.
    fn open(
        sink: Sink,
        shared: &Arc<Shared>,
        session: crate::auth::Session,
        network: String,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let limits = &shared.limits;
        let (outbox, inbox) = mpsc::channel::<Outgoing>(limits.client_queue);
        let closing = Closing::default();
        let reader = shared::packages::aboard::Reader::of(session.caller.as_ref());
        let handle = ClientHandle {
            outbox,
            too_slow: CancellationToken::new(),
            reader: Arc::new(std::sync::RwLock::new(reader)),
        };
        let id = shared.hub.new_client_id();
        let writer = tokio::spawn(
            Writer {
                sink,
                inbox,
                closing: closing.clone(),
                ping_interval: limits.ping_interval,
                hold_limit: limits.client_queue,
                store: shared.store.clone(),
                hub: Arc::clone(&shared.hub),
            }
            .run(),
        );
        let has_session = session
            .caller
            .as_ref()
            .is_some_and(|c| c.session_id.is_some());
        let mut session_ticks = tokio::time::interval_at(
            Instant::now() + SESSION_RECHECK + spread(id),
            SESSION_RECHECK,
        );
        session_ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let connection = Self {
            too_slow: handle.too_slow.clone(),
            client: Handler::new(shared, id, handle, session.caller, network),
            closing,
            expiry: Box::pin(tokio::time::sleep(until_expiry(session.expires_at))),
            last_heard: Instant::now(),
            idle_timeout: limits.idle_timeout,
            idle_check: tokio::time::interval(limits.ping_interval.min(limits.idle_timeout)),
            deliveries: shared.rights.deliveries.clone(),
            accounts: shared.rights.accounts.subscribe(),
            has_session,
            recheck_at: None,
            session_check_at: None,
            session_ticks,
        };
        (connection, writer)
    }

    /// Serves the client until the connection ends, for whatever reason.
    async fn run(&mut self, mut source: Source, shutdown: &CancellationToken) {
        loop {
            let follows_deliveries = self.client.follows_deliveries();
            let wake = tokio::select! {
                _ = shutdown.cancelled() => Wake::Shutdown,
                _ = self.too_slow.cancelled() => Wake::TooSlow,
                _ = self.closing.token.cancelled() => Wake::Closed,
                _ = &mut self.expiry => Wake::Expired,
                Ok(()) = self.deliveries.changed(), if follows_deliveries => Wake::DeliveriesChanged,
                changed = self.accounts.recv(), if self.has_session => Wake::AccountsChanged(changed),
                _ = self.session_ticks.tick(), if self.has_session => Wake::SessionTick,
                _ = sleep_until(self.session_check_at), if self.session_check_at.is_some() => Wake::CheckSession,
                _ = sleep_until(self.recheck_at), if self.recheck_at.is_some() => Wake::Recheck,
                _ = self.idle_check.tick() => Wake::IdleCheck,
                frame = source.next() => Wake::Frame(frame),
            };
            match self.on(wake).await {
                Step::Go => {}
                Step::Close(code, reason) => {
                    self.closing.close(code, reason);
                    break;
                }
                Step::End => break,
            }
        }
    }

    async fn on(&mut self, wake: Wake) -> Step {
        let spread = spread(self.client.id);
        match wake {
            Wake::Shutdown => Step::Close(CloseCode::Away, "server shutting down"),
            Wake::TooSlow => Step::Close(CloseCode::Policy, TOO_SLOW),
            Wake::Closed => Step::End,
            Wake::Expired => Step::Close(CloseCode::Policy, TOKEN_EXPIRED),
            // Every courier connection wakes at once: their checks spread
            // over a second.
            Wake::DeliveriesChanged => {
                self.recheck_at.get_or_insert(Instant::now() + spread);
                Step::Go
            }
            Wake::AccountsChanged(changed) => {
                if self.is_mine(changed) {
                    self.session_check_at.get_or_insert(Instant::now() + spread);
                }
                Step::Go
            }
            Wake::SessionTick => {
                self.session_check_at.get_or_insert_with(Instant::now);
                Step::Go
            }
            Wake::CheckSession => self.check_session().await,
            Wake::Recheck => self.recheck().await,
            Wake::IdleCheck if self.last_heard.elapsed() > self.idle_timeout => {
                Step::Close(CloseCode::Policy, "idle timeout")
            }
            Wake::IdleCheck => Step::Go,
            Wake::Frame(frame) => {
                self.last_heard = Instant::now();
                self.frame(frame).await
            }
        }
    }

    /// Whether an account change may concern this connection's account.
    fn is_mine(&self, changed: Result<Arc<Changed>, RecvError>) -> bool {
        match changed {
            Ok(changed) => self
                .client
                .caller
                .as_ref()
                .is_some_and(|c| changed.includes(c.user_id)),
            // Fell behind: whatever was missed may have been ours.
            Err(RecvError::Lagged(_)) => true,
            Err(RecvError::Closed) => false,
        }
    }

    async fn check_session(&mut self) -> Step {
        self.session_check_at = match self.client.check_session().await {
            SessionCheck::Live => None,
            SessionCheck::Failed => Some(self.retry_at()),
            SessionCheck::Ended => {
                // The notices first, then the close; the writer ends the
                // connection.
                self.client
                    .enqueue(Outgoing::Close(crate::auth::SESSION_ENDED))
                    .await;
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), self.closing.token.cancelled())
                        .await;
                return Step::Close(CloseCode::Policy, crate::auth::SESSION_ENDED);
            }
            SessionCheck::Gone => return Step::Close(CloseCode::Policy, TOO_SLOW),
        };
        Step::Go
    }

    /// When to try a failed check again: a second after it came back (not
    /// after it began: a check may take seconds while the stores are slow),
    /// spread per client.
    fn retry_at(&self) -> Instant {
        Instant::now() + RECHECK_RETRY + spread(self.client.id)
    }

    async fn recheck(&mut self) -> Step {
        self.recheck_at = match self.client.recheck().await {
            Recheck::Done => None,
            Recheck::Failed => Some(self.retry_at()),
            Recheck::Gone => return Step::Close(CloseCode::Policy, TOO_SLOW),
        };
        Step::Go
    }

    async fn frame(
        &mut self,
        frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Step {
        match frame {
            Some(Ok(Message::Text(text))) => {
                if self.client.handle_text(&text).await {
                    Step::Go
                } else {
                    Step::Close(CloseCode::Policy, TOO_SLOW)
                }
            }
            Some(Ok(Message::Binary(_))) => {
                Step::Close(CloseCode::Unsupported, "only JSON text frames are accepted")
            }
            Some(Ok(Message::Close(_))) | None => Step::End,
            Some(Ok(_)) => Step::Go, // ping (answered by the library), pong
            Some(Err(error)) => {
                tracing::debug!(%error, "client frame error");
                Step::Close(CloseCode::Size, "frame too large or malformed")
            }
        }
    }
}

/// Closes a socket whose session did not check out, saying why.
async fn refuse_at_once(mut sink: Sink, reason: &str) {
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

/// How often a connection reads its session again though no change was
/// recorded for its account (the same bound as ingest's remembered tokens).
const SESSION_RECHECK: Duration = Duration::from_secs(60);
const RECHECK_RETRY: Duration = Duration::from_secs(1);

/// Up to a second, different per client: when many connections must act on
/// one signal, they do not all hit the database in the same instant.
pub(super) fn spread(id: ClientId) -> Duration {
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
