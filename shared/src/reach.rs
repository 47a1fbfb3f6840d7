//! Start-up's first question: does every store answer?
//!
//! A service whose store does not answer when it starts says which one in
//! one line and exits non-zero once `STARTUP_WAIT_S` has passed (an
//! orchestrator restarts it, and its log says why), instead of waiting
//! silently or running with nothing working. Stores that come up a moment
//! after the service are waited for, within that time. Once running, a
//! service waits out outages as each module documents (reads from
//! PostgreSQL while Redis is gone, 503 with `Retry-After` while the broker
//! is): only the start is checked here.

use crate::config::{CommonConfig, ConfigError};
use crate::redis_link::RedisTarget;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Between two attempts at one store.
const PAUSE: Duration = Duration::from_millis(250);

/// A store that did not answer within the wait: what an operator reads.
#[derive(Debug, thiserror::Error)]
#[error("{store} at {url} did not answer within {waited:?}: {cause} (STARTUP_WAIT_S is how long a service waits for its stores at start)")]
pub struct Unreachable {
    pub store: &'static str,
    /// Its URL, password masked.
    pub url: String,
    pub waited: Duration,
    /// The last attempt's failure.
    pub cause: String,
}

/// `STARTUP_WAIT_S`: how long a service waits for its stores at start
/// (default 30 s; 0 starts without asking them).
pub fn wait_from_env() -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(crate::env::var("STARTUP_WAIT_S", 30)?))
}

/// Waits, at most `within`, until PostgreSQL, MongoDB, Redis (one node of a
/// cluster is enough) and RabbitMQ (one node) each answer; the first that
/// does not is the error. All four are asked at once.
pub async fn every_store(config: &CommonConfig, within: Duration) -> Result<(), Unreachable> {
    if within.is_zero() {
        return Ok(());
    }
    // A wait too long for the clock to add is a wait of a year.
    let deadline = Instant::now()
        .checked_add(within)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 24 * 3600));
    let redis_urls = match config.redis_target() {
        RedisTarget::Single(url) => vec![url],
        RedisTarget::Cluster(urls) => urls,
    };
    let postgres = until_answered("PostgreSQL", &config.database_url, deadline, || {
        postgres(&config.database_url)
    });
    let mongodb = until_answered("MongoDB", &config.mongodb_url, deadline, || {
        mongodb(&config.mongodb_url)
    });
    let redis_named = redis_urls.join(",");
    let redis = until_answered("Redis", &redis_named, deadline, || redis(&redis_urls));
    let broker_urls = config.brokers.urls().join(",");
    let rabbitmq = until_answered("RabbitMQ", &broker_urls, deadline, || {
        rabbitmq(&config.brokers)
    });
    tokio::try_join!(postgres, mongodb, redis, rabbitmq).map(|_| ())
}

/// Asks `attempt` until it answers or `deadline` passes, each attempt
/// bounded by the time left.
async fn until_answered<F, Fut>(
    store: &'static str,
    url: &str,
    deadline: Instant,
    attempt: F,
) -> Result<(), Unreachable>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    let mut cause = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, attempt()).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(failure)) => cause = Some(failure),
            // An attempt cut short by the deadline says less than the one before.
            Err(_) => {
                cause.get_or_insert_with(|| "no answer".to_owned());
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Unreachable {
                store,
                url: redacted(url),
                waited: started.elapsed(),
                cause: cause.unwrap_or_default(),
            });
        }
        tokio::time::sleep(PAUSE.min(left)).await;
    }
}

/// `url` (each of a comma-separated list) as scheme and host only: no user,
/// password or query, whatever characters a password holds (a password with
/// an unencoded `/` defeats finding where the authority ends).
fn redacted(urls: &str) -> String {
    urls.split(',')
        .map(|url| {
            let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
            // After the last `@` first: a password may hold `?` or `#`.
            let (user, host) = match rest.rsplit_once('@') {
                Some((_, host)) => ("***@", host),
                None => ("", rest),
            };
            let host = host.split(['?', '#']).next().unwrap_or_default();
            format!("{scheme}://{user}{host}")
        })
        .collect::<Vec<_>>()
        .join(",")
}

async fn postgres(url: &str) -> Result<(), String> {
    use sqlx::Connection;
    let connection = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    let _ = connection.close().await;
    Ok(())
}

/// Server selection bounded like one attempt, so that the failure said is
/// the driver's (connection refused, ...) rather than a bare timeout.
async fn mongodb(url: &str) -> Result<(), String> {
    let mut options = mongodb::options::ClientOptions::parse(url)
        .await
        .map_err(|e| e.to_string())?;
    options.server_selection_timeout = Some(Duration::from_secs(2));
    options.connect_timeout = Some(Duration::from_secs(2));
    let client = mongodb::Client::with_options(options).map_err(|e| e.to_string())?;
    client
        .database("admin")
        .run_command(mongodb::bson::doc! {"ping": 1})
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// One node answering `PING` is enough: a cluster's client finds the rest.
async fn redis(urls: &[String]) -> Result<(), String> {
    let mut cause = String::from("no node listed");
    for url in urls {
        let pinged = async {
            let client = redis::Client::open(url.as_str())?;
            let mut connection = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
        };
        match pinged.await {
            Ok(_) => return Ok(()),
            Err(error) => cause = error.to_string(),
        }
    }
    Err(cause)
}

async fn rabbitmq(brokers: &crate::brokers::Brokers) -> Result<(), String> {
    let connection = brokers
        .connect("delivertrack-start-up-check")
        .await
        .map_err(|e| e.to_string())?;
    let _ = connection.close(200, "start-up check".into()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn a_url_said_in_an_error_keeps_no_credential_whatever_the_password_holds() {
        assert_eq!(
            redacted("postgres://app:s3/cr?t#x@db.internal:5432/dt?password=other"),
            "postgres://***@db.internal:5432/dt"
        );
        assert_eq!(
            redacted("redis://:pw@r1:6379,redis://r2:6379"),
            "redis://***@r1:6379,redis://r2:6379"
        );
        assert_eq!(
            redacted("mongodb://127.0.0.1:27017"),
            "mongodb://127.0.0.1:27017"
        );
    }
}
