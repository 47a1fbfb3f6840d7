//! Every message on the broker is sealed: an HMAC-SHA256 over the encoded
//! envelope (its event id, principal, body and everything else), keyed by
//! `MESSAGE_SIGNING_KEY`. A consumer opens the seal before it decodes, so
//! whoever can publish on the broker but lacks the key cannot name an
//! admin, rotate a device's key or post positions: the message is refused
//! (the workers dead-letter it with the reason).
//!
//! The frame is `DTS1`, the key id's length (one byte), the key id, the
//! 32-byte MAC, then the envelope. The key id lets two keys be accepted
//! during a rotation: messages are sealed with the current key and opened
//! with whichever key their id names (`MESSAGE_SIGNING_KEY_PREVIOUS`).

use crate::env::{secret_var, var, ConfigError};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;

const MAGIC: &[u8; 4] = b"DTS1";
const MAC_LEN: usize = 32;
/// The shortest signing key accepted: 256 bits.
pub const MIN_KEY_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("unsigned message (no seal)")]
    Unsigned,
    #[error("message sealed with an unknown key {0:?}")]
    UnknownKey(String),
    #[error("forged or altered message (its seal does not verify)")]
    Forged,
}

impl SealError {
    /// A bounded label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Unsigned => "unsigned",
            Self::UnknownKey(_) => "unknown_key",
            Self::Forged => "forged",
        }
    }
}

#[derive(Clone)]
struct Key {
    id: String,
    secret: Vec<u8>,
}

impl Key {
    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(payload);
        mac
    }

    /// The key derived from this one for `label`. The prefix keeps the
    /// inputs of derivations apart from every sealed envelope (which
    /// starts with MessagePack, never with `0xff`).
    fn derived(&self, label: &str) -> Vec<u8> {
        let mut mac = self.mac(DERIVE_PREFIX);
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

const DERIVE_PREFIX: &[u8] = b"\xffderive\x00";

/// The keys messages are sealed and opened with. Cheap to clone.
#[derive(Clone)]
pub struct SigningKeys {
    inner: Arc<(Key, Option<Key>)>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (current, previous) = &*self.inner;
        write!(
            f,
            "SigningKeys {{ current: {:?}, previous: {:?} }}",
            current.id,
            previous.as_ref().map(|k| &k.id)
        )
    }
}

impl SigningKeys {
    /// One key, and optionally the one it replaces (still accepted).
    pub fn new(id: &str, secret: &[u8], previous: Option<(&str, &[u8])>) -> Self {
        let key = |id: &str, secret: &[u8]| Key {
            id: id.to_owned(),
            secret: secret.to_vec(),
        };
        Self {
            inner: Arc::new((key(id, secret), previous.map(|(id, s)| key(id, s)))),
        }
    }

    /// `MESSAGE_SIGNING_KEY` (required, at least 32 bytes, no default),
    /// `MESSAGE_SIGNING_KEY_ID` (default `1`), and during a rotation
    /// `MESSAGE_SIGNING_KEY_PREVIOUS` with `MESSAGE_SIGNING_KEY_PREVIOUS_ID`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let secret = secret_var("MESSAGE_SIGNING_KEY", MIN_KEY_BYTES)?;
        let id = key_id("MESSAGE_SIGNING_KEY_ID", "1")?;
        let previous: String = var("MESSAGE_SIGNING_KEY_PREVIOUS", String::new())?;
        let previous = if previous.is_empty() {
            None
        } else {
            let previous = secret_var("MESSAGE_SIGNING_KEY_PREVIOUS", MIN_KEY_BYTES)?;
            let previous_id = key_id("MESSAGE_SIGNING_KEY_PREVIOUS_ID", "0")?;
            if previous_id == id {
                return Err(ConfigError {
                    name: "MESSAGE_SIGNING_KEY_PREVIOUS_ID".into(),
                    value: previous_id,
                    reason: "must differ from MESSAGE_SIGNING_KEY_ID".into(),
                });
            }
            Some((previous_id, previous))
        };
        Ok(Self::new(
            &id,
            secret.as_bytes(),
            previous.as_ref().map(|(id, s)| (id.as_str(), s.as_bytes())),
        ))
    }

    /// A key of its own derived for another purpose (`label`), so a MAC
    /// made for one use can never pass for another's.
    pub fn derive(&self, label: &str) -> Vec<u8> {
        self.inner.0.derived(label)
    }

    /// A MAC of `data` under the key derived for `label`: a value nobody
    /// without the key can compute or predict (an assigned tracking number).
    pub fn tag(&self, label: &str, data: &[u8]) -> Vec<u8> {
        let key = Key {
            id: String::new(),
            secret: self.derive(label),
        };
        key.mac(data).finalize().into_bytes().to_vec()
    }

    /// The derived key of `id` (the current key or the previous one).
    pub fn derive_for(&self, id: &str, label: &str) -> Option<Vec<u8>> {
        self.key(id).map(|key| key.derived(label))
    }

    /// The current key's id.
    pub fn current_id(&self) -> &str {
        &self.inner.0.id
    }

    fn key(&self, id: &str) -> Option<&Key> {
        let (current, previous) = &*self.inner;
        if current.id == id {
            return Some(current);
        }
        previous.as_ref().filter(|k| k.id == id)
    }

    /// The payload in a frame sealed with the current key.
    pub fn seal(&self, payload: &[u8]) -> Vec<u8> {
        let key = &self.inner.0;
        let mac = key.mac(payload).finalize().into_bytes();
        let mut frame =
            Vec::with_capacity(MAGIC.len() + 1 + key.id.len() + MAC_LEN + payload.len());
        frame.extend_from_slice(MAGIC);
        // Key ids are at most 255 bytes (checked when read).
        frame.push(key.id.len() as u8);
        frame.extend_from_slice(key.id.as_bytes());
        frame.extend_from_slice(&mac);
        frame.extend_from_slice(payload);
        frame
    }

    /// The payload of a frame whose seal verifies, in constant time.
    pub fn open<'a>(&self, frame: &'a [u8]) -> Result<&'a [u8], SealError> {
        let rest = frame.strip_prefix(MAGIC).ok_or(SealError::Unsigned)?;
        let (&id_len, rest) = rest.split_first().ok_or(SealError::Unsigned)?;
        let id_len = usize::from(id_len);
        if rest.len() < id_len + MAC_LEN {
            return Err(SealError::Unsigned);
        }
        let (id, rest) = rest.split_at(id_len);
        let (mac, payload) = rest.split_at(MAC_LEN);
        let id = String::from_utf8_lossy(id);
        let key = self
            .key(&id)
            .ok_or_else(|| SealError::UnknownKey(id.chars().take(64).collect()))?;
        key.mac(payload)
            .verify_slice(mac)
            .map_err(|_| SealError::Forged)?;
        Ok(payload)
    }
}

fn key_id(name: &str, default: &str) -> Result<String, ConfigError> {
    let id: String = var(name, default.to_owned())?;
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError {
            name: name.into(),
            value: id,
            reason: "must be 1 to 64 printable ASCII characters".into(),
        });
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SigningKeys {
        SigningKeys::new("2", b"0123456789abcdef0123456789abcdef", None)
    }

    #[test]
    fn a_sealed_payload_opens_and_any_change_is_refused() {
        let frame = keys().seal(b"the envelope");
        assert_eq!(keys().open(&frame), Ok(&b"the envelope"[..]));
        for at in [frame.len() - 1, 7, 10] {
            let mut tampered = frame.clone();
            tampered[at] ^= 1;
            assert!(keys().open(&tampered).is_err(), "byte {at}");
        }
        assert_eq!(keys().open(b"the envelope"), Err(SealError::Unsigned));
        assert_eq!(keys().open(b"DTS1"), Err(SealError::Unsigned));
        let other = SigningKeys::new("2", b"another key, another deployment!", None);
        assert_eq!(other.open(&frame), Err(SealError::Forged));
        let stranger = SigningKeys::new("9", b"another key, another deployment!", None);
        assert_eq!(
            stranger.open(&frame),
            Err(SealError::UnknownKey("2".into()))
        );
    }

    #[test]
    fn during_a_rotation_both_keys_open_and_the_new_one_seals() {
        let old = keys();
        let rotated = SigningKeys::new(
            "3",
            b"the next key, also 32 bytes long",
            Some(("2", b"0123456789abcdef0123456789abcdef")),
        );
        let sealed_before = old.seal(b"in flight");
        assert_eq!(rotated.open(&sealed_before), Ok(&b"in flight"[..]));
        let sealed_after = rotated.seal(b"new");
        assert_eq!(rotated.open(&sealed_after), Ok(&b"new"[..]));
        assert_eq!(
            old.open(&sealed_after),
            Err(SealError::UnknownKey("3".into()))
        );
        assert_ne!(rotated.derive("links"), old.derive("links"));
        assert_eq!(rotated.derive_for("2", "links"), Some(old.derive("links")));
    }
}
