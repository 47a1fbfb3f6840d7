//! The links DeliverTrack mails: verify an email address, reset a password.
//!
//! A link's token is signed (HMAC-SHA256 with a key derived from
//! `MESSAGE_SIGNING_KEY` for this use alone), says what it is for, whose it
//! is and until when, and carries a random nonce; the workers remember each
//! nonce once used, so a link works once. A reset link also names the
//! password it was made for ([`password_version`]): once the password
//! changed, every older reset link is dead too.
//!
//! Format: `<key id>.<base64url(JSON claims)>.<base64url(MAC)>`.

use crate::seal::SigningKeys;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;
use uuid::Uuid;

/// How long a verification link works.
pub const VERIFY_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a password-reset link works.
pub const RESET_TTL: Duration = Duration::from_secs(30 * 60);
const LABEL: &str = "delivertrack mailed links v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    #[serde(rename = "p")]
    pub purpose: Purpose,
    #[serde(rename = "u")]
    pub user_id: Uuid,
    /// The address the link was mailed to (verification).
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The password it was made for (reset).
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub password_version: Option<String>,
    /// Seconds since the Unix epoch.
    #[serde(rename = "x")]
    pub expires_at: u64,
    #[serde(rename = "n")]
    pub nonce: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is malformed")]
    Malformed,
    #[error("the link is not valid")]
    BadSignature,
    #[error("the link is for something else")]
    WrongPurpose,
    #[error("the link has expired; ask for a new one")]
    Expired,
}

/// Which password a hash stands for, without revealing anything of it: a
/// short digest of the stored hash (which has its own salt).
pub fn password_version(password_hash: &str) -> String {
    super::api_key::hex(&Sha256::digest(password_hash.as_bytes())[..12])
}

fn mac(key: &[u8], kid: &str, payload: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(kid.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    mac
}

/// A signed link token for `claims`.
pub fn sign(keys: &SigningKeys, claims: &LinkClaims) -> String {
    let kid = keys.current_id();
    let payload = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
    let tag = mac(&keys.derive(LABEL), kid, &payload)
        .finalize()
        .into_bytes();
    format!("{kid}.{payload}.{}", B64.encode(tag))
}

/// New claims for a link of `purpose` that lives `ttl` from `now`.
pub fn claims(
    purpose: Purpose,
    user_id: Uuid,
    email: Option<String>,
    password_version: Option<String>,
    now: u64,
) -> LinkClaims {
    let ttl = match purpose {
        Purpose::VerifyEmail => VERIFY_TTL,
        Purpose::ResetPassword => RESET_TTL,
    };
    LinkClaims {
        purpose,
        user_id,
        email,
        password_version,
        expires_at: now + ttl.as_secs(),
        nonce: super::api_key::random_hex(16),
    }
}

/// The claims of a token signed with one of `keys`, for `purpose`, not
/// expired at `now`. Whether it was used already is the workers' to say.
pub fn verify(
    keys: &SigningKeys,
    token: &str,
    purpose: Purpose,
    now: u64,
) -> Result<LinkClaims, LinkError> {
    if token.len() > 2048 {
        return Err(LinkError::Malformed);
    }
    let mut parts = token.trim().splitn(3, '.');
    let (Some(kid), Some(payload), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(LinkError::Malformed);
    };
    let tag = B64.decode(tag).map_err(|_| LinkError::Malformed)?;
    let key = keys.derive_for(kid, LABEL).ok_or(LinkError::BadSignature)?;
    mac(&key, kid, payload)
        .verify_slice(&tag)
        .map_err(|_| LinkError::BadSignature)?;
    let claims: LinkClaims = B64
        .decode(payload)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or(LinkError::Malformed)?;
    if claims.purpose != purpose {
        return Err(LinkError::WrongPurpose);
    }
    if claims.expires_at < now {
        return Err(LinkError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SigningKeys {
        SigningKeys::new("k", b"0123456789abcdef0123456789abcdef", None)
    }

    #[test]
    fn a_link_verifies_for_its_purpose_until_it_expires() {
        let user = Uuid::new_v4();
        let claims = claims(
            Purpose::VerifyEmail,
            user,
            Some("a@example.com".into()),
            None,
            1000,
        );
        let token = sign(&keys(), &claims);
        assert_eq!(
            verify(&keys(), &token, Purpose::VerifyEmail, 1000),
            Ok(claims.clone())
        );
        assert_eq!(
            verify(&keys(), &token, Purpose::ResetPassword, 1000),
            Err(LinkError::WrongPurpose)
        );
        assert_eq!(
            verify(&keys(), &token, Purpose::VerifyEmail, claims.expires_at + 1),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn an_edited_or_foreign_link_is_refused() {
        let claims = claims(
            Purpose::ResetPassword,
            Uuid::new_v4(),
            None,
            Some("v1".into()),
            1000,
        );
        let token = sign(&keys(), &claims);
        let mut edited = claims.clone();
        edited.user_id = Uuid::new_v4();
        let (kid, rest) = token.split_once('.').unwrap();
        let (_, tag) = rest.split_once('.').unwrap();
        let forged = format!(
            "{kid}.{}.{tag}",
            B64.encode(serde_json::to_vec(&edited).unwrap())
        );
        assert_eq!(
            verify(&keys(), &forged, Purpose::ResetPassword, 1000),
            Err(LinkError::BadSignature)
        );
        let other = SigningKeys::new("k", b"another key of thirty-two bytes!", None);
        assert_eq!(
            verify(&other, &token, Purpose::ResetPassword, 1000),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            verify(&keys(), "garbage", Purpose::ResetPassword, 1000),
            Err(LinkError::Malformed)
        );
        // A message seal's key is not a link's key: the derived keys differ.
        assert_ne!(
            keys().derive(LABEL),
            b"0123456789abcdef0123456789abcdef".to_vec()
        );
        assert_ne!(
            password_version("$argon2id$a"),
            password_version("$argon2id$b")
        );
    }
}
