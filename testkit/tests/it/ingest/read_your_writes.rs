//! What ingest remembers of a requester's writes, in Redis, so that every
//! ingest sends that requester's reads to the primary until the replica
//! has them (shared/src/replica.rs).

use shared::cache::ViewCache;
use shared::replica::{needed_by, remember_write, Remembered};
use std::time::Duration;
use testkit::TestEnv;

const TTL: Duration = Duration::from_secs(3);

#[tokio::test]
async fn a_write_of_unknown_position_does_not_shorten_a_known_one() {
    let env = TestEnv::new().await;
    let cache = ViewCache::new(&env.config.redis_target(), &env.config.redis_prefix).unwrap();
    let remembered = Remembered::with_ttl(TTL);
    let requester = uuid::Uuid::new_v4().to_string();
    let (short, long) = (Remembered::with_ttl(TTL / 3), remembered);

    // A 202 (position unknown), then a 200 at a known position.
    remember_write(&cache, &requester, None, short)
        .await
        .unwrap();
    remember_write(&cache, &requester, Some(500), long)
        .await
        .unwrap();
    assert_eq!(needed_by(&cache, &requester).await.unwrap(), u64::MAX);
    // Once the unknown one has lapsed, the known one still holds...
    tokio::time::sleep(TTL / 2).await;
    assert_eq!(needed_by(&cache, &requester).await.unwrap(), 500);
    // ...an older position does not lower it...
    remember_write(&cache, &requester, Some(200), short)
        .await
        .unwrap();
    assert_eq!(needed_by(&cache, &requester).await.unwrap(), 500);
    // ...and a shorter lifetime does not cut it short.
    tokio::time::sleep(TTL / 2 - TTL / 6).await;
    assert_eq!(needed_by(&cache, &requester).await.unwrap(), 500);
    tokio::time::sleep(TTL).await;
    assert_eq!(needed_by(&cache, &requester).await.unwrap(), 0);
}
