//! Device API keys: `dtk_` and 40 hex digits (160 random bits). Only the
//! SHA-256 of a key is stored and compared; the key itself is shown once.
//! The same randomness and digest serve the other opaque secrets.

use sha2::{Digest, Sha256};

pub const PREFIX: &str = "dtk_";

/// A new key (from the operating system's random source) and the hash to
/// store for it.
pub fn generate() -> (String, String) {
    let key = format!("{PREFIX}{}", random_hex(20));
    let hash = hash(&key);
    (key, hash)
}

/// `bytes` random bytes from the operating system, as hex: for keys,
/// refresh tokens, WebSocket tickets and link nonces.
pub fn random_hex(bytes: usize) -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut random = vec![0u8; bytes];
    OsRng.fill_bytes(&mut random);
    hex(&random)
}

/// The stored form of a key.
pub fn hash(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// The stored form of an OsmAnd device identifier: a hash apart from the
/// keys' (the same text is never both a key and an identifier).
pub fn unique_id_hash(unique_id: &str) -> String {
    hash(&format!("osmand\n{unique_id}"))
}

/// A new OsmAnd identifier: 160 random bits, as 40 hex digits (Traccar
/// Client takes any text as its identifier).
pub fn generate_unique_id() -> String {
    random_hex(20)
}

/// Whether `raw` may be a device identifier: 1 to 64 of `A-Z a-z 0-9 . _ : -`
/// (IMEIs, serial numbers, generated ones).
pub fn valid_unique_id(raw: &str) -> bool {
    (1..=64).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Whether `raw` has the shape of a key (cheap check before any lookup).
pub fn looks_like_key(raw: &str) -> bool {
    raw.strip_prefix(PREFIX)
        .is_some_and(|rest| rest.len() == 40 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_distinct_well_formed_and_hashed() {
        let (key, hash) = super::generate();
        let (other, _) = super::generate();
        assert_ne!(key, other);
        assert!(super::looks_like_key(&key), "{key}");
        assert_eq!(super::hash(&key), hash);
        assert!(!hash.contains(&key[4..]));
        assert!(!super::looks_like_key("dtk_short"));
    }
}
