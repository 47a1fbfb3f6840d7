//! Reading the environment: every setting is a variable with a localhost
//! default. A malformed value stops start-up with one line naming it.
//!
//! Secrets have no defaults: [`secret_var`] refuses one that is missing,
//! too short, or a placeholder or published default, and no error ever
//! prints a secret's value (see [`ConfigError`]'s `Display`).

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub name: String,
    pub value: String,
    pub reason: String,
}

/// One line naming the variable. The value is shown only when it cannot be
/// a secret: a variable whose name says it holds one is never printed, and
/// a URL's password is masked.
impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if is_secret_name(&self.name) {
            return write!(
                f,
                "environment variable {} is invalid: {}",
                self.name, self.reason
            );
        }
        write!(
            f,
            "environment variable {}={:?} is invalid: {}",
            self.name,
            mask_url_password(&self.value),
            self.reason
        )
    }
}

/// Whether a variable's name says it holds a secret (`JWT_SECRET`,
/// `BOOTSTRAP_ADMIN_PASSWORD`, `MESSAGE_SIGNING_KEY`, ...). Paths to key
/// files are not secrets.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    !name.ends_with("_FILE")
        && ["SECRET", "PASSWORD", "TOKEN", "_KEY"]
            .iter()
            .any(|word| name.contains(word))
}

/// `value` with the password of a `scheme://user:password@host` URL (each
/// one, for comma-separated lists) replaced by `***`.
pub fn mask_url_password(value: &str) -> String {
    value
        .split(',')
        .map(|part| match url_password_span(part) {
            Some((start, end)) => format!("{}***{}", &part[..start], &part[end..]),
            None => part.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Where the password of `scheme://user:password@host...` sits in `url`.
fn url_password_span(url: &str) -> Option<(usize, usize)> {
    let authority_start = url.find("://")? + 3;
    let rest = &url[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let at = authority.rfind('@')?;
    let colon = authority[..at].find(':')?;
    Some((authority_start + colon + 1, authority_start + at))
}

/// Values published in this repository or in its former defaults: a
/// deployment that still uses one has a secret everyone knows.
const PUBLISHED_DEFAULTS: &[&str] = &[
    "delivertrack",
    "postgres",
    "guest",
    "admin",
    "password",
    "changeme",
    "secret",
    "bootstrap-admin-password",
];

/// Why `value` cannot serve as a secret of at least `min_len` bytes, if it
/// cannot: too short, a placeholder (`REPLACE-ME`), or a published default.
pub fn secret_problem(value: &str, min_len: usize) -> Option<String> {
    if value.to_ascii_uppercase().contains("REPLACE-ME") {
        return Some("is a placeholder (REPLACE-ME): set a real secret".into());
    }
    if PUBLISHED_DEFAULTS
        .iter()
        .any(|known| value.eq_ignore_ascii_case(known))
    {
        return Some("is a published default: set a secret of your own".into());
    }
    if value.len() < min_len {
        return Some(format!("must be at least {min_len} bytes"));
    }
    None
}

/// A required secret of at least `min_len` bytes: no default exists, and a
/// placeholder or published value is refused like a missing one.
pub fn secret_var(name: &str, min_len: usize) -> Result<String, ConfigError> {
    let value: String = var(name, String::new())?;
    if value.is_empty() {
        return Err(ConfigError {
            name: name.to_owned(),
            value: String::new(),
            reason: format!("required (a secret of at least {min_len} bytes; it has no default)"),
        });
    }
    match secret_problem(&value, min_len) {
        Some(reason) => Err(ConfigError {
            name: name.to_owned(),
            value,
            reason,
        }),
        None => Ok(value),
    }
}

/// Refuses a service URL whose password is a placeholder, or a published
/// default on a host other than this machine's loopback (where the
/// services' stock local accounts, such as RabbitMQ's `guest`, live).
pub fn check_url_credentials(name: &str, url: &str) -> Result<(), ConfigError> {
    for part in url.split(',') {
        let Some((start, end)) = url_password_span(part) else {
            continue;
        };
        let password = percent_encoding::percent_decode_str(&part[start..end]).decode_utf8_lossy();
        let host = part[end + 1..]
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default();
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        let loopback = matches!(host, "127.0.0.1" | "localhost" | "[::1]");
        let refused = password.to_ascii_uppercase().contains("REPLACE-ME")
            || (!loopback
                && PUBLISHED_DEFAULTS
                    .iter()
                    .any(|known| password.eq_ignore_ascii_case(known)));
        if refused {
            return Err(ConfigError {
                name: name.to_owned(),
                value: url.to_owned(),
                reason: "its password is a placeholder or a published default: set one of your own"
                    .into(),
            });
        }
    }
    Ok(())
}

/// Reads `name`, falling back to `default` when it is unset or empty.
pub fn var<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    parse_var(name, std::env::var(name), default)
}

/// [`var`] on a value already read (tests give it one without touching the
/// process environment, which other threads read).
fn parse_var<T>(
    name: &str,
    read: Result<String, std::env::VarError>,
    default: T,
) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    match read {
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
    check_scheme(name, var(name, default.to_owned())?, schemes)
}

/// A comma-separated list of URLs in `name` (e.g. `AMQP_URLS`), or else the
/// one URL in `single` (e.g. `AMQP_URL`) with its default.
pub fn url_list_var(
    name: &str,
    single: &str,
    default: &str,
    schemes: &[&str],
) -> Result<Vec<String>, ConfigError> {
    let listed: String = var(name, String::new())?;
    let urls: Vec<String> = listed
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| check_scheme(name, url.to_owned(), schemes))
        .collect::<Result<_, _>>()?;
    if urls.is_empty() {
        Ok(vec![url_var(single, default, schemes)?])
    } else {
        Ok(urls)
    }
}

fn check_scheme(name: &str, value: String, schemes: &[&str]) -> Result<String, ConfigError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_values_name_the_variable() {
        // Values handed in, not set_var: other test threads read the
        // environment, and setting it under them is undefined behaviour.
        let err = parse_var::<u16>("DT_TEST_CONFIG_PORT", Ok("eighty".into()), 80).unwrap_err();
        assert!(err.to_string().contains("DT_TEST_CONFIG_PORT"), "{err}");
        let unset = parse_var::<u16>(
            "DT_TEST_CONFIG_PORT",
            Err(std::env::VarError::NotPresent),
            80,
        );
        assert_eq!(unset.ok(), Some(80));
        let err =
            check_scheme("DT_TEST_CONFIG_URL", "localhost:5432".into(), &["postgres"]).unwrap_err();
        assert!(err.to_string().contains("DT_TEST_CONFIG_URL"), "{err}");
    }

    #[test]
    fn errors_never_print_a_secret_or_a_password_in_a_url() {
        let secret = ConfigError {
            name: "JWT_SECRET".into(),
            value: "hunter2-hunter2".into(),
            reason: "too short".into(),
        };
        assert!(!secret.to_string().contains("hunter2"), "{secret}");
        assert!(secret.to_string().contains("JWT_SECRET"), "{secret}");
        let url = ConfigError {
            name: "AMQP_URL".into(),
            value: "amqp://svc:s3cr3t-pw@rabbit:5672/%2f,amqp://svc:other-pw@r2:5672".into(),
            reason: "bad".into(),
        };
        let shown = url.to_string();
        assert!(
            !shown.contains("s3cr3t-pw") && !shown.contains("other-pw"),
            "{shown}"
        );
        assert!(shown.contains("amqp://svc:***@rabbit:5672"), "{shown}");
    }

    #[test]
    fn placeholders_published_defaults_and_short_secrets_are_refused() {
        assert!(secret_problem("REPLACE-ME-with-at-least-32-random-bytes-0000", 32).is_some());
        assert!(secret_problem("a-replace-me-value-that-is-long-enough!!", 32).is_some());
        assert!(secret_problem("bootstrap-admin-password", 10).is_some());
        assert!(secret_problem("short", 32).is_some());
        assert!(secret_problem("a perfectly fine secret of 32+ bytes", 32).is_none());
        assert!(check_url_credentials("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f").is_ok());
        assert!(check_url_credentials(
            "AMQP_URL",
            "amqp://delivertrack:delivertrack@rabbitmq:5672"
        )
        .is_err());
        assert!(check_url_credentials("DATABASE_URL", "postgres://dt:REPLACE-ME@db/dt").is_err());
        assert!(check_url_credentials("DATABASE_URL", "postgres://postgres@db/dt").is_ok());
        let err =
            check_url_credentials("AMQP_URL", "amqp://u:guest@broker.example:5672").unwrap_err();
        assert!(!err.to_string().contains(":guest@"), "{err}");
    }

    #[test]
    fn unset_values_take_the_default() {
        assert_eq!(var::<u16>("DT_TEST_CONFIG_UNSET", 8080).unwrap(), 8080);
    }
}
