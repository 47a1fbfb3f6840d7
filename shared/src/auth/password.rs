//! Password hashes: argon2id with the crate's recommended parameters, stored
//! as PHC strings (algorithm, parameters and salt travel with the hash).
//!
//! Hashing costs tens of milliseconds of CPU and 19 MiB by design, so both
//! directions run on the blocking pool, never on an async worker thread, and
//! at most two per core at once: the blocking pool would otherwise run up to
//! 512 (10 GiB) for a burst of sign-ins. Past that, callers queue for at most
//! [`QUEUE_WAIT`], then get [`PasswordError::Busy`] (a 503, not a hang).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The shortest password accepted.
pub const MIN_LEN: usize = 10;
/// The longest: argon2 takes any length, but a megabyte "password" is abuse.
pub const MAX_LEN: usize = 256;

/// How long a hash may wait for its turn before the caller is told to retry.
pub const QUEUE_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error("the hashing task failed")]
    Task,
    #[error("too many passwords being checked at once")]
    Busy,
}

/// Runs argon2 work on the blocking pool, at most `permits` at a time.
pub struct Hashing {
    permits: Semaphore,
    wait: Duration,
}

impl Hashing {
    pub fn new(permits: usize, wait: Duration) -> Self {
        Self {
            permits: Semaphore::new(permits.max(1)),
            wait,
        }
    }

    /// The process's: [`default_permits`] at once.
    pub fn global() -> &'static Self {
        static GLOBAL: OnceLock<Hashing> = OnceLock::new();
        GLOBAL.get_or_init(|| Hashing::new(default_permits(), QUEUE_WAIT))
    }

    /// A hash of `password` (a PHC string), in turn.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.run(move || hash_now(&password)).await?
    }

    /// Whether `password` matches `phc`, in turn (see [`verify`]).
    pub async fn verify(
        &self,
        password: String,
        phc: Option<String>,
    ) -> Result<bool, PasswordError> {
        self.run(move || verify_now(&password, phc.as_deref()))
            .await
    }

    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit = tokio::time::timeout(self.wait, self.permits.acquire())
            .await
            .map_err(|_| PasswordError::Busy)?
            .map_err(|_| PasswordError::Task)?;
        let done = tokio::task::spawn_blocking(work).await;
        drop(permit);
        done.map_err(|_| PasswordError::Task)
    }
}

/// Two per core: what the memory of a small pod affords (19 MiB each).
pub fn default_permits() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) * 2
}

/// A PHC string for `password`, on the process's pool.
pub async fn hash(password: String) -> Result<String, PasswordError> {
    Hashing::global().hash(password).await
}

fn hash_now(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches `phc`, on the process's pool. A malformed
/// stored hash matches nothing; with no stored hash (an unknown account) the
/// same work is done against a decoy, and nothing matches.
pub async fn verify(password: String, phc: Option<String>) -> Result<bool, PasswordError> {
    Hashing::global().verify(password, phc).await
}

fn verify_now(password: &str, phc: Option<&str>) -> bool {
    let known = phc.is_some();
    let phc = phc.unwrap_or_else(|| decoy());
    let matches = PasswordHash::new(phc).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    });
    known && matches
}

/// A hash of nothing anyone knows, verified against when the email is
/// unknown, so a wrong email costs as long as a wrong password and the
/// answer's timing does not tell which accounts exist.
fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_now(&uuid::Uuid::new_v4().to_string()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let phc = super::hash("correct horse battery".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        let verify = |password: &str, phc: Option<String>| {
            let password = password.to_owned();
            async move { super::verify(password, phc).await.unwrap() }
        };
        assert!(verify("correct horse battery", Some(phc.clone())).await);
        assert!(!verify("wrong horse battery", Some(phc)).await);
        assert!(!verify("x", Some("not a hash".into())).await);
        assert!(!verify("correct horse battery", None).await);
    }

    #[tokio::test]
    async fn past_its_permits_hashing_waits_its_turn_then_says_busy() {
        use super::{Hashing, PasswordError};
        use std::time::Duration;
        let hashing = std::sync::Arc::new(Hashing::new(1, Duration::from_millis(200)));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let busy = {
            let hashing = std::sync::Arc::clone(&hashing);
            tokio::spawn(async move { hashing.run(move || held.recv().is_ok()).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The one permit is taken: a second caller waits, then gives up.
        let refused = hashing.run(|| 2).await;
        assert!(matches!(refused, Err(PasswordError::Busy)), "{refused:?}");
        release.send(()).unwrap();
        assert!(busy.await.unwrap().unwrap(), "the first caller finishes");
        // Its permit is back.
        assert_eq!(hashing.run(|| 3).await.unwrap(), 3);
    }
}
