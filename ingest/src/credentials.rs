//! What ingest remembers between requests about who is calling: access
//! tokens (as the account stood when the token was first seen), device
//! keys and couriers' deliveries, so most requests are checked without a
//! database round trip.
//!
//! Two versions in Redis say when something remembered may be wrong. The
//! workers bump the rights version on every device or delivery change
//! (everything device- and delivery-related is then dropped), and record
//! every changed account (role, disabled, verified email, ended session)
//! under the accounts version ([`shared::auth::changes`]): only those
//! accounts' tokens, devices and deliveries are dropped. A refresher polls
//! both every [`POLL`], so a change reaches every ingest within about a
//! second. When Redis cannot be asked, nothing remembered is trusted past
//! that poll: every lookup goes to PostgreSQL, the source of truth. A
//! generation number keeps a lookup that raced a drop from storing what it
//! read before the change.
//!
//! Device keys that name no device are never remembered (so random keys
//! cannot push real ones out), and each client network may fail only a few
//! lookups a minute ([`Credentials::device`]); keys that named a device
//! before are still looked up from a blocked network, so a guesser behind
//! the same NAT as a fleet of trackers does not lock the fleet out.

use shared::auth::changes::{Changed, Follower};
use shared::auth::token::Verified;
use shared::auth::{api_key, Caller, Role, TokenError, Tokens};
use shared::cache::ViewCache;
use shared::rate_limit::{RateLimiter, Verdict};
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often the versions are polled: the longest a revocation takes to
/// reach this instance, once the workers applied it.
pub const POLL: Duration = Duration::from_secs(1);
/// Entries remembered at most per kind; past it, new ones are not kept.
const MAX_ENTRIES: usize = 100_000;
/// How long a remembered token is believed without asking PostgreSQL
/// again, whatever the change log says: the bound on a revocation that
/// Redis lost (an asynchronous replica promoted, a restored snapshot).
pub const RECHECK: Duration = Duration::from_secs(60);

/// Why a request's credentials are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the session has ended (signed out, or the account changed); sign in again")]
    SessionEnded,
    #[error("the API key is unknown, replaced or revoked")]
    UnknownKey,
    #[error("too many unknown API keys from this network; retry in {0} s")]
    TooManyMisses(u64),
}

/// A store could not be asked.
#[derive(Debug, thiserror::Error)]
#[error("credentials cannot be checked now: {0}")]
pub struct Unavailable(#[from] sqlx::Error);

#[derive(Clone)]
pub struct Credentials {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    cache: ViewCache,
    limiter: Arc<RateLimiter>,
    /// Failed device-key lookups a client network may make per minute.
    misses_per_minute: u32,
    remembered: Mutex<Remembered>,
}

/// A token seen before: the caller as the account stood then.
struct KnownToken {
    caller: Caller,
    expires_at: u64,
    /// When its session and account were read.
    checked_at: Instant,
}

#[derive(Default)]
struct Remembered {
    /// Bumped at every drop.
    generation: u64,
    /// The rights version the device and delivery entries were read under.
    rights_version: Option<i64>,
    /// By the token's text.
    tokens: HashMap<String, KnownToken>,
    /// By key hash: the device's caller (only keys that name one).
    devices: HashMap<String, Caller>,
    /// By courier: the tracking numbers of their assigned deliveries.
    carried: HashMap<Uuid, Arc<HashSet<String>>>,
    /// Networks that failed too many key lookups, until when.
    blocked: HashMap<String, Instant>,
    /// Hashes of keys that named a device here before: kept through drops
    /// (they say nothing about rights), so a real device is still looked
    /// up from a network whose guesser got it blocked.
    vouched: HashSet<String>,
}

impl Remembered {
    fn drop_all(&mut self) {
        self.generation += 1;
        self.tokens.clear();
        self.devices.clear();
        self.carried.clear();
    }

    fn drop_rights(&mut self) {
        self.generation += 1;
        self.devices.clear();
        self.carried.clear();
    }

    fn drop_accounts(&mut self, accounts: &HashSet<Uuid>) {
        self.generation += 1;
        self.tokens
            .retain(|_, known| !accounts.contains(&known.caller.user_id));
        self.devices
            .retain(|_, caller| !accounts.contains(&caller.user_id));
        self.carried
            .retain(|courier, _| !accounts.contains(courier));
    }
}

impl Credentials {
    pub fn new(
        pool: PgPool,
        cache: ViewCache,
        limiter: Arc<RateLimiter>,
        misses_per_minute: u32,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                cache,
                limiter,
                misses_per_minute,
                remembered: Mutex::new(Remembered::default()),
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

    /// The caller an access token stands for: its signature and expiry
    /// checked, then its session and the account as they are now (role,
    /// verified email, not disabled), once per token until the account
    /// changes, and at least every [`RECHECK`].
    pub async fn token(
        &self,
        tokens: &Tokens,
        token: &str,
    ) -> Result<Result<Caller, Refused>, Unavailable> {
        let generation = {
            let remembered = self.remembered();
            if let Some(known) = remembered
                .tokens
                .get(token)
                .filter(|known| known.checked_at.elapsed() < RECHECK)
            {
                let verified = Verified {
                    caller: known.caller.clone(),
                    expires_at: known.expires_at,
                };
                if tokens.still_valid(&verified) {
                    return Ok(Ok(known.caller.clone()));
                }
            }
            remembered.generation
        };
        let verified = match tokens.verify(token) {
            Ok(verified) => verified,
            Err(error) => return Ok(Err(error.into())),
        };
        let claimed = &verified.caller;
        let Some(session) = claimed.session_id else {
            return Ok(Err(Refused::SessionEnded));
        };
        let Some(caller) =
            shared::auth::session::current(&self.inner.pool, claimed.user_id, session).await?
        else {
            return Ok(Err(Refused::SessionEnded));
        };
        let mut remembered = self.remembered();
        if remembered.generation == generation && remembered.tokens.len() < MAX_ENTRIES {
            remembered.tokens.insert(
                token.to_owned(),
                KnownToken {
                    caller: caller.clone(),
                    expires_at: verified.expires_at,
                    checked_at: Instant::now(),
                },
            );
        } else if remembered.tokens.len() >= MAX_ENTRIES {
            let now = shared::auth::token::now();
            remembered.tokens.retain(|_, k| k.expires_at + 5 >= now);
        }
        Ok(Ok(caller))
    }

    /// The caller a device key stands for: its courier, through it, while
    /// the device is not revoked and its courier's account is a courier's
    /// and not disabled. A key that names no device costs a database query
    /// only while the client's network has failed fewer than
    /// `RATE_LIMIT_KEY_MISSES_PER_MIN` lookups this minute.
    pub async fn device(
        &self,
        key: &str,
        network: &str,
    ) -> Result<Result<Caller, Refused>, Unavailable> {
        if !api_key::looks_like_key(key) {
            return Ok(Err(Refused::UnknownKey));
        }
        self.device_by(api_key::hash(key), network, Lookup::Key)
            .await
    }

    /// The caller an OsmAnd identifier stands for, on the same terms (and
    /// under the same limit on misses) as a key.
    pub async fn osmand_device(
        &self,
        unique_id: &str,
        network: &str,
    ) -> Result<Result<Caller, Refused>, Unavailable> {
        if !api_key::valid_unique_id(unique_id) {
            return Ok(Err(Refused::UnknownKey));
        }
        self.device_by(
            api_key::unique_id_hash(unique_id),
            network,
            Lookup::UniqueId,
        )
        .await
    }

    /// A device by the hash of its key or identifier (the two hashes never
    /// coincide: [`api_key::unique_id_hash`]).
    async fn device_by(
        &self,
        hash: String,
        network: &str,
        lookup: Lookup,
    ) -> Result<Result<Caller, Refused>, Unavailable> {
        let generation = {
            let mut remembered = self.remembered();
            if let Some(known) = remembered.devices.get(&hash) {
                return Ok(Ok(known.clone()));
            }
            let vouched = remembered.vouched.contains(&hash);
            if let Some(until) = remembered
                .blocked
                .get(network)
                .copied()
                .filter(|_| !vouched)
            {
                let now = Instant::now();
                if until > now {
                    return Ok(Err(Refused::TooManyMisses((until - now).as_secs().max(1))));
                }
                remembered.blocked.remove(network);
            }
            remembered.generation
        };
        let row = match lookup {
            Lookup::Key => shared::auth::devices::by_key(&self.inner.pool, &hash).await?,
            Lookup::UniqueId => {
                shared::auth::devices::by_unique_id(&self.inner.pool, &hash).await?
            }
        };
        let Some((device_id, courier_id)) = row else {
            self.remembered().vouched.remove(&hash);
            self.missed(network).await;
            return Ok(Err(Refused::UnknownKey));
        };
        let caller = Caller {
            user_id: courier_id,
            role: Role::Courier,
            email: None,
            device_id: Some(device_id),
            session_id: None,
        };
        let mut remembered = self.remembered();
        if remembered.vouched.len() >= MAX_ENTRIES {
            remembered.vouched.clear();
        }
        remembered.vouched.insert(hash.clone());
        if remembered.generation == generation && remembered.devices.len() < MAX_ENTRIES {
            remembered.devices.insert(hash, caller.clone());
        }
        Ok(Ok(caller))
    }

    /// Counts a failed key lookup against the network's limit; past it, the
    /// network's unknown keys are refused without a lookup until the window
    /// ends.
    async fn missed(&self, network: &str) {
        let limit = self.inner.misses_per_minute;
        if limit == 0 {
            return;
        }
        let verdict = self
            .inner
            .limiter
            .check(&format!("keymiss:{network}"), limit)
            .await;
        if let Verdict::Deny { retry_after } = verdict {
            let mut remembered = self.remembered();
            if remembered.blocked.len() >= MAX_ENTRIES {
                let now = Instant::now();
                remembered.blocked.retain(|_, until| *until > now);
            }
            if remembered.blocked.len() < MAX_ENTRIES {
                remembered
                    .blocked
                    .insert(network.to_owned(), Instant::now() + retry_after);
            }
        }
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
        let numbers = shared::auth::deliveries::carried_by(&self.inner.pool, courier_id).await?;
        let carried = Arc::new(numbers.into_iter().collect::<HashSet<_>>());
        let mut remembered = self.remembered();
        if remembered.generation == generation && remembered.carried.len() < MAX_ENTRIES {
            remembered.carried.insert(courier_id, Arc::clone(&carried));
        }
        Ok(carried)
    }

    /// Asks Redis once: drops what may have changed, or everything when
    /// Redis cannot say.
    pub async fn refresh(&self, accounts: &mut Follower) {
        let rights = self.inner.cache.auth_version().await.ok();
        let changed = accounts.poll(&self.inner.cache).await;
        let mut remembered = self.remembered();
        if rights.is_none() {
            remembered.drop_all();
            remembered.rights_version = None;
            return;
        }
        if rights != remembered.rights_version {
            remembered.drop_rights();
            remembered.rights_version = rights;
        }
        match changed {
            None => {}
            Some(Changed::Everything) => remembered.drop_all(),
            Some(Changed::Accounts(accounts)) => remembered.drop_accounts(&accounts),
        }
    }

    /// Polls until `stop`; the application owns the task.
    pub fn spawn_refresher(&self, stop: CancellationToken) -> JoinHandle<()> {
        let credentials = self.clone();
        tokio::spawn(async move {
            let mut accounts = Follower::default();
            let mut ticks = tokio::time::interval(POLL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = ticks.tick() => credentials.refresh(&mut accounts).await,
                }
            }
        })
    }
}

/// Which credential names the device.
#[derive(Clone, Copy)]
enum Lookup {
    Key,
    UniqueId,
}
