//! Access tokens: JWTs with `sub`, `role`, `email`, `sid` (the session they
//! belong to), `iat` and `exp`, signed with HS256 (a shared secret) by
//! default, or RS256/EdDSA key pairs. They live minutes (`JWT_TTL_S`); the
//! session behind them is what is checked, and ended ([`super::session`]).
//!
//! A verified token says who signed in, not what they may do now: the
//! services read the account's current role and verified email from the
//! database once per token (and again whenever the account changes), so
//! the role and email claims are never trusted for a decision.
//!
//! Verification accepts exactly the configured algorithm, so a token that
//! names another one (`none` included) or whose claims were edited after
//! signing fails its signature check, and an expired one is refused with its
//! own message so clients know to sign in again.

use super::{Caller, Role};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// Seconds of clock difference tolerated between the services.
const LEEWAY_S: u64 = 5;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: String,
    email: String,
    sid: String,
    iat: u64,
    exp: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired; sign in again")]
    Expired,
    #[error("the access token is invalid")]
    Invalid,
}

/// Why a token could not be issued: the service's fault, never the caller's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    #[error("this service cannot issue tokens (no signing key)")]
    NoSigningKey,
    #[error("a token needs the session it belongs to")]
    NoSession,
    #[error("the token could not be signed")]
    Signing,
}

/// Why PEM keys could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a usable public key (PEM) for the algorithm")]
    Public,
    #[error("not a usable private key (PEM) for the algorithm")]
    Private,
    #[error("key files are for RS256 and EdDSA only")]
    Algorithm,
}

/// Signs and checks tokens. Cheap to share behind an `Arc`.
#[derive(Clone)]
pub struct Tokens {
    algorithm: Algorithm,
    /// `None` in services that only verify (a public key and no private one).
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

/// A token as issued: the string and how long it lives.
pub struct Issued {
    pub token: String,
    pub expires_in: Duration,
}

/// A verified token: who signed in (the role as it was then, no email:
/// both are read again from the account), in which session, until when.
#[derive(Debug, Clone)]
pub struct Verified {
    pub caller: Caller,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
}

impl Tokens {
    pub fn new(
        algorithm: Algorithm,
        encoding: Option<EncodingKey>,
        decoding: DecodingKey,
        ttl: Duration,
    ) -> Self {
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_S;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        Self {
            algorithm,
            encoding,
            decoding,
            validation,
            ttl,
        }
    }

    /// HS256 with a shared secret.
    pub fn hs256(secret: &[u8], ttl: Duration) -> Self {
        Self::new(
            Algorithm::HS256,
            Some(EncodingKey::from_secret(secret)),
            DecodingKey::from_secret(secret),
            ttl,
        )
    }

    /// RS256 or EdDSA from PEM keys; without the private key the result
    /// only verifies (the broadcaster).
    pub fn from_pem(
        algorithm: Algorithm,
        public: &[u8],
        private: Option<&[u8]>,
        ttl: Duration,
    ) -> Result<Self, KeyError> {
        let (decoding, encoding) = match algorithm {
            Algorithm::RS256 => (
                DecodingKey::from_rsa_pem(public).map_err(|_| KeyError::Public)?,
                private
                    .map(|p| EncodingKey::from_rsa_pem(p).map_err(|_| KeyError::Private))
                    .transpose()?,
            ),
            Algorithm::EdDSA => (
                DecodingKey::from_ed_pem(public).map_err(|_| KeyError::Public)?,
                private
                    .map(|p| EncodingKey::from_ed_pem(p).map_err(|_| KeyError::Private))
                    .transpose()?,
            ),
            _ => return Err(KeyError::Algorithm),
        };
        Ok(Self::new(algorithm, encoding, decoding, ttl))
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(&self, caller: &Caller) -> Result<Issued, IssueError> {
        self.issue_at(caller, now(), self.ttl)
    }

    /// A token issued at `iat` that lives `ttl` (tests make expired ones).
    pub fn issue_at(&self, caller: &Caller, iat: u64, ttl: Duration) -> Result<Issued, IssueError> {
        let key = self.encoding.as_ref().ok_or(IssueError::NoSigningKey)?;
        let session = caller.session_id.ok_or(IssueError::NoSession)?;
        let claims = Claims {
            sub: caller.user_id.to_string(),
            role: caller.role.as_str().to_owned(),
            email: caller
                .email
                .as_ref()
                .map(|e| e.as_str().to_owned())
                .unwrap_or_default(),
            sid: session.to_string(),
            iat,
            exp: iat + ttl.as_secs(),
        };
        let token = jsonwebtoken::encode(&Header::new(self.algorithm), &claims, key)
            .map_err(|_| IssueError::Signing)?;
        Ok(Issued {
            token,
            expires_in: ttl,
        })
    }

    /// Whether a token verified earlier has not expired since (with the same
    /// leeway as [`Self::verify`]).
    pub fn still_valid(&self, verified: &Verified) -> bool {
        now() <= verified.expires_at + LEEWAY_S
    }

    pub fn verify(&self, token: &str) -> Result<Verified, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        let claims = data.claims;
        let caller = Caller {
            user_id: Uuid::parse_str(&claims.sub).map_err(|_| TokenError::Invalid)?,
            role: claims
                .role
                .parse::<Role>()
                .map_err(|_| TokenError::Invalid)?,
            email: None,
            device_id: None,
            session_id: Some(Uuid::parse_str(&claims.sid).map_err(|_| TokenError::Invalid)?),
        };
        Ok(Verified {
            caller,
            expires_at: claims.exp,
        })
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        Caller {
            user_id: Uuid::new_v4(),
            role: Role::Courier,
            email: None,
            device_id: None,
            session_id: Some(Uuid::new_v4()),
        }
    }

    fn tokens() -> Tokens {
        Tokens::hs256(b"0123456789abcdef0123456789abcdef", Duration::from_secs(60))
    }

    #[test]
    fn a_token_round_trips_to_its_caller() {
        let caller = caller();
        let issued = tokens().issue(&caller).unwrap();
        assert_eq!(tokens().verify(&issued.token).unwrap().caller, caller);
    }

    #[test]
    fn forged_tampered_unsigned_and_expired_tokens_are_refused() {
        let issued = tokens().issue(&caller()).unwrap().token;
        let other = Tokens::hs256(b"another secret, another issuer!!", Duration::from_secs(60));
        assert_eq!(other.verify(&issued).unwrap_err(), TokenError::Invalid);

        // The same signature over claims that say admin.
        let parts: Vec<&str> = issued.split('.').collect();
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
        let (decode, encode) = (|s: &str| B64.decode(s).unwrap(), |b: &[u8]| B64.encode(b));
        let claims = String::from_utf8(decode(parts[1])).unwrap();
        let tampered = claims.replace("\"courier\"", "\"admin\"");
        let forged = format!("{}.{}.{}", parts[0], encode(tampered.as_bytes()), parts[2]);
        assert_eq!(tokens().verify(&forged).unwrap_err(), TokenError::Invalid);

        // alg: none, no signature.
        let none = format!("{}.{}.", encode(br#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        assert_eq!(tokens().verify(&none).unwrap_err(), TokenError::Invalid);

        let old = tokens()
            .issue_at(&caller(), now() - 3600, Duration::from_secs(60))
            .unwrap();
        assert_eq!(
            tokens().verify(&old.token).unwrap_err(),
            TokenError::Expired
        );
        assert_eq!(
            tokens().verify("not a token").unwrap_err(),
            TokenError::Invalid
        );
    }

    #[test]
    fn key_pairs_sign_with_the_private_key_and_verify_with_the_public_one() {
        let ttl = Duration::from_secs(60);
        for (algorithm, private, public) in [
            (
                Algorithm::EdDSA,
                &include_bytes!("testdata/ed25519-private.pem")[..],
                &include_bytes!("testdata/ed25519-public.pem")[..],
            ),
            (
                Algorithm::RS256,
                &include_bytes!("testdata/rsa-private.pem")[..],
                &include_bytes!("testdata/rsa-public.pem")[..],
            ),
        ] {
            let issuer = Tokens::from_pem(algorithm, public, Some(private), ttl).unwrap();
            let verifier = Tokens::from_pem(algorithm, public, None, ttl).unwrap();
            let caller = caller();
            let token = issuer.issue(&caller).unwrap().token;
            assert_eq!(
                verifier.verify(&token).unwrap().caller,
                caller,
                "{algorithm:?}"
            );
            assert_eq!(
                verifier.issue(&caller).err(),
                Some(IssueError::NoSigningKey)
            );
            // A token signed with HS256 (say, with the public key as the
            // secret) is refused: only the configured algorithm is accepted.
            let confused = Tokens::hs256(public, ttl).issue(&caller).unwrap().token;
            assert_eq!(verifier.verify(&confused).unwrap_err(), TokenError::Invalid);
        }
        assert_eq!(
            Tokens::from_pem(Algorithm::EdDSA, b"not a key", None, ttl).err(),
            Some(KeyError::Public)
        );
    }

    #[test]
    fn a_token_carries_no_email_to_trust_and_needs_a_session() {
        let mut caller = caller();
        caller.email = Some(crate::domain::Email::parse("claimed@example.com").unwrap());
        let token = tokens().issue(&caller).unwrap().token;
        let verified = tokens().verify(&token).unwrap();
        assert_eq!(
            verified.caller.email, None,
            "the email claim decides nothing"
        );
        assert_eq!(verified.caller.session_id, caller.session_id);
        caller.session_id = None;
        assert_eq!(tokens().issue(&caller).err(), Some(IssueError::NoSession));
    }

    #[test]
    fn a_remembered_token_stays_valid_only_until_it_expires() {
        let tokens = tokens();
        let fresh = tokens
            .verify(&tokens.issue(&caller()).unwrap().token)
            .unwrap();
        assert!(tokens.still_valid(&fresh));
        let lapsed = Verified {
            expires_at: now() - LEEWAY_S - 1,
            ..fresh
        };
        assert!(!tokens.still_valid(&lapsed));
    }
}
