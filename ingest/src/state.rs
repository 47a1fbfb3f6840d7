//! What every handler shares ([`AppState`]) and what the router stamps on
//! each request (its peer, its client address, its trace).

use crate::broker::Broker;
use crate::http::request::BodyLimits;
use hyper::Request;
use shared::auth::AuthConfig;
use shared::cache::ViewCache;
use shared::trace::TraceParent;
use shared::wire::TraceContext;
use sqlx::PgPool;
use std::net::IpAddr;
use std::time::Duration;

/// What every handler may use. Cheap to share: everything inside is a handle.
pub struct AppState {
    /// The primary: authorization facts, admin reads, health.
    pub pool: PgPool,
    /// Package reads: the read replica where it may serve them.
    pub reads: crate::reads::Reads,
    pub cache: ViewCache,
    /// Views in this process's memory, in front of [`Self::cache`].
    pub near: std::sync::Arc<crate::near::NearCache>,
    pub broker: Broker,
    pub mongo: mongodb::Client,
    pub mongo_database: String,
    pub outcome_timeout: Duration,
    /// Limits on JSON request bodies.
    pub body: BodyLimits,
    pub point_rules: shared::locations::parse::PointRules,
    /// When a quiet courier device reads as stale or offline.
    pub presence: shared::couriers::PresenceRules,
    /// The OpenAPI document, rendered once.
    pub openapi: bytes::Bytes,
    /// Group commit of location posts.
    pub point_groups: crate::group_commit::PointGroups,
    pub auth: AuthConfig,
    /// Device keys and couriers' deliveries, remembered between requests.
    pub credentials: crate::credentials::Credentials,
    pub limiter: std::sync::Arc<crate::rate_limit::RateLimiter>,
    /// What each limit allows per minute.
    pub limits: crate::rate_limit::Limits,
    /// Seals what ingest publishes and checks the links it is shown.
    pub signing: shared::wire::SigningKeys,
    /// How long a session lasts without a refresh (`REFRESH_TOKEN_TTL_S`).
    pub refresh_ttl: std::time::Duration,
    /// Where passwords are hashed and checked, a few at a time.
    pub hashing: std::sync::Arc<shared::auth::password::Hashing>,
    /// Delays after failed sign-ins, per account.
    pub sign_in_delays: shared::auth::sign_in_delay::SignInDelays,
    /// The proxies whose `X-Forwarded-For` entries are believed.
    pub proxies: shared::net::TrustedProxies,
    pub metrics: std::sync::Arc<crate::metrics::IngestMetrics>,
    /// Queue depths for `/stats`, from the broker (and its management API).
    pub queues: crate::queues::QueueStats,
    /// The web pages' folder and settings.
    pub web: crate::web::WebConfig,
    pub webhooks: crate::config::WebhookEdge,
}

/// The address of the connection a request came on (set per connection).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub IpAddr);

/// The client's address as the router decided it (the peer, or the
/// forwarded one behind a trusted proxy): stamped into the audit trail.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// The trace a request belongs to: the client's `traceparent`, or a new
/// one. What the request publishes carries it to the workers.
#[derive(Debug, Clone)]
pub struct RequestTrace(pub TraceParent);

/// The trace context for what a request sends: its trace, with the
/// request's span (exported) or a fresh id as the parent of the next hop.
pub fn trace_of<B>(request: &Request<B>) -> TraceContext {
    request
        .extensions()
        .get::<RequestTrace>()
        .map(|t| TraceContext {
            traceparent: Some(shared::telemetry::outgoing_traceparent(
                &tracing::Span::current(),
                &t.0.child(),
            )),
        })
        .unwrap_or_default()
}
