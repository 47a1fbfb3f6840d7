use shared::config::{millis_var, secs_var, var, CommonConfig, ConfigError};
use shared::domain::Email;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub common: CommonConfig,
    /// Unacknowledged messages the broker may push to each package shard
    /// consumer: also the largest window of commands applied at once.
    pub prefetch: u16,
    /// The same for the location consumer (`WORKER_LOCATION_PREFETCH`):
    /// larger, because a window's cost is mostly per store command, not per
    /// point (docs/PITFALLS.md).
    pub location_prefetch: u16,
    /// How long a window waits for one more message (`WORKER_WINDOW_LINGER_MS`).
    pub window_linger: Duration,
    /// Packages per round of the latest-position projection
    /// (`LATEST_POSITIONS_BATCH`).
    pub latest_positions_batch: i64,
    /// Which package shards this instance consumes (`WORKER_SHARDS`): `auto`
    /// (the default) shares them with the pool's other replicas; a list
    /// (`all`, `0-3`, `0,2,5`) fixes them. Each shard has one active
    /// consumer at a time either way.
    pub shards: ShardChoice,
    /// This replica's id in the pool (`WORKER_ID`; by default the host name,
    /// the process id and a random part).
    pub worker_id: Option<String>,
    pub confirm_timeout: Duration,
    /// Which pools this instance runs (`WORKER_POOLS`: `packages`,
    /// `locations`, `mail`, `webhooks`, comma-separated; all by default), so each pool scales on its own queue.
    pub run_packages: bool,
    pub run_locations: bool,
    /// The mail pool (`WORKER_POOLS` includes `mail`).
    pub run_mail: bool,
    /// The webhook pool (`WORKER_POOLS` includes `webhooks`, the default):
    /// `WEBHOOK_SECRET_KEY` and how it delivers; `None`: not run here.
    pub webhooks: Option<WebhookPool>,
    /// How the mail pool sends (`SMTP_URL`, `MAIL_FROM`, `PUBLIC_URL`,
    /// `MAIL_MAX_ATTEMPTS`).
    pub mail: MailSettings,
    /// How long points naming an unknown package are retried before they are
    /// dead-lettered (`UNKNOWN_PACKAGE_RETRY_S`): a point can overtake its
    /// package's create, which travels another queue.
    pub unknown_package_retry: Duration,
    /// When a quiet courier device is `stale` and `offline`
    /// (`COURIER_STALE_AFTER_S`, default 120; `COURIER_OFFLINE_AFTER_S`,
    /// default 600), announced by the location pool's presence sweep.
    pub presence: shared::couriers::PresenceRules,
    /// How often the location pool looks for promises that passed without
    /// delivery (`LATE_SWEEP_S`, default 30): `delivery_late` is announced
    /// within this of the promised time.
    pub late_sweep_every: Duration,
    /// An OSRM-compatible routing service for the legs' road distances
    /// (`ROUTING_URL`, `http://` only; unset: great-circle distance times
    /// the learned road factor), asked with `ROUTING_TIMEOUT_MS` (2000).
    pub routing_url: Option<String>,
    pub routing_timeout: Duration,
    /// The first admin (`BOOTSTRAP_ADMIN_EMAIL`, `BOOTSTRAP_ADMIN_PASSWORD`),
    /// created at start-up by the package pool if no account has its email.
    pub bootstrap_admin: Option<BootstrapAdmin>,
    /// Where `/metrics` and `/health` are served (`METRICS_LISTEN`, default
    /// `127.0.0.1:9101`; several workers on one host each set their own;
    /// `off` serves nothing).
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// The webhook pool's key and settings.
#[derive(Debug, Clone)]
pub struct WebhookPool {
    pub secrets: shared::webhooks::secret::WebhookSecrets,
    pub settings: crate::webhooks::WebhookSettings,
}

/// Where mail goes and what its links point to.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `SMTP_URL`: `smtps://user:pass@host:465`, `smtp://host:587?tls=required`,
    /// `smtp://host:25` (a relay on this host; the default), or `log`.
    pub smtp_url: String,
    /// `MAIL_FROM`: the sender, e.g. `DeliverTrack <no-reply@example.com>`.
    pub from: String,
    /// `PUBLIC_URL`: where people reach the API and pages; links start here.
    pub public_url: String,
    /// `MAIL_MAX_ATTEMPTS`: tries before a mail is dead-lettered (one every
    /// 30 s: 240 is two hours).
    pub max_attempts: u32,
    /// `RECIPIENT_MAIL_DAILY_CAP`: recipient mails one address gets in 24
    /// hours at most, however many packages name it (20).
    pub recipient_daily_cap: u32,
    /// `RECIPIENT_ETA_WAIT_S`: how long an out-for-delivery mail to a
    /// package with a destination but no arrival estimate yet waits for one
    /// (60; at most 300; 0 sends at once without a window).
    pub recipient_eta_wait: std::time::Duration,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            smtp_url: "smtp://127.0.0.1:25".into(),
            from: "DeliverTrack <no-reply@localhost>".into(),
            public_url: "http://127.0.0.1:8080".into(),
            max_attempts: 240,
            recipient_daily_cap: 20,
            recipient_eta_wait: std::time::Duration::from_secs(60),
        }
    }
}

/// The account an empty deployment starts with. No default exists anywhere.
#[derive(Clone)]
pub struct BootstrapAdmin {
    pub email: Email,
    pub password: String,
}

impl std::fmt::Debug for BootstrapAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BootstrapAdmin {{ email: {}, password: <hidden> }}",
            self.email
        )
    }
}

impl WorkerConfig {
    /// Running the package pool needs the first admin's settings, unless
    /// `AUTH_DISABLED=true` (the `dlq` commands need neither).
    pub fn require_bootstrap_admin(&self) -> Result<(), ConfigError> {
        if self.run_packages && self.bootstrap_admin.is_none() && !var("AUTH_DISABLED", false)? {
            BootstrapAdmin::from_env(true)?;
        }
        Ok(())
    }
}

impl BootstrapAdmin {
    /// `required`: an unset pair is an error too, naming the variable.
    fn from_env(required: bool) -> Result<Option<Self>, ConfigError> {
        let email: String = var("BOOTSTRAP_ADMIN_EMAIL", String::new())?;
        let password: String = var("BOOTSTRAP_ADMIN_PASSWORD", String::new())?;
        let problem = |name: &str, value: &str, reason: &str| ConfigError {
            name: name.into(),
            value: value.into(),
            reason: reason.into(),
        };
        if email.is_empty() && password.is_empty() && !required {
            return Ok(None);
        }
        let email = Email::parse(&email).map_err(|e| {
            problem(
                "BOOTSTRAP_ADMIN_EMAIL",
                &email,
                &format!("required: {e} (the first admin's account)"),
            )
        })?;
        if password.chars().count() < shared::auth::password::MIN_LEN {
            return Err(problem(
                "BOOTSTRAP_ADMIN_PASSWORD",
                "",
                &format!(
                    "required, at least {} characters",
                    shared::auth::password::MIN_LEN
                ),
            ));
        }
        if let Some(reason) = shared::config::secret_problem(&password, 0) {
            return Err(problem("BOOTSTRAP_ADMIN_PASSWORD", "", &reason));
        }
        Ok(Some(Self { email, password }))
    }
}

impl WorkerConfig {
    /// The defaults, for every pool and shard; `from_env` overrides them.
    pub fn new(common: CommonConfig) -> Self {
        Self {
            prefetch: 64,
            location_prefetch: 1024,
            window_linger: Duration::from_millis(2),
            latest_positions_batch: 100,
            shards: ShardChoice::Shared,
            worker_id: None,
            confirm_timeout: Duration::from_millis(5_000),
            run_packages: true,
            run_locations: true,
            run_mail: true,
            webhooks: None,
            mail: MailSettings::default(),
            unknown_package_retry: Duration::from_secs(30),
            presence: shared::couriers::PresenceRules::default(),
            late_sweep_every: Duration::from_secs(30),
            routing_url: None,
            routing_timeout: Duration::from_millis(2_000),
            bootstrap_admin: None,
            metrics_listen: None,
            common,
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::new(CommonConfig::from_env()?);
        let common = defaults.common;
        let raw: String = var("WORKER_SHARDS", "auto".to_owned())?;
        let shards =
            parse_shards(&raw, common.topology.package_shards()).map_err(|reason| ConfigError {
                name: "WORKER_SHARDS".into(),
                value: raw.clone(),
                reason,
            })?;
        let pools: String = var(
            "WORKER_POOLS",
            "packages,locations,mail,webhooks".to_owned(),
        )?;
        let pools = parse_pools(&pools).map_err(|reason| ConfigError {
            name: "WORKER_POOLS".into(),
            value: pools.clone(),
            reason,
        })?;
        let metrics_listen = shared::endpoints::listen_var("127.0.0.1:9101")?;
        Ok(Self {
            metrics_listen,
            bootstrap_admin: BootstrapAdmin::from_env(false)?,
            run_packages: pools.packages,
            run_locations: pools.locations,
            run_mail: pools.mail,
            webhooks: if pools.webhooks {
                Some(WebhookPool {
                    secrets: shared::webhooks::secret::WebhookSecrets::from_env()?,
                    settings: crate::webhooks::WebhookSettings::from_env()?,
                })
            } else {
                None
            },
            mail: MailSettings::from_env()?,
            prefetch: var("WORKER_PREFETCH", defaults.prefetch)?,
            location_prefetch: var("WORKER_LOCATION_PREFETCH", defaults.location_prefetch)?,
            window_linger: millis_var("WORKER_WINDOW_LINGER_MS", defaults.window_linger)?,
            latest_positions_batch: var("LATEST_POSITIONS_BATCH", defaults.latest_positions_batch)?
                .max(1),
            unknown_package_retry: secs_var(
                "UNKNOWN_PACKAGE_RETRY_S",
                defaults.unknown_package_retry,
            )?,
            confirm_timeout: millis_var("AMQP_CONFIRM_TIMEOUT_MS", defaults.confirm_timeout)?,
            presence: shared::couriers::PresenceRules::from_env()?,
            late_sweep_every: secs_var("LATE_SWEEP_S", defaults.late_sweep_every)?
                .max(Duration::from_secs(1)),
            routing_url: routing_url()?,
            routing_timeout: millis_var("ROUTING_TIMEOUT_MS", defaults.routing_timeout)?,
            shards,
            worker_id: Some(var("WORKER_ID", String::new())?).filter(|id| !id.is_empty()),
            common,
        })
    }
}

/// `ROUTING_URL`: unset or empty for none; otherwise an `http://` URL.
fn routing_url() -> Result<Option<String>, ConfigError> {
    let url: String = var("ROUTING_URL", String::new())?;
    if url.is_empty() {
        return Ok(None);
    }
    if !url.starts_with("http://") || url.len() <= "http://".len() {
        return Err(ConfigError {
            name: "ROUTING_URL".into(),
            value: url,
            reason: "must be an http:// URL (an OSRM-compatible service; TLS through a proxy)"
                .into(),
        });
    }
    Ok(Some(url))
}

impl MailSettings {
    fn from_env() -> Result<Self, ConfigError> {
        let d = Self::default();
        let smtp_url: String = var("SMTP_URL", d.smtp_url)?;
        if smtp_url != "log" {
            if !["smtp://", "smtps://"]
                .iter()
                .any(|s| smtp_url.starts_with(s))
            {
                return Err(ConfigError {
                    name: "SMTP_URL".into(),
                    value: smtp_url,
                    reason: "expected smtp://, smtps:// or log".into(),
                });
            }
            shared::config::check_url_credentials("SMTP_URL", &smtp_url)?;
        }
        let from: String = var("MAIL_FROM", d.from)?;
        if from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError {
                name: "MAIL_FROM".into(),
                value: from,
                reason: "expected a mailbox, e.g. DeliverTrack <no-reply@example.com>".into(),
            });
        }
        Ok(Self {
            smtp_url,
            from,
            public_url: shared::config::url_var("PUBLIC_URL", &d.public_url, &["http", "https"])?,
            max_attempts: var("MAIL_MAX_ATTEMPTS", d.max_attempts)?.max(1),
            // 0 would silently drop every recipient mail.
            recipient_daily_cap: var("RECIPIENT_MAIL_DAILY_CAP", d.recipient_daily_cap)?.max(1),
            recipient_eta_wait: shared::config::secs_var(
                "RECIPIENT_ETA_WAIT_S",
                d.recipient_eta_wait,
            )?
            .min(std::time::Duration::from_millis(
                shared::topology::MAIL_ETA_WAIT_MAX_MS.unsigned_abs(),
            )),
        })
    }
}

/// Which pools an instance runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pools {
    pub packages: bool,
    pub locations: bool,
    pub mail: bool,
    pub webhooks: bool,
}

pub fn parse_pools(raw: &str) -> Result<Pools, String> {
    let mut pools = Pools::default();
    for pool in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match pool {
            "packages" => pools.packages = true,
            "locations" => pools.locations = true,
            "mail" => pools.mail = true,
            "webhooks" => pools.webhooks = true,
            other => {
                return Err(format!(
                    "unknown pool {other:?}; expected packages, locations, mail and/or webhooks"
                ))
            }
        }
    }
    if pools == Pools::default() {
        Err("no pool selected".into())
    } else {
        Ok(pools)
    }
}

/// Which package shards a replica consumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardChoice {
    /// Its share, agreed with the pool's other replicas (`auto`).
    Shared,
    /// These, whatever other replicas do (a list, or `all`).
    Fixed(Vec<u16>),
}

impl std::fmt::Display for ShardChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Shared => f.write_str("auto"),
            Self::Fixed(shards) => write!(f, "{shards:?}"),
        }
    }
}

pub fn parse_shards(raw: &str, total: u16) -> Result<ShardChoice, String> {
    match raw.trim() {
        "auto" => Ok(ShardChoice::Shared),
        "all" => Ok(ShardChoice::Fixed((0..total).collect())),
        list => parse_shard_list(list, total).map(ShardChoice::Fixed),
    }
}

fn parse_shard_list(raw: &str, total: u16) -> Result<Vec<u16>, String> {
    let mut shards = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo.trim(), hi.trim()),
            None => (part, part),
        };
        let parse = |s: &str| {
            s.parse::<u16>().map_err(|_| {
                format!("{s:?} is not a shard number (expected auto, all or a list such as 0-3,6)")
            })
        };
        let (lo, hi) = (parse(lo)?, parse(hi)?);
        if lo > hi || hi >= total {
            return Err(format!("shards must lie in 0..{total} (PACKAGE_SHARDS)"));
        }
        shards.extend(lo..=hi);
    }
    shards.sort_unstable();
    shards.dedup();
    if shards.is_empty() {
        return Err("no shard selected".into());
    }
    Ok(shards)
}

#[cfg(test)]
mod tests {
    use super::{parse_pools, parse_shards, Pools, ShardChoice};

    #[test]
    fn pools() {
        let all = Pools {
            packages: true,
            locations: true,
            mail: true,
            webhooks: true,
        };
        assert_eq!(
            parse_pools("packages,locations,mail,webhooks").unwrap(),
            all
        );
        assert_eq!(
            parse_pools("locations").unwrap(),
            Pools {
                locations: true,
                ..Pools::default()
            }
        );
        assert!(parse_pools("trucks").is_err());
        assert!(parse_pools("").is_err());
    }

    #[test]
    fn shard_lists_and_ranges() {
        let fixed = |shards: Vec<u16>| ShardChoice::Fixed(shards);
        assert_eq!(parse_shards("auto", 3).unwrap(), ShardChoice::Shared);
        assert_eq!(parse_shards("all", 3).unwrap(), fixed(vec![0, 1, 2]));
        assert_eq!(parse_shards("2, 0-1,1", 4).unwrap(), fixed(vec![0, 1, 2]));
        assert!(parse_shards("4", 4).is_err());
        assert!(parse_shards("x", 4).is_err());
        assert!(parse_shards("", 4).is_err());
    }
}
