use shared::config::{millis_var, secs_var, var, CommonConfig, ConfigError};
use shared::locations::parse::PointRules;
use std::net::SocketAddr;
use std::time::Duration;

/// What ingest needs of webhooks: the key their secrets derive from, and
/// how a URL is checked at registration.
#[derive(Debug, Clone)]
pub struct WebhookEdge {
    /// `None` only in configurations built in code: registration answers 503.
    pub secrets: Option<shared::webhooks::secret::WebhookSecrets>,
    pub rules: shared::webhooks::target::Rules,
    pub resolver: shared::webhooks::target::Resolver,
}

impl Default for WebhookEdge {
    fn default() -> Self {
        Self {
            secrets: None,
            rules: Default::default(),
            resolver: shared::webhooks::target::Resolver::System,
        }
    }
}

#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub common: CommonConfig,
    /// `INGEST_LISTEN`; port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// How long a write waits for the worker's outcome before answering 202.
    pub outcome_timeout: Duration,
    /// How long a publish waits for the broker's confirm before answering 503.
    pub confirm_timeout: Duration,
    /// How far behind the primary the read replica (`DATABASE_READ_URL`)
    /// may be and still serve reads (`DATABASE_READ_MAX_LAG_MS`, default
    /// 5000); a requester's own writes are waited for regardless.
    pub read_max_lag: Duration,
    /// `VIEW_NEAR_CACHE_MB`: package views held in ingest's own memory in
    /// front of Redis, kept exact by the workers' invalidations (0: off).
    pub near_cache_bytes: u64,
    pub max_body_bytes: usize,
    /// The memory all request bodies may hold at once
    /// (`BODY_MEMORY_BUDGET_MB`, default 48; 0: no budget). A body waits for
    /// its share before it is read, up to the read timeout, then gets 503.
    pub body_memory_budget: usize,
    /// How long a client may take to send a request's headers, and then its
    /// body (`INGEST_READ_TIMEOUT_MS`): a slow or silent client loses its
    /// connection slot instead of holding it.
    pub read_timeout: Duration,
    pub max_connections: usize,
    /// Open connections per client network, counted when the socket is
    /// accepted (`MAX_CONNECTIONS_PER_ADDRESS`; 0: no cap). A trusted
    /// proxy's own address is not capped.
    pub max_connections_per_address: usize,
    /// Where `/metrics` and the health probes are served (`METRICS_LISTEN`,
    /// default `127.0.0.1:9100`; `off` serves nothing).
    pub metrics_listen: Option<SocketAddr>,
    /// The OsmAnd protocol's own port (`OSMAND_LISTEN`, default
    /// `127.0.0.1:5055`, the port Traccar Client expects; `off` for none).
    /// Every path and method there is an OsmAnd report; `/osmand` on the
    /// main port is the same endpoint.
    pub osmand_listen: Option<SocketAddr>,
    /// When a quiet courier device reads as `stale` and `offline`
    /// (`COURIER_STALE_AFTER_S`, `COURIER_OFFLINE_AFTER_S`).
    pub presence: shared::couriers::PresenceRules,
    pub locations: PointRules,
    /// Group commit of location posts (`LOCATION_GROUP_COMMIT_MS`: how long
    /// the first point of a group waits for others; 0 turns grouping off).
    pub group_commit: crate::group_commit::GroupCommit,
    /// `AUTH_DISABLED`, `JWT_*`: how requests are authenticated.
    pub auth: shared::auth::AuthConfig,
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins browsers may call the
    /// API from, or `*`; empty allows none.
    pub cors_allowed_origins: Vec<String>,
    /// `RATE_LIMIT_*_PER_MIN`: requests per minute per client address, per
    /// caller, and for sign-in/sign-up per address (0 turns one off).
    pub rate_limits: crate::rate_limit::Limits,
    /// `REFRESH_TOKEN_TTL_S`: how long a session lasts without a refresh
    /// (each refresh starts it again).
    pub refresh_ttl: Duration,
    /// `PASSWORD_HASHES_AT_ONCE`: argon2 hashes or checks run at once (19 MiB
    /// each); a request that waits 5 s for its turn gets 503.
    pub password_hashes_at_once: usize,
    /// `TRUSTED_PROXIES`: the proxies whose `X-Forwarded-For` entries name
    /// the client (none: the peer is the client).
    pub proxies: shared::net::TrustedProxies,
    /// `RABBITMQ_MANAGEMENT_URL` (`http://user:password@host:15672`): where
    /// `/stats` asks for unacknowledged counts. By default the AMQP URL's
    /// host and credentials on port 15672; empty turns it off.
    pub rabbitmq_management_url: Option<String>,
    /// `WEB_ROOT`, `WEB_WEBSOCKET_URL`, `WEB_TILES_URL`: the web pages.
    pub web: crate::web::WebConfig,
    /// Webhook registration: `WEBHOOK_SECRET_KEY` (required), and the URL
    /// rules and resolver the webhook pool uses too
    /// (`WEBHOOK_ALLOW_HTTP`, `WEBHOOK_ALLOW_PRIVATE`, `WEBHOOK_DNS_SERVER`).
    pub webhooks: WebhookEdge,
}

impl IngestConfig {
    /// The defaults; `from_env` overrides them.
    /// `auth` has no default: tests pass their own, `from_env` reads it.
    pub fn new(common: CommonConfig, auth: shared::auth::AuthConfig) -> Self {
        Self {
            auth,
            cors_allowed_origins: Vec::new(),
            rate_limits: crate::rate_limit::Limits {
                per_address: 120_000,
                per_caller: 60_000,
                auth: 10,
                track: 60,
                key_misses: 30,
            },
            proxies: shared::net::TrustedProxies::default(),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            password_hashes_at_once: shared::auth::password::default_permits(),
            rabbitmq_management_url: management_url_of(common.brokers.first()),
            web: crate::web::WebConfig::default(),
            webhooks: WebhookEdge::default(),
            common,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            outcome_timeout: Duration::from_millis(5_000),
            confirm_timeout: Duration::from_millis(5_000),
            read_max_lag: Duration::from_millis(5_000),
            near_cache_bytes: 64 << 20,
            max_body_bytes: 64 * 1024,
            body_memory_budget: 48 << 20,
            read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            max_connections_per_address: 256,
            metrics_listen: None,
            osmand_listen: None,
            presence: shared::couriers::PresenceRules::default(),
            locations: PointRules {
                max_future_skew: Duration::from_secs(300),
                max_age: Duration::from_secs(7 * 24 * 3600),
                batch_max_points: 1000,
                batch_max_bytes: 1024 * 1024,
            },
            group_commit: crate::group_commit::GroupCommit {
                linger: Duration::from_millis(2),
                max_points: 1000,
                max_in_flight: 256,
            },
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Self::new(
            CommonConfig::from_env()?,
            shared::auth::AuthConfig::from_env(true)?,
        );
        let origins: String = var("CORS_ALLOWED_ORIGINS", String::new())?;
        Ok(Self {
            cors_allowed_origins: origins
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect(),
            rate_limits: rate_limits(&d.rate_limits)?,
            proxies: shared::net::TrustedProxies::from_env()?,
            refresh_ttl: secs_var("REFRESH_TOKEN_TTL_S", d.refresh_ttl)?,
            password_hashes_at_once: hashes_at_once(var(
                "PASSWORD_HASHES_AT_ONCE",
                d.password_hashes_at_once,
            )?)?,
            web: web(&d.web)?,
            webhooks: WebhookEdge {
                secrets: Some(shared::webhooks::secret::WebhookSecrets::from_env()?),
                rules: shared::webhooks::target::Rules::from_env()?,
                resolver: shared::webhooks::target::Resolver::from_env()?,
            },
            rabbitmq_management_url: match std::env::var("RABBITMQ_MANAGEMENT_URL") {
                Ok(url) if url.trim().is_empty() => None,
                Ok(url) => Some(url),
                Err(_) => d.rabbitmq_management_url.clone(),
            },
            auth: d.auth,
            listen: var("INGEST_LISTEN", d.listen)?,
            outcome_timeout: millis_var("OUTCOME_TIMEOUT_MS", d.outcome_timeout)?,
            confirm_timeout: millis_var("AMQP_CONFIRM_TIMEOUT_MS", d.confirm_timeout)?,
            read_max_lag: millis_var("DATABASE_READ_MAX_LAG_MS", d.read_max_lag)?,
            near_cache_bytes: var::<u64>("VIEW_NEAR_CACHE_MB", d.near_cache_bytes >> 20)?
                .saturating_mul(1 << 20),
            max_body_bytes: var("MAX_BODY_BYTES", d.max_body_bytes)?,
            body_memory_budget: var::<usize>("BODY_MEMORY_BUDGET_MB", d.body_memory_budget >> 20)?
                << 20,
            read_timeout: millis_var("INGEST_READ_TIMEOUT_MS", d.read_timeout)?,
            max_connections: var("MAX_CONNECTIONS", d.max_connections)?,
            max_connections_per_address: var(
                "MAX_CONNECTIONS_PER_ADDRESS",
                d.max_connections_per_address,
            )?,
            metrics_listen: shared::endpoints::listen_var("127.0.0.1:9100")?,
            osmand_listen: shared::endpoints::optional_listen_var(
                "OSMAND_LISTEN",
                "127.0.0.1:5055",
            )?,
            presence: shared::couriers::PresenceRules::from_env()?,
            locations: point_rules(&d.locations)?,
            group_commit: group_commit(d.group_commit)?,
            common: d.common,
        })
    }
}

/// `RATE_LIMIT_*_PER_MIN`, over `d`.
fn rate_limits(d: &crate::rate_limit::Limits) -> Result<crate::rate_limit::Limits, ConfigError> {
    Ok(crate::rate_limit::Limits {
        per_address: var("RATE_LIMIT_IP_PER_MIN", d.per_address)?,
        per_caller: var("RATE_LIMIT_CALLER_PER_MIN", d.per_caller)?,
        auth: var("RATE_LIMIT_AUTH_PER_MIN", d.auth)?,
        track: var("RATE_LIMIT_TRACK_PER_MIN", d.track)?,
        key_misses: var("RATE_LIMIT_KEY_MISSES_PER_MIN", d.key_misses)?,
    })
}

/// `WEB_*`, over `d`.
fn web(d: &crate::web::WebConfig) -> Result<crate::web::WebConfig, ConfigError> {
    Ok(crate::web::WebConfig {
        root: var("WEB_ROOT", d.root.display().to_string())?.into(),
        websocket_url: var("WEB_WEBSOCKET_URL", d.websocket_url.clone())?,
        tiles_url: var("WEB_TILES_URL", d.tiles_url.clone())?,
    })
}

/// `LOCATION_*`, over `d`.
fn point_rules(d: &PointRules) -> Result<PointRules, ConfigError> {
    Ok(PointRules {
        max_future_skew: secs_var("LOCATION_MAX_FUTURE_SKEW_S", d.max_future_skew)?,
        max_age: secs_var("LOCATION_MAX_AGE_S", d.max_age)?,
        batch_max_points: var("LOCATION_BATCH_MAX_POINTS", d.batch_max_points)?,
        batch_max_bytes: var("LOCATION_BATCH_MAX_BYTES", d.batch_max_bytes)?,
    })
}

/// The management API beside an AMQP broker: same host and credentials,
/// port 15672.
fn management_url_of(amqp_url: &str) -> Option<String> {
    // Over amqps the broker's password must not travel in plain HTTP: no
    // default (set RABBITMQ_MANAGEMENT_URL to reach it some other way).
    let rest = amqp_url.strip_prefix("amqp://")?;
    let authority = rest.split(['/', '?']).next()?;
    let (credentials, host_port) = match authority.rsplit_once('@') {
        Some((credentials, host_port)) => (format!("{credentials}@"), host_port),
        None => (String::new(), authority),
    };
    let host = match host_port.rsplit_once(':') {
        Some((host, _port)) => host,
        None => host_port,
    };
    Some(format!("http://{credentials}{host}:15672"))
}

/// `PASSWORD_HASHES_AT_ONCE`: 1 to 512 (the blocking pool's size; each
/// takes 19 MiB, so more would only queue in memory).
fn hashes_at_once(n: usize) -> Result<usize, ConfigError> {
    if (1..=512).contains(&n) {
        Ok(n)
    } else {
        Err(ConfigError {
            name: "PASSWORD_HASHES_AT_ONCE".into(),
            value: n.to_string(),
            reason: "must be from 1 to 512".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_management_api_is_found_beside_the_broker() {
        assert_eq!(
            super::management_url_of("amqp://guest:guest@127.0.0.1:5672/%2f").as_deref(),
            Some("http://guest:guest@127.0.0.1:15672")
        );
        assert_eq!(
            super::management_url_of("amqp://rabbit").as_deref(),
            Some("http://rabbit:15672")
        );
        assert_eq!(super::management_url_of("nonsense"), None);
        assert_eq!(super::management_url_of("amqps://u:p@rabbit:5671"), None);
    }

    #[test]
    fn password_hashes_at_once_is_from_1_to_512() {
        assert_eq!(super::hashes_at_once(1).ok(), Some(1));
        assert_eq!(super::hashes_at_once(512).ok(), Some(512));
        for refused in [0, 513, usize::MAX] {
            let error = super::hashes_at_once(refused).unwrap_err();
            assert!(
                error.to_string().contains("PASSWORD_HASHES_AT_ONCE"),
                "{error}"
            );
        }
    }
}

/// `LOCATION_GROUP_COMMIT_MS` over `d`.
fn group_commit(
    d: crate::group_commit::GroupCommit,
) -> Result<crate::group_commit::GroupCommit, ConfigError> {
    Ok(crate::group_commit::GroupCommit {
        linger: millis_var("LOCATION_GROUP_COMMIT_MS", d.linger)?,
        ..d
    })
}
