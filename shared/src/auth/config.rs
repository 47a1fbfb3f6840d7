//! Authentication settings, read once at start-up. Missing ones stop the
//! service with one line naming the variable, unless `AUTH_DISABLED=true`.

use super::Tokens;
use crate::config::{secs_var, var, ConfigError};
use jsonwebtoken::Algorithm;
use std::sync::Arc;
use std::time::Duration;

/// The shortest HS256 secret accepted: 256 bits.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Clone)]
pub enum AuthConfig {
    /// `AUTH_DISABLED=true`: every request acts as a development admin.
    Disabled,
    Enabled(Arc<Tokens>),
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Disabled => "AuthConfig::Disabled",
            Self::Enabled(_) => "AuthConfig::Enabled(..)",
        })
    }
}

fn missing(name: &str, reason: &str) -> ConfigError {
    ConfigError {
        name: name.to_owned(),
        value: String::new(),
        reason: reason.to_owned(),
    }
}

impl AuthConfig {
    /// `signs`: whether this service issues tokens (ingest) or only checks
    /// them (the broadcaster), which needs only the public key.
    pub fn from_env(signs: bool) -> Result<Self, ConfigError> {
        if var("AUTH_DISABLED", false)? {
            return Ok(Self::Disabled);
        }
        let ttl = secs_var("JWT_TTL_S", Duration::from_secs(900))?;
        let algorithm: String = var("JWT_ALGORITHM", "HS256".to_owned())?;
        let tokens = match algorithm.as_str() {
            "HS256" => {
                let secret = crate::config::secret_var("JWT_SECRET", MIN_SECRET_BYTES)?;
                Tokens::hs256(secret.as_bytes(), ttl)
            }
            "RS256" | "EdDSA" => {
                let public = read_key("JWT_PUBLIC_KEY_FILE")?.ok_or_else(|| {
                    missing(
                        "JWT_PUBLIC_KEY_FILE",
                        "required for JWT_ALGORITHM=RS256 or EdDSA",
                    )
                })?;
                let private = read_key("JWT_PRIVATE_KEY_FILE")?;
                if signs && private.is_none() {
                    return Err(missing("JWT_PRIVATE_KEY_FILE", "required to issue tokens"));
                }
                let algorithm = if algorithm == "RS256" {
                    Algorithm::RS256
                } else {
                    Algorithm::EdDSA
                };
                Tokens::from_pem(algorithm, &public, private.as_deref(), ttl).map_err(|e| {
                    let name = match e {
                        super::token::KeyError::Private => "JWT_PRIVATE_KEY_FILE",
                        _ => "JWT_PUBLIC_KEY_FILE",
                    };
                    missing(name, &e.to_string())
                })?
            }
            other => {
                return Err(ConfigError {
                    name: "JWT_ALGORITHM".into(),
                    value: other.to_owned(),
                    reason: "must be HS256, RS256 or EdDSA".into(),
                })
            }
        };
        Ok(Self::Enabled(Arc::new(tokens)))
    }

    /// Announces a disabled configuration where operators will see it.
    pub fn announce(&self, service: &str) {
        if matches!(self, Self::Disabled) {
            tracing::warn!(
                "AUTH_DISABLED=true: {service} accepts every request as an administrator. Never run it like this where anyone else can reach it."
            );
        }
    }
}

fn read_key(name: &str) -> Result<Option<Vec<u8>>, ConfigError> {
    let path: String = var(name, String::new())?;
    if path.is_empty() {
        return Ok(None);
    }
    std::fs::read(&path).map(Some).map_err(|e| ConfigError {
        name: name.to_owned(),
        value: path,
        reason: e.to_string(),
    })
}
