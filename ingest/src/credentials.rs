//! What ingest remembers between requests about device keys and couriers'
//! deliveries, so a device's location post is checked without a database
//! round trip.
//!
//! Every change to a device or a delivery makes the workers bump a version
//! in Redis; a refresher polls it every [`POLL`] and drops everything
//! remembered when it moved, so a revoked key stops working on every ingest
//! within about a second. When Redis cannot be asked, nothing remembered is
//! trusted past that poll: lookups go to PostgreSQL, the source of truth.
//! A generation number keeps a lookup that raced a drop from storing what
//! it read before the change.
//!
//! Access tokens verified once are remembered too, by their exact text,
//! until they expire: a client sends the same token with every request, and
//! checking its signature and claims each time cost reads an eighth of their
//! throughput. A token cannot be revoked, so nothing else invalidates them.

use shared::auth::token::Verified;
use shared::auth::{api_key, Caller, Role, TokenError, Tokens};
use shared::cache::ViewCache;
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often the version is polled: the longest a revocation takes to reach
/// this instance, once the workers applied it.
pub const POLL: Duration = Duration::from_secs(1);
/// Keys and couriers remembered at most; past it, everything is dropped.
const MAX_ENTRIES: usize = 100_000;

#[derive(Clone)]
pub struct Credentials {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    cache: ViewCache,
    remembered: Mutex<Remembered>,
    /// By the token's text.
    tokens: Mutex<HashMap<String, Verified>>,
}

#[derive(Default)]
struct Remembered {
    /// Bumped at every drop.
    generation: u64,
    /// The Redis version the entries were read under.
    version: Option<i64>,
    /// By key hash: the device's caller, or `None` for a key that names no
    /// working device.
    devices: HashMap<String, Option<Caller>>,
    /// By courier: the tracking numbers of their assigned deliveries.
    carried: HashMap<Uuid, Arc<HashSet<String>>>,
}

impl Remembered {
    fn drop_all(&mut self) {
        self.generation += 1;
        self.devices.clear();
        self.carried.clear();
    }
}

impl Credentials {
    pub fn new(pool: PgPool, cache: ViewCache) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                cache,
                remembered: Mutex::new(Remembered::default()),
                tokens: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, Remembered> {
        // A panic while holding this lock leaves plain maps behind: usable.
        self.inner
            .remembered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The caller an access token names, verified once per token until it
    /// expires.
    pub fn token(&self, tokens: &Tokens, token: &str) -> Result<Caller, TokenError> {
        let lock = || {
            self.inner
                .tokens
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(known) = lock().get(token) {
            if tokens.still_valid(known) {
                return Ok(known.caller.clone());
            }
        }
        let verified = tokens.verify(token)?;
        let caller = verified.caller.clone();
        let mut remembered = lock();
        if remembered.len() >= MAX_ENTRIES {
            remembered.retain(|_, v| tokens.still_valid(v));
            if remembered.len() >= MAX_ENTRIES {
                remembered.clear();
            }
        }
        remembered.insert(token.to_owned(), verified);
        Ok(caller)
    }

    /// The caller a device key stands for: its courier, through it. `None`
    /// for a key that names no device, or a revoked or replaced one.
    pub async fn device(&self, key: &str) -> Result<Option<Caller>, sqlx::Error> {
        if !api_key::looks_like_key(key) {
            return Ok(None);
        }
        let hash = api_key::hash(key);
        let generation = {
            let remembered = self.remembered();
            if let Some(known) = remembered.devices.get(&hash) {
                return Ok(known.clone());
            }
            remembered.generation
        };
        let row: Option<(Uuid, Uuid)> = sqlx::query_as(
            "SELECT id, courier_id FROM devices WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(&hash)
        .fetch_optional(&self.inner.pool)
        .await?;
        let caller = row.map(|(device_id, courier_id)| Caller {
            user_id: courier_id,
            role: Role::Courier,
            email: None,
            device_id: Some(device_id),
        });
        let mut remembered = self.remembered();
        if remembered.generation == generation {
            if remembered.devices.len() >= MAX_ENTRIES {
                remembered.drop_all();
            } else {
                remembered.devices.insert(hash, caller.clone());
            }
        }
        Ok(caller)
    }

    /// The tracking numbers of the courier's assigned deliveries.
    pub async fn carried(&self, courier_id: Uuid) -> Result<Arc<HashSet<String>>, sqlx::Error> {
        let generation = {
            let remembered = self.remembered();
            if let Some(known) = remembered.carried.get(&courier_id) {
                return Ok(Arc::clone(known));
            }
            remembered.generation
        };
        let numbers: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT DISTINCT p.tracking_number FROM deliveries d \
             JOIN delivery_stops s ON s.delivery_id = d.id JOIN packages p ON p.id = s.package_id \
             WHERE d.courier_id = $1 AND {}",
            shared::auth::access::ACTIVE_DELIVERY
        ))
        .bind(courier_id)
        .fetch_all(&self.inner.pool)
        .await?;
        let carried = Arc::new(numbers.into_iter().collect::<HashSet<_>>());
        let mut remembered = self.remembered();
        if remembered.generation == generation {
            if remembered.carried.len() >= MAX_ENTRIES {
                remembered.drop_all();
            } else {
                remembered.carried.insert(courier_id, Arc::clone(&carried));
            }
        }
        Ok(carried)
    }

    /// Asks Redis for the version once: drops everything if it moved or
    /// cannot be read.
    pub async fn refresh(&self) {
        let version = self.inner.cache.auth_version().await.ok();
        let mut remembered = self.remembered();
        if version.is_none() || version != remembered.version {
            remembered.drop_all();
            remembered.version = version;
        }
    }

    /// Polls until `stop`; the application owns the task.
    pub fn spawn_refresher(&self, stop: CancellationToken) -> JoinHandle<()> {
        let credentials = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(POLL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = ticks.tick() => credentials.refresh().await,
                }
            }
        })
    }
}
