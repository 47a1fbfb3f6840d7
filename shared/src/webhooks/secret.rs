//! Each endpoint's signing secret, and the signature header.
//!
//! A secret is never stored or sent through the broker: it is derived from
//! `WEBHOOK_SECRET_KEY`, the endpoint's id and the secret's version, by
//! ingest when it shows the secret (once, at registration or rotation) and
//! by the sender when it signs. Rotating bumps the version; the previous
//! version keeps signing beside the new one for a day.
//!
//! `X-DeliverTrack-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]`, each
//! `v1` the hex HMAC-SHA256 of `"<t>.<body>"` under one valid secret.
//! Receivers recompute it with their secret, compare in constant time, and
//! refuse a `t` older than a few minutes (replays).

use crate::env::{secret_var, ConfigError};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use uuid::Uuid;

/// The header carrying the signatures.
pub const SIGNATURE_HEADER: &str = "x-delivertrack-signature";
/// The shortest `WEBHOOK_SECRET_KEY`: 256 bits.
pub const MIN_KEY_BYTES: usize = 32;
const LABEL: &[u8] = b"delivertrack webhook secret\0";

/// `WEBHOOK_SECRET_KEY`, from which every endpoint's secret is derived.
/// Cheap to clone.
#[derive(Clone)]
pub struct WebhookSecrets {
    key: Arc<Vec<u8>>,
}

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecrets(..)")
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

impl WebhookSecrets {
    pub fn new(key: &[u8]) -> Self {
        Self {
            key: Arc::new(key.to_vec()),
        }
    }

    /// `WEBHOOK_SECRET_KEY`: required, at least 32 bytes, no default.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self::new(
            secret_var("WEBHOOK_SECRET_KEY", MIN_KEY_BYTES)?.as_bytes(),
        ))
    }

    /// The secret of version `version` of endpoint `id`: `whsec_` and 43
    /// characters of base64url.
    pub fn secret(&self, id: Uuid, version: i32) -> String {
        let tag = hmac(&self.key, &[LABEL, id.as_bytes(), &version.to_be_bytes()]);
        format!(
            "whsec_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag)
        )
    }
}

/// The header value signing `body` at `timestamp` with each of `secrets`.
pub fn signature_header(secrets: &[String], timestamp: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&hex(&sign(secret, timestamp, body)));
    }
    header
}

fn sign(secret: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
    hmac(
        secret.as_bytes(),
        &[timestamp.to_string().as_bytes(), b".", body],
    )
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed signature header")]
    Malformed,
    #[error("the timestamp is too old or in the future")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

/// What a receiver does (the README shows it in Python and Node.js):
/// accept `body` when one `v1` of `header` is its HMAC under `secret` and
/// `t` is within `tolerance_s` of `now`.
pub fn verify(
    header: &str,
    secret: &str,
    body: &[u8],
    now: i64,
    tolerance_s: i64,
) -> Result<(), VerifyError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::Malformed)?;
    if (now - timestamp).abs() > tolerance_s {
        return Err(VerifyError::Stale);
    }
    let expected = hex(&sign(secret, timestamp, body));
    let matches = signatures.iter().any(|given| {
        // Constant time over equal lengths.
        given.len() == expected.len()
            && given
                .bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if matches {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> WebhookSecrets {
        WebhookSecrets::new(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn secrets_differ_by_endpoint_and_version_and_are_stable() {
        let id = Uuid::from_u128(7);
        let s = secrets();
        assert_eq!(s.secret(id, 1), s.secret(id, 1));
        assert_ne!(s.secret(id, 1), s.secret(id, 2));
        assert_ne!(s.secret(id, 1), s.secret(Uuid::from_u128(8), 1));
        assert!(s.secret(id, 1).starts_with("whsec_"));
        assert_eq!(s.secret(id, 1).len(), 6 + 43);
        let other = WebhookSecrets::new(b"another key of thirty-two bytes!");
        assert_ne!(s.secret(id, 1), other.secret(id, 1));
    }

    #[test]
    fn a_signature_verifies_and_a_tampered_or_old_one_does_not() {
        let secret = secrets().secret(Uuid::from_u128(1), 1);
        let body = br#"{"id":"x","type":"created"}"#;
        let header = signature_header(std::slice::from_ref(&secret), 1_000, body);
        assert_eq!(verify(&header, &secret, body, 1_010, 300), Ok(()));
        assert_eq!(
            verify(
                &header,
                &secret,
                br#"{"id":"y","type":"created"}"#,
                1_010,
                300
            ),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(&header, &secret, body, 2_000, 300),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            verify(&header, "whsec_wrong", body, 1_010, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify("v1=abc", &secret, body, 1_010, 300),
            Err(VerifyError::Malformed)
        );
    }

    #[test]
    fn during_a_rotation_either_secret_verifies() {
        let s = secrets();
        let id = Uuid::from_u128(3);
        let (old, new) = (s.secret(id, 1), s.secret(id, 2));
        let header = signature_header(&[new.clone(), old.clone()], 50, b"{}");
        assert_eq!(header.matches("v1=").count(), 2);
        assert_eq!(verify(&header, &old, b"{}", 50, 300), Ok(()));
        assert_eq!(verify(&header, &new, b"{}", 50, 300), Ok(()));
    }
}
