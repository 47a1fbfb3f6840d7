//! The fault suite on a three-node RabbitMQ cluster (and a Redis Cluster):
//! the node the workers consume from is killed with SIGKILL, then the node
//! ingest publishes to (the quorum queues' leaders are among them). Besides
//! the suite's checks (nothing answered 2xx lost, nothing stored twice,
//! every watcher's events in order), writes must be answered 2xx again
//! within 10 s of each kill, while the node is still down.
//!
//! The clusters are the test scripts' (`scripts/services.sh`), started
//! here if they are not running.

use super::inject::{Fault, Holder};
use super::run_faults;
use shared::brokers::Brokers;
use testkit::services;
use testkit::TestEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "kills nodes of the test scripts' clusters: run alone (scripts/test.sh does)"]
async fn on_a_broker_cluster_losing_a_node_loses_and_duplicates_nothing() {
    let (rabbit, redis) =
        tokio::task::spawn_blocking(|| (services::rabbit_cluster(), services::redis_cluster()))
            .await
            .expect("the clusters");
    let env = TestEnv::with_config(16, |config| {
        config.brokers = Brokers::new(rabbit);
        config.redis_cluster_urls = redis;
    })
    .await;
    let replicated = tokio::task::spawn_blocking({
        let prefix = env.topology().prefix().to_owned();
        move || services::quorum_members(&prefix)
    })
    .await
    .expect("the queues' members");
    assert!(
        !replicated.is_empty() && replicated.values().all(|members| *members == 3),
        "every quorum queue has a member on each of the three nodes: {replicated:?}"
    );
    run_faults(
        &env,
        [
            Fault::KillBrokerNode(Holder::Workers),
            Fault::KillBrokerNode(Holder::Ingest),
        ],
    )
    .await;
}
