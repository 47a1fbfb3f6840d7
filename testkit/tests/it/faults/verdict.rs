//! What a scenario came to: the stores counted against what the load was
//! answered, the subscribers' sequences, the cached views; and the table.

use super::load::{Kind, Write};
use super::{System, DEVICES, SETTLE};
use mongodb::bson::{doc, Document};
use serde_json::Value;
use shared::cache::ViewCache;
use std::collections::HashMap;
use std::time::Duration;
use testkit::TestEnv;

/// Below these a scenario proves nothing: every device's package is
/// created, the load goes on around the fault, and writes the clients kept
/// sending through the fault are accepted in the end.
const MIN_ACCEPTED: usize = DEVICES * 5;
const MIN_ACCEPTED_THROUGH_FAULT: usize = DEVICES;
/// Events each watched package must have had (its creation, then moves).
pub(super) const MIN_WATCHED_EVENTS: i64 = 3;

/// One row of the printed table.
pub(super) struct Row {
    pub(super) scenario: &'static str,
    pub(super) created: usize,
    pub(super) accepted: usize,
    /// Accepted writes the client was sending while the fault was in place.
    pub(super) accepted_through_fault: usize,
    pub(super) stored: usize,
    pub(super) refused: Vec<String>,
    pub(super) lost: usize,
    pub(super) duplicated: usize,
    pub(super) not_accepted: usize,
    pub(super) subscribers_ok: String,
    pub(super) stale_views: usize,
    pub(super) drained_in: Duration,
    /// The longest time in the fault's window without a write answered 2xx.
    pub(super) silence: Duration,
    /// What the fault's own checks found (the scaling's balance).
    pub(super) problems: Vec<String>,
}

pub(super) async fn counts(
    env: &TestEnv,
    prefix: &str,
) -> (HashMap<String, i64>, HashMap<String, i64>, Vec<String>) {
    let statuses: Vec<(Option<String>, i64)> = sqlx::query_as(
        "SELECT se.location, count(*) FROM status_events se JOIN packages p ON p.id = se.package_id \
         WHERE p.tracking_number LIKE $1 GROUP BY se.location",
    )
    .bind(format!("{prefix}%"))
    .fetch_all(&env.pool)
    .await
    .expect("count status events");
    let packages: Vec<String> =
        sqlx::query_scalar("SELECT tracking_number FROM packages WHERE tracking_number LIKE $1")
            .bind(format!("{prefix}%"))
            .fetch_all(&env.pool)
            .await
            .expect("list packages");
    let mut points = HashMap::new();
    let history = env.mongo().await.collection::<Document>("location_history");
    let devices: Vec<String> = (0..DEVICES).map(|d| format!("{prefix}D{d:02}")).collect();
    let filter = doc! { "tracking_number": { "$in": devices } };
    let mut cursor = history
        .find(filter)
        .projection(doc! { "address": 1 })
        .await
        .expect("read the location history");
    {
        use futures_util::StreamExt;
        while let Some(document) = cursor.next().await {
            let document = document.expect("a history document");
            let address = document.get_str("address").expect("a point's address");
            *points.entry(address.to_owned()).or_insert(0) += 1;
        }
    }
    let statuses = statuses
        .into_iter()
        .filter_map(|(l, n)| Some((l?, n)))
        .collect();
    (statuses, points, packages)
}

/// Lost and duplicated writes, given what the stores hold.
pub(super) fn tally(
    writes: &[Write],
    statuses: &HashMap<String, i64>,
    points: &HashMap<String, i64>,
    packages: &[String],
) -> (usize, usize, usize) {
    let (mut stored, mut lost, mut duplicated) = (0, 0, 0);
    for write in writes {
        let copies = match write.kind {
            Kind::Create => packages.iter().filter(|tn| **tn == write.mark).count() as i64,
            Kind::Status => statuses.get(&write.mark).copied().unwrap_or(0),
            Kind::Point => points.get(&write.mark).copied().unwrap_or(0),
        };
        if copies > 1 {
            duplicated += 1;
        }
        if write.acked {
            match copies {
                0 => lost += 1,
                _ => stored += 1,
            }
        }
    }
    (stored, lost, duplicated)
}

impl Row {
    /// What is wrong with this scenario; empty when it passed.
    pub(super) fn failures(&self) -> Vec<String> {
        let mut failures: Vec<String> = self
            .refused
            .iter()
            .map(|r| format!("write refused: {r}"))
            .chain(self.problems.iter().cloned())
            .collect();
        let checks = [
            (self.created == DEVICES, format!("{} of {DEVICES} packages created", self.created)),
            (self.accepted >= MIN_ACCEPTED, format!("only {} writes accepted (at least {MIN_ACCEPTED})", self.accepted)),
            (
                self.accepted_through_fault >= MIN_ACCEPTED_THROUGH_FAULT,
                format!("only {} writes sent during the fault were accepted (at least {MIN_ACCEPTED_THROUGH_FAULT})", self.accepted_through_fault),
            ),
            (self.stored == self.accepted, format!("{} of {} accepted writes stored", self.stored, self.accepted)),
            (self.lost == 0, format!("{} accepted writes lost", self.lost)),
            (self.duplicated == 0, format!("{} writes stored twice", self.duplicated)),
            (self.not_accepted == 0, format!("{} writes never accepted", self.not_accepted)),
            (self.subscribers_ok == "all", format!("subscribers: {}", self.subscribers_ok)),
            (self.stale_views == 0, format!("{} stale cached views", self.stale_views)),
        ];
        failures.extend(checks.into_iter().filter(|(ok, _)| !ok).map(|(_, why)| why));
        failures
    }
}

/// Packages whose event counter is past their creation plus the distinct
/// writes stored for them: each such package had a write applied twice.
pub(super) fn numbered_twice(
    writes: &[Write],
    statuses: &HashMap<String, i64>,
    points: &HashMap<String, i64>,
    heads: &HashMap<String, i64>,
) -> usize {
    let mut stored: HashMap<&str, i64> = HashMap::new();
    let mut marks = std::collections::HashSet::new();
    for write in writes {
        if write.kind == Kind::Create || !marks.insert(write.mark.as_str()) {
            continue;
        }
        let present = match write.kind {
            Kind::Status => statuses.contains_key(&write.mark),
            Kind::Point => points.contains_key(&write.mark),
            Kind::Create => false,
        };
        if present {
            let tn = write.mark.split('-').next().unwrap_or_default();
            *stored.entry(tn).or_insert(0) += 1;
        }
    }
    heads
        .iter()
        .filter(|(tn, head)| **head > 1 + stored.get(tn.as_str()).copied().unwrap_or(0))
        .inspect(|(tn, head)| eprintln!("{tn}: event counter {head}, more than its writes"))
        .count()
}

/// Stops the workers (they finish or hand back what they hold), checks that
/// no queue holds anything, and starts them again; repeats until nothing was
/// left. Afterwards nothing is in flight.
pub(super) async fn settle_queues(env: &TestEnv, system: &mut System) {
    let topology = env.topology();
    let mut queues = vec![topology.locations_queue(), topology.location_retry_queue()];
    queues.extend((0..topology.package_shards()).map(|shard| topology.package_queue(shard)));
    loop {
        let workers = system.workers.take().expect("the workers run");
        let code = tokio::task::spawn_blocking(move || workers.terminate())
            .await
            .expect("the stopping thread");
        assert_eq!(code, Some(0), "workers exit cleanly on SIGTERM");
        let left = ready_in(env, &queues).await;
        system.restart_workers();
        if left == 0 {
            return;
        }
        testkit::eventually(SETTLE, "the queues to drain", || async {
            (ready_in(env, &queues).await == 0).then_some(())
        })
        .await;
    }
}

/// Messages ready in `queues`, over a connection of its own (the test's
/// own did not survive the broker's restart).
async fn ready_in(env: &TestEnv, queues: &[String]) -> u32 {
    let connection = env
        .config
        .brokers
        .connect("fault-suite-settle")
        .await
        .expect("RabbitMQ is back");
    let channel = connection.create_channel().await.expect("a channel");
    let mut ready = 0;
    for queue in queues {
        let declared = channel
            .queue_declare(
                queue.as_str().into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .expect("the queue exists");
        ready += declared.message_count();
    }
    let _ = connection.close(200, "counted".into()).await;
    ready
}

/// Each package's last numbered event.
pub(super) async fn heads(env: &TestEnv, prefix: &str) -> HashMap<String, i64> {
    sqlx::query_as::<_, (String, i64)>(
        "SELECT tracking_number, event_seq FROM packages WHERE tracking_number LIKE $1",
    )
    .bind(format!("{prefix}%"))
    .fetch_all(&env.pool)
    .await
    .expect("read the packages' heads")
    .into_iter()
    .collect()
}

/// Packages whose cached view is older than their row.
pub(super) async fn stale_views(env: &TestEnv, heads: &HashMap<String, i64>) -> usize {
    let cache = ViewCache::new(&env.config.redis_target(), &env.config.redis_prefix)
        .expect("a client for the view cache");
    let mut stale = 0;
    for tn in heads.keys() {
        let version: i64 =
            sqlx::query_scalar("SELECT version FROM packages WHERE tracking_number = $1")
                .bind(tn)
                .fetch_one(&env.pool)
                .await
                .expect("a package's version");
        let cached = cache.get_package(tn).await.expect("read the view cache");
        if let Some(json) = cached {
            let cached: Value = serde_json::from_str(&json).expect("a cached view is JSON");
            let cached_version = cached["version"].as_i64().expect("a cached view's version");
            if cached_version < version {
                stale += 1;
            }
        }
    }
    stale
}

/// The printed table, a row per scenario.
pub(super) fn table(rows: &[Row]) -> String {
    let mut table = String::from(
        "\n| scenario | accepted (2xx) | of them sent during the fault | stored | lost | duplicated | not accepted | subscribers in order | stale views | longest without a 2xx | drained after repair |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        table += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} s | {:.1} s |\n",
            row.scenario,
            row.accepted,
            row.accepted_through_fault,
            row.stored,
            row.lost,
            row.duplicated,
            row.not_accepted,
            row.subscribers_ok,
            row.stale_views,
            row.silence.as_secs_f64(),
            row.drained_in.as_secs_f64()
        );
    }
    table
}
