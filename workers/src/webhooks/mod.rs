//! The webhook pool: result events to integrators' endpoints, signed,
//! retried for days, every attempt logged.
//!
//! - registering, changing, deleting an endpoint and rotating its secret
//!   are account commands (`crate::accounts`), applied by the package pool;
//! - [`endpoints`]: the active endpoints and their owners' rights, held in
//!   memory, reloaded when `webhook_revision` moves;
//! - [`fanout`]: result events → one delivery row per endpoint that asked
//!   and may see the package → one send request each;
//! - [`sender`]: one attempt per send request, within [`limits`] per
//!   endpoint; [`ledger`]: the delivery's row through its attempts;
//!   [`disable`]: an endpoint failing for days; [`client`]: the POST
//!   itself, to checked addresses only; [`schedule`]: the backoff and the
//!   broker's delay line that holds the next attempt;
//! - [`bindings`]: `location` events reach the pool only while an endpoint
//!   wants them.

pub mod bindings;
pub mod client;
pub mod disable;
pub mod endpoints;
pub mod fanout;
pub mod ledger;
pub mod limits;
pub mod schedule;
pub mod sender;

use shared::webhooks::secret::WebhookSecrets;
use shared::webhooks::target::{Resolver, Rules};
use std::time::Duration;

/// How the pool delivers (`WEBHOOK_*`, documented in the README).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `WEBHOOK_ALLOW_HTTP`, `WEBHOOK_ALLOW_PRIVATE`.
    pub rules: Rules,
    /// `WEBHOOK_DNS_SERVER`.
    pub resolver: Resolver,
    /// `WEBHOOK_TIMEOUT_MS` (10,000): an attempt's whole exchange.
    pub timeout: Duration,
    /// `WEBHOOK_RETRY_FIRST_MS` (10,000): the first retry's delay, doubled
    /// after each failure up to six hours.
    pub retry_first: Duration,
    /// `WEBHOOK_RETRY_FOR_S` (259,200: 72 hours): how long a delivery is retried.
    pub retry_for: Duration,
    /// `WEBHOOK_DISABLE_AFTER_S` (259,200: 3 days): failing this long
    /// without a success disables the endpoint.
    pub disable_after: Duration,
    /// `WEBHOOK_ENDPOINT_CONCURRENCY` (4): attempts at once per endpoint.
    pub endpoint_concurrency: usize,
    /// `WEBHOOK_CONCURRENCY` (64): attempts at once per worker.
    pub concurrency: u16,
}

impl WebhookSettings {
    pub fn from_env() -> Result<Self, shared::config::ConfigError> {
        use shared::config::{millis_var, secs_var, var};
        Ok(Self {
            rules: Rules::from_env()?,
            resolver: Resolver::from_env()?,
            timeout: millis_var("WEBHOOK_TIMEOUT_MS", Duration::from_secs(10))?,
            retry_first: millis_var("WEBHOOK_RETRY_FIRST_MS", Duration::from_secs(10))?,
            retry_for: secs_var("WEBHOOK_RETRY_FOR_S", Duration::from_secs(72 * 3600))?,
            disable_after: secs_var("WEBHOOK_DISABLE_AFTER_S", Duration::from_secs(72 * 3600))?,
            endpoint_concurrency: var("WEBHOOK_ENDPOINT_CONCURRENCY", 4)?,
            concurrency: var("WEBHOOK_CONCURRENCY", 64)?,
        })
    }
}

/// What the pool's consumers share.
pub struct Pool {
    pub db: sqlx::PgPool,
    pub endpoints: endpoints::Endpoints,
    pub caller: client::Caller,
    pub secrets: WebhookSecrets,
    pub settings: WebhookSettings,
    pub limits: limits::EndpointLimits,
}

impl Pool {
    pub fn new(
        db: sqlx::PgPool,
        secrets: WebhookSecrets,
        settings: WebhookSettings,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            endpoints: endpoints::Endpoints::new(db.clone()),
            caller: client::Caller::new(
                settings.resolver.clone(),
                settings.rules,
                settings.timeout,
            )?,
            limits: limits::EndpointLimits::new(settings.endpoint_concurrency),
            db,
            secrets,
            settings,
        })
    }
}
