//! Password hashes: argon2id with the crate's recommended parameters, stored
//! as PHC strings (algorithm, parameters and salt travel with the hash).
//!
//! Hashing costs tens of milliseconds of CPU and 19 MiB by design, so both
//! directions run on the blocking pool, never on an async worker thread.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// The shortest password accepted.
pub const MIN_LEN: usize = 10;
/// The longest: argon2 takes any length, but a megabyte "password" is abuse.
pub const MAX_LEN: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error("the hashing task failed")]
    Task,
}

/// A PHC string for `password`.
pub async fn hash(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|_| PasswordError::Task)?
}

fn hash_now(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches `phc`. A malformed stored hash matches
/// nothing; with no stored hash (an unknown account) the same work is done
/// against a decoy, and nothing matches.
pub async fn verify(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| decoy().to_owned());
        let matches = PasswordHash::new(&phc).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        });
        known && matches
    })
    .await
    .unwrap_or(false)
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
        assert!(super::verify("correct horse battery".into(), Some(phc.clone())).await);
        assert!(!super::verify("wrong horse battery".into(), Some(phc)).await);
        assert!(!super::verify("x".into(), Some("not a hash".into())).await);
        assert!(!super::verify("correct horse battery".into(), None).await);
    }
}
