//! On a Redis Cluster, a primary killed with SIGKILL: reads keep answering
//! (from PostgreSQL while the replica is promoted), rate limits keep
//! holding, and a signed-out session is refused within 5 s.
//!
//! The primary killed is the one holding the account change log (the keys
//! tagged `{<prefix>accounts}`), and the rate-limit counter and cached view
//! the test uses are chosen to live on it too, so each promise is kept for
//! keys that are out of reach, not only for the others.

use redis::aio::MultiplexedConnection;
use shared::auth::Role;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use testkit::app::{Options, TestApp};
use testkit::services::{self, Service};
use testkit::TestEnv;

/// The per-caller limit of the second ingest (requests a minute).
const LIMIT: u32 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "kills a node of the test scripts' Redis Cluster: run alone (scripts/test.sh does)"]
async fn on_a_redis_cluster_losing_a_primary_keeps_reads_limits_and_revocations() {
    let nodes = tokio::task::spawn_blocking(services::redis_cluster)
        .await
        .expect("the Redis Cluster");
    let env = TestEnv::with_config(4, |config| config.redis_cluster_urls = nodes.clone()).await;
    let prefix = env.config.redis_prefix.clone();
    let mut app = TestApp::spawn_with(Options::on(env)).await;
    let limited = app
        .another_ingest(|config| config.rate_limits.per_caller = LIMIT)
        .await;
    let mut redis = node(&nodes[0]).await;
    let victim = primary_of(&mut redis, &format!("{{{prefix}accounts}}:version")).await;
    let tn = package_on(&app, &mut redis, &prefix, victim).await;
    // The counter is chosen for this minute's window, which must then last
    // until the limit is checked.
    wait_for_time_in_the_minute().await;
    let counted = caller_on(&app, &mut redis, &prefix, victim).await;
    let signing_out = app.env.token(&app.env.account(Role::Admin).await);
    for base in [&app.base, &limited] {
        assert_eq!(
            testkit::app::status_as(base, &signing_out, "/stats").await,
            200
        );
    }

    let outage = tokio::task::spawn_blocking(move || services::stop(Service::RedisNode(victim)))
        .await
        .expect("the kill");
    // Reads answer, from PostgreSQL, while the replica takes over.
    for _ in 0..10 {
        let read = app.get(&format!("/packages/{tn}")).await;
        assert_eq!(read.status(), 200, "a read while the primary is down");
    }
    // The limit holds: the counter's node is gone, the instance counts.
    let answers = futures_util::future::join_all(
        (0..LIMIT + 5).map(|_| testkit::app::status_as(&limited, &counted, "/packages?limit=1")),
    )
    .await;
    let allowed = answers.iter().filter(|s| **s == 200).count();
    let refused = answers.iter().filter(|s| **s == 429).count();
    assert_eq!((allowed, refused), (LIMIT as usize, 5), "{answers:?}");
    // A session ended now is refused everywhere within 5 s.
    let out = testkit::app::client_with_token(&signing_out)
        .post(app.url("/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    for base in [&app.base, &limited] {
        refused_within_5s(base, &signing_out).await;
    }
    tokio::task::spawn_blocking(move || outage.restore())
        .await
        .expect("the node back");
    app.shutdown().await;
}

async fn node(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("a cluster node")
}

/// The port of the primary serving `key`'s slot.
async fn primary_of(redis: &mut MultiplexedConnection, key: &str) -> u16 {
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(redis)
        .await
        .unwrap();
    // Each entry: [first slot, last slot, [host, port, id], replicas...].
    let slots: Vec<redis::Value> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(redis)
        .await
        .unwrap();
    for range in slots {
        let redis::Value::Array(parts) = range else {
            continue;
        };
        let (Some(redis::Value::Int(first)), Some(redis::Value::Int(last))) =
            (parts.first(), parts.get(1))
        else {
            continue;
        };
        if (*first..=*last).contains(&slot) {
            if let Some(redis::Value::Array(primary)) = parts.get(2) {
                if let Some(redis::Value::Int(port)) = primary.get(1) {
                    return u16::try_from(*port).unwrap();
                }
            }
        }
    }
    panic!("no primary serves slot {slot}");
}

/// A package whose cached view lives on the primary at `port`, read once
/// (so it is cached).
async fn package_on(
    app: &TestApp,
    redis: &mut MultiplexedConnection,
    prefix: &str,
    port: u16,
) -> String {
    for _ in 0..60 {
        let tn = testkit::app::tracking_number();
        if primary_of(redis, &format!("{prefix}view:package:{tn}")).await == port {
            app.created(&tn).await;
            assert_eq!(app.get(&format!("/packages/{tn}")).await.status(), 200);
            return tn;
        }
    }
    panic!("no tracking number hashed to the node on {port}");
}

/// The token of an account whose rate-limit counter for this minute lives
/// on the primary at `port`. (Not "this minute and the next": CRC16 is
/// linear, so the slots of two keys that differ only in the window's last
/// digit differ by a fixed XOR, and for some minutes no key has both on one
/// node.)
async fn caller_on(
    app: &TestApp,
    redis: &mut MultiplexedConnection,
    prefix: &str,
    port: u16,
) -> String {
    let window = minute();
    for _ in 0..500 {
        let caller = app.env.account(Role::Dispatcher).await;
        let key = format!("{prefix}rl:caller:{}:{window}", caller.user_id);
        if primary_of(redis, &key).await == port {
            return app.env.token(&caller);
        }
    }
    panic!("no account's counter hashed to the node on {port}");
}

fn minute() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 60
}

/// Until at least 30 s of the current minute are left: the limit's window
/// must not turn over before it is checked (choosing the account, killing
/// the node and counting take a few seconds).
async fn wait_for_time_in_the_minute() {
    let into = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if into > 30 {
        tokio::time::sleep(Duration::from_secs(61 - into)).await;
    }
}

async fn refused_within_5s(base: &str, token: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let got = testkit::app::status_as(base, token, "/stats").await;
        if got == 401 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{base}: still {got} 5 s after signing out"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
