//! 12-factor configuration: every setting is an environment variable with a
//! localhost default. A malformed value stops start-up with one line naming it.

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    pub name: String,
    pub value: String,
    pub reason: String,
}

/// Reads `name`, falling back to `default` when it is unset or empty.
pub fn var<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    match std::env::var(name) {
        Ok(raw) if !raw.trim().is_empty() => raw.trim().parse().map_err(|e: T::Err| ConfigError {
            name: name.to_owned(),
            value: raw.clone(),
            reason: e.to_string(),
        }),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(default),
        Err(std::env::VarError::NotUnicode(raw)) => Err(ConfigError {
            name: name.to_owned(),
            value: raw.to_string_lossy().into_owned(),
            reason: "not valid UTF-8".to_owned(),
        }),
    }
}

/// Reads a URL-ish string and checks it starts with one of `schemes`.
pub fn url_var(name: &str, default: &str, schemes: &[&str]) -> Result<String, ConfigError> {
    let value: String = var(name, default.to_owned())?;
    if schemes
        .iter()
        .any(|s| value.starts_with(&format!("{s}://")))
    {
        Ok(value)
    } else {
        Err(ConfigError {
            name: name.to_owned(),
            reason: format!(
                "expected a URL starting with {}",
                schemes.join("://, ") + "://"
            ),
            value,
        })
    }
}

/// Reads a duration given in milliseconds (variables named `*_MS`).
pub fn millis_var(name: &str, default: Duration) -> Result<Duration, ConfigError> {
    var(name, default.as_millis() as u64).map(Duration::from_millis)
}

/// Reads a duration given in whole seconds (variables named `*_S`).
pub fn secs_var(name: &str, default: Duration) -> Result<Duration, ConfigError> {
    var(name, default.as_secs()).map(Duration::from_secs)
}

/// Settings every service shares: where the four backing services are and how
/// the broker namespace is laid out.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    pub database_url: String,
    pub database_max_connections: u32,
    pub redis_url: String,
    /// Prepended to every Redis key, so several deployments (or tests) share one Redis.
    pub redis_prefix: String,
    pub amqp_url: String,
    pub mongodb_url: String,
    pub mongodb_database: String,
    pub topology: crate::topology::Topology,
}

impl CommonConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let shards: u16 = var("PACKAGE_SHARDS", 4)?;
        if shards == 0 || shards > 256 {
            return Err(ConfigError {
                name: "PACKAGE_SHARDS".into(),
                value: shards.to_string(),
                reason: "must be between 1 and 256".into(),
            });
        }
        Ok(Self {
            database_url: url_var(
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/delivertrack",
                &["postgres", "postgresql"],
            )?,
            database_max_connections: var("DATABASE_MAX_CONNECTIONS", 10)?,
            redis_url: url_var("REDIS_URL", "redis://127.0.0.1:6379", &["redis", "rediss"])?,
            redis_prefix: var("REDIS_PREFIX", String::new())?,
            amqp_url: url_var(
                "AMQP_URL",
                "amqp://guest:guest@127.0.0.1:5672/%2f",
                &["amqp", "amqps"],
            )?,
            mongodb_url: url_var(
                "MONGODB_URL",
                "mongodb://127.0.0.1:27017",
                &["mongodb", "mongodb+srv"],
            )?,
            mongodb_database: var("MONGODB_DATABASE", "delivertrack".to_owned())?,
            topology: crate::topology::Topology::new(
                var("AMQP_PREFIX", "delivertrack".to_owned())?,
                shards,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_values_name_the_variable() {
        // A name no other test touches, so setting it is race-free.
        std::env::set_var("DT_TEST_CONFIG_PORT", "eighty");
        let err = var::<u16>("DT_TEST_CONFIG_PORT", 80).unwrap_err();
        assert!(err.to_string().contains("DT_TEST_CONFIG_PORT"), "{err}");
        std::env::set_var("DT_TEST_CONFIG_URL", "localhost:5432");
        let err = url_var("DT_TEST_CONFIG_URL", "postgres://x", &["postgres"]).unwrap_err();
        assert!(err.to_string().contains("DT_TEST_CONFIG_URL"), "{err}");
    }

    #[test]
    fn unset_values_take_the_default() {
        assert_eq!(var::<u16>("DT_TEST_CONFIG_UNSET", 8080).unwrap(), 8080);
    }
}
