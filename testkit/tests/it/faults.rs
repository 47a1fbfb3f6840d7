//! The fault suite: real processes (workers, ingest, broadcaster binaries),
//! real services, and one fault at a time while a steady load of uniquely
//! identified writes goes on:
//!
//! 1. a worker process is killed with SIGKILL and restarted;
//! 2. RabbitMQ is stopped and started;
//! 3. PostgreSQL is restarted;
//! 4. the MongoDB-protocol server is stopped for several seconds;
//! 5. Redis is stopped and started;
//! 6. ingest gets SIGTERM mid-stream and is started again.
//!
//! After each, once the queues drain: every write answered 2xx is stored
//! exactly once, every other write once or not at all, no history row twice,
//! every WebSocket subscriber has every event of its package in seq order,
//! and no cached view is older than its row. A table of the figures is
//! printed; any loss or duplicate fails the suite.
//!
//! It stops the machine's shared services, so it runs alone, after the other
//! tests (`scripts/test.sh` does). Alone:
//! `cargo build --bins && cargo test -p testkit --test it -- --ignored fault_suite --nocapture`

use mongodb::bson::{doc, Document};
use serde_json::{json, Value};
use shared::auth::Role;
use shared::cache::ViewCache;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::metrics::free_port;
use testkit::services::{self, Outage, Process, Service};
use testkit::ws::{self, Client};
use testkit::TestEnv;
use tokio_util::sync::CancellationToken;

const DEVICES: usize = 8;
/// Pause between one device's writes.
const PACE: Duration = Duration::from_millis(120);
/// How long a client keeps retrying one write before giving up on it.
const RETRY_FOR: Duration = Duration::from_secs(60);
/// How long the system gets to apply everything after the load stops.
const SETTLE: Duration = Duration::from_secs(90);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Create,
    Status,
    Point,
}

/// One write the load driver made, and how it was answered in the end.
#[derive(Debug, Clone)]
struct Write {
    kind: Kind,
    /// What identifies it in the stores: the status event's location, or
    /// the point's address.
    mark: String,
    acked: bool,
    /// When the client first sent it, and when it stopped trying.
    sent: Instant,
    settled: Instant,
}

impl Write {
    /// Whether the client was trying to get it accepted while the fault
    /// was in place.
    fn overlaps(&self, window: &(Instant, Instant)) -> bool {
        self.sent <= window.1 && self.settled >= window.0
    }
}

/// How a write ended, after retries.
enum Answer {
    Accepted,
    /// A client error other than a timeout: the load is well-formed, so
    /// this is a regression (a 409, a 400, a 401...) and fails the suite.
    Refused(String),
    /// No 2xx within `RETRY_FOR`.
    GaveUp,
}

/// The system under test: our three binaries on fixed ports.
struct System {
    env: Vec<(String, String)>,
    ingest_port: u16,
    workers: Option<Process>,
    ingest: Option<Process>,
    broadcaster: Process,
    ws_url: String,
}

impl System {
    fn start(env: &TestEnv) -> Self {
        let mut vars = env.service_env();
        vars.extend(
            [
                ("OUTCOME_TIMEOUT_MS", "3000".to_owned()),
                ("AMQP_CONFIRM_TIMEOUT_MS", "3000".to_owned()),
                ("RUST_LOG", "error".to_owned()),
                ("BROADCASTER_LISTEN", "127.0.0.1:0".to_owned()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        let ingest_port = free_port();
        vars.push(("INGEST_LISTEN".into(), format!("127.0.0.1:{ingest_port}")));
        let workers = Process::start("workers", &vars, false);
        let ingest = Process::start("ingest", &vars, true);
        let broadcaster = Process::start("broadcaster", &vars, true);
        let ws_url = broadcaster
            .first_line
            .as_deref()
            .and_then(|line| line.rsplit(' ').next())
            .map(|url| url.to_owned())
            .expect("the broadcaster's URL");
        Self {
            env: vars,
            ingest_port,
            workers: Some(workers),
            ingest: Some(ingest),
            broadcaster,
            ws_url,
        }
    }

    fn api(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1", self.ingest_port)
    }

    fn restart_workers(&mut self) {
        self.workers = Some(Process::start("workers", &self.env, false));
    }

    fn restart_ingest(&mut self) {
        self.ingest = Some(Process::start("ingest", &self.env, true));
    }
}

/// A fault, injected and later repaired.
enum Fault {
    KillWorker,
    Stop(Service),
    TerminateIngest,
}

impl Fault {
    fn name(&self) -> &'static str {
        match self {
            Self::KillWorker => "worker SIGKILL + restart",
            Self::Stop(Service::RabbitMq) => "RabbitMQ stop/start",
            Self::Stop(Service::Postgres) => "PostgreSQL restart",
            Self::Stop(Service::Mongo(_)) => "MongoDB server stop/start",
            Self::Stop(Service::Redis) => "Redis stop/start",
            Self::TerminateIngest => "ingest SIGTERM + restart",
        }
    }

    /// How long the fault lasts.
    fn duration(&self) -> Duration {
        match self {
            Self::Stop(Service::Mongo(_)) => Duration::from_secs(6),
            _ => Duration::from_secs(3),
        }
    }
}

/// What is broken right now, to repair.
enum Broken {
    Service(Outage),
    Workers,
    Ingest,
}

async fn inject(system: &mut System, fault: &Fault) -> Broken {
    match fault {
        Fault::KillWorker => {
            if let Some(workers) = system.workers.take() {
                workers.kill();
            }
            Broken::Workers
        }
        Fault::Stop(service) => {
            let service = *service;
            Broken::Service(
                tokio::task::spawn_blocking(move || services::stop(service))
                    .await
                    .unwrap(),
            )
        }
        Fault::TerminateIngest => {
            if let Some(ingest) = system.ingest.take() {
                let code = tokio::task::spawn_blocking(move || ingest.terminate())
                    .await
                    .unwrap();
                assert_eq!(code, Some(0), "ingest exits cleanly on SIGTERM");
            }
            Broken::Ingest
        }
    }
}

async fn repair(system: &mut System, broken: Broken) {
    match broken {
        Broken::Service(outage) => tokio::task::spawn_blocking(move || outage.restore())
            .await
            .unwrap(),
        Broken::Workers => system.restart_workers(),
        Broken::Ingest => system.restart_ingest(),
    }
}

/// The load: devices that create a package, then post points and status
/// checkpoints, retrying each write (same identity) like a real client.
struct Load {
    http: reqwest::Client,
    api: String,
    writes: Mutex<Vec<Write>>,
    /// Writes answered with an unexpected client error.
    refused: Mutex<Vec<String>>,
}

impl Load {
    fn record(&self, kind: Kind, mark: String, sent: Instant, answer: &Answer) {
        if let Answer::Refused(why) = answer {
            self.refused
                .lock()
                .expect("the refusals")
                .push(format!("{mark}: {why}"));
        }
        self.writes.lock().expect("the writes").push(Write {
            kind,
            mark,
            acked: matches!(answer, Answer::Accepted),
            sent,
            settled: Instant::now(),
        });
    }

    /// Sends until a 2xx, a client error other than 408, or `RETRY_FOR`.
    async fn attempt(&self, request: impl Fn() -> reqwest::RequestBuilder) -> Answer {
        let deadline = Instant::now() + RETRY_FOR;
        loop {
            match request().timeout(Duration::from_secs(10)).send().await {
                Ok(response) if response.status().is_success() => return Answer::Accepted,
                Ok(response) if response.status().is_client_error() && response.status() != 408 => {
                    let status = response.status();
                    let body = response.text().await.unwrap_or_default();
                    return Answer::Refused(format!("{status} {body}"));
                }
                _ => {}
            }
            if Instant::now() > deadline {
                return Answer::GaveUp;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn device(
        self: Arc<Self>,
        tracking_number: String,
        created: tokio::sync::oneshot::Sender<()>,
        stop: CancellationToken,
    ) {
        let api = &self.api;
        let body = json!({"tracking_number": tracking_number, "sender_name": "Fault", "sender_address": "1 Main St",
            "recipient_name": "Suite", "recipient_address": "2 High St"});
        let sent = Instant::now();
        let answer = self
            .attempt(|| {
                self.http
                    .post(format!("{api}/packages"))
                    .header("idempotency-key", &tracking_number)
                    .json(&body)
            })
            .await;
        self.record(Kind::Create, tracking_number.clone(), sent, &answer);
        if !matches!(answer, Answer::Accepted) {
            return;
        }
        // Odd devices have no watcher: nobody listens, and that is fine.
        let _ = created.send(());
        let mut step = 0;
        while !stop.is_cancelled() {
            step += 1;
            match step % 3 {
                0 => {
                    let mark = format!("{tracking_number}-s{step}");
                    let update = json!({"status": "in_transit", "location": mark});
                    let sent = Instant::now();
                    let answer = self
                        .attempt(|| {
                            self.http
                                .put(format!("{api}/packages/{tracking_number}/status"))
                                .header("idempotency-key", &mark)
                                .json(&update)
                        })
                        .await;
                    self.record(Kind::Status, mark, sent, &answer);
                }
                1 => {
                    let mark = format!("{tracking_number}-p{step}");
                    let point = json!({"id": mark, "address": mark, "latitude": 40.0 + step as f64 / 1000.0, "longitude": -74.0});
                    let sent = Instant::now();
                    let answer = self
                        .attempt(|| {
                            self.http
                                .post(format!("{api}/packages/{tracking_number}/locations"))
                                .json(&point)
                        })
                        .await;
                    self.record(Kind::Point, mark, sent, &answer);
                }
                _ => {
                    let marks: Vec<String> = (0..3)
                        .map(|j| format!("{tracking_number}-b{step}-{j}"))
                        .collect();
                    let batch: Vec<Value> = marks
                        .iter()
                        .map(|mark| json!({"tracking_number": tracking_number, "id": mark, "address": mark, "latitude": 41.0, "longitude": -73.0}))
                        .collect();
                    let sent = Instant::now();
                    let answer = self
                        .attempt(|| {
                            self.http
                                .post(format!("{api}/locations"))
                                .header("idempotency-key", &marks[0])
                                .json(&batch)
                        })
                        .await;
                    for mark in marks {
                        self.record(Kind::Point, mark, sent, &answer);
                    }
                }
            }
            // Apps read the package meanwhile: cached views are filled
            // while workers invalidate them, and must never go backwards.
            let _ = self
                .http
                .get(format!("{api}/packages/{tracking_number}"))
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            tokio::time::sleep(PACE).await;
        }
    }
}

/// A WebSocket client watching one package from its first event,
/// reconnecting with `since_seq` when the connection drops.
async fn watch(
    url: ws::Endpoint,
    tracking_number: String,
    seen: Arc<Mutex<Vec<i64>>>,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        let last = seen
            .lock()
            .map(|s| s.last().copied().unwrap_or(0))
            .unwrap_or(0);
        let Ok((mut client, _)) = tokio_tungstenite::connect_async(url.request()).await else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        ws::send(
            &mut client,
            json!({"type": "subscribe", "tracking_number": tracking_number, "since_seq": last}),
        )
        .await;
        read_updates(&mut client, &seen, &stop).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn read_updates(client: &mut Client, seen: &Mutex<Vec<i64>>, stop: &CancellationToken) {
    loop {
        let message = tokio::select! {
            _ = stop.cancelled() => return,
            heard = ws::next_heard(client, Duration::from_secs(30)) => heard,
        };
        // A close or a broken link (the broadcaster lost its broker): reconnect.
        let ws::Heard::Json(message) = message else {
            return;
        };
        match message["type"].as_str() {
            Some("package_update") => {
                if let (Some(seq), Ok(mut seen)) = (message["seq"].as_i64(), seen.lock()) {
                    seen.push(seq);
                }
            }
            Some("error") => return, // e.g. the event stream is down: reconnect
            Some("gap") => {
                if let Ok(mut seen) = seen.lock() {
                    seen.push(-1); // a skipped event: a failure for this suite
                }
            }
            _ => {}
        }
    }
}

/// Below these a scenario proves nothing: every device's package is
/// created, the load goes on around the fault, and writes the clients kept
/// sending through the fault are accepted in the end.
const MIN_ACCEPTED: usize = DEVICES * 5;
const MIN_ACCEPTED_THROUGH_FAULT: usize = DEVICES;
/// Events each watched package must have had (its creation, then moves).
const MIN_WATCHED_EVENTS: i64 = 3;

/// One row of the printed table.
struct Row {
    scenario: &'static str,
    created: usize,
    accepted: usize,
    /// Accepted writes the client was sending while the fault was in place.
    accepted_through_fault: usize,
    stored: usize,
    refused: Vec<String>,
    lost: usize,
    duplicated: usize,
    not_accepted: usize,
    subscribers_ok: String,
    stale_views: usize,
    drained_in: Duration,
}

async fn counts(
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
fn tally(
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

async fn run_scenario(env: &TestEnv, system: &mut System, index: usize, fault: Fault) -> Row {
    let prefix = format!("F{index}{}", &env.id[3..9].to_uppercase());
    let token = env.token(&env.account(Role::Admin).await);
    let load = Arc::new(Load {
        http: testkit::app::client_with_token(&token),
        api: system.api(),
        writes: Mutex::new(Vec::new()),
        refused: Mutex::new(Vec::new()),
    });
    let stop_load = CancellationToken::new();
    let stop_watching = CancellationToken::new();
    let mut devices = Vec::new();
    let mut watchers = Vec::new();
    for device in 0..DEVICES {
        let tracking_number = format!("{prefix}D{device:02}");
        let (created, was_created) = tokio::sync::oneshot::channel();
        devices.push(tokio::spawn(Arc::clone(&load).device(
            tracking_number.clone(),
            created,
            stop_load.clone(),
        )));
        // Half the packages have a watcher from their creation on.
        if device % 2 == 0 {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let url = ws::Endpoint::new(&system.ws_url, &token);
            let stop = stop_watching.clone();
            let watcher_seen = Arc::clone(&seen);
            let tn = tracking_number.clone();
            watchers.push((
                tracking_number,
                seen,
                tokio::spawn(async move {
                    if was_created.await.is_ok() {
                        watch(url, tn, watcher_seen, stop).await;
                    }
                }),
            ));
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let injected = Instant::now();
    let broken = inject(system, &fault).await;
    tokio::time::sleep(fault.duration()).await;
    repair(system, broken).await;
    let restored = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_load.cancel();
    for device in devices {
        device.await.expect("a device's load task");
    }

    let writes = load.writes.lock().expect("the writes").clone();
    let window = (injected, restored);
    // Let the system apply everything it accepted (and the watchers catch up).
    let deadline = Instant::now() + SETTLE;
    let (statuses, points, packages) = loop {
        let (statuses, points, packages) = counts(env, &prefix).await;
        let (_, lost, _) = tally(&writes, &statuses, &points, &packages);
        let heads = heads(env, &prefix).await;
        let watchers_done = watchers.iter().all(|(tn, seen, _)| {
            let head = heads.get(tn).copied().unwrap_or(0);
            seen.lock()
                .map(|s| s.last().copied().unwrap_or(0) >= head)
                .unwrap_or(false)
        });
        if (lost == 0 && watchers_done) || Instant::now() > deadline {
            break (statuses, points, packages);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let drained_in = restored.elapsed();
    drop((statuses, points, packages));
    // Nothing may be in flight when counting: a duplicate applied later
    // would be missed.
    settle_queues(env, system).await;
    let (statuses, points, packages) = counts(env, &prefix).await;
    stop_watching.cancel();
    let heads = heads(env, &prefix).await;
    let mut subscribers_failed = Vec::new();
    for (tn, seen, task) in watchers {
        task.await.expect("a watcher task");
        let seen = seen.lock().expect("a watcher's events").clone();
        let head = heads.get(&tn).copied().unwrap_or(0);
        if head < MIN_WATCHED_EVENTS || seen != (1..=head).collect::<Vec<_>>() {
            subscribers_failed.push(format!(
                "{tn}: head {head}, got {} events, first wrong at {:?}",
                seen.len(),
                seen.iter()
                    .enumerate()
                    .find(|(i, s)| **s != *i as i64 + 1)
                    .map(|(i, s)| (i, *s))
            ));
        }
    }
    let (stored, lost, mut duplicated) = tally(&writes, &statuses, &points, &packages);
    // Status events and points are keyed by unique ids, so a write applied
    // twice cannot show as a second row; it would take a second number.
    duplicated += numbered_twice(&writes, &statuses, &points, &heads);
    let stale_views = stale_views(env, &heads).await;
    if !subscribers_failed.is_empty() {
        eprintln!(
            "{}: subscribers that missed events: {subscribers_failed:#?}",
            fault.name()
        );
    }
    let refused = load.refused.lock().expect("the refusals").clone();
    Row {
        scenario: fault.name(),
        created: writes
            .iter()
            .filter(|w| w.kind == Kind::Create && w.acked)
            .count(),
        accepted: writes.iter().filter(|w| w.acked).count(),
        accepted_through_fault: writes
            .iter()
            .filter(|w| w.acked && w.overlaps(&window))
            .count(),
        stored,
        refused,
        lost,
        duplicated,
        not_accepted: writes.iter().filter(|w| !w.acked).count(),
        subscribers_ok: if subscribers_failed.is_empty() {
            "all".to_owned()
        } else {
            format!("{} missed", subscribers_failed.len())
        },
        stale_views,
        drained_in,
    }
}

impl Row {
    /// What is wrong with this scenario; empty when it passed.
    fn failures(&self) -> Vec<String> {
        let mut failures: Vec<String> = self
            .refused
            .iter()
            .map(|r| format!("write refused: {r}"))
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
fn numbered_twice(
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
async fn settle_queues(env: &TestEnv, system: &mut System) {
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
    let connection = shared::amqp::connect(&env.config.amqp_url, "fault-suite-settle")
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
async fn heads(env: &TestEnv, prefix: &str) -> HashMap<String, i64> {
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
async fn stale_views(env: &TestEnv, heads: &HashMap<String, i64>) -> usize {
    let cache = ViewCache::new(&env.config.redis_url, &env.config.redis_prefix)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stops and starts the shared services: run alone (scripts/test.sh does)"]
async fn fault_suite_loses_and_duplicates_nothing() {
    let env = TestEnv::new().await;
    let mongo_port = env
        .config
        .mongodb_url
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or(27017);
    let mut system = System::start(&env);
    let faults = [
        Fault::KillWorker,
        Fault::Stop(Service::RabbitMq),
        Fault::Stop(Service::Postgres),
        Fault::Stop(Service::Mongo(mongo_port)),
        Fault::Stop(Service::Redis),
        Fault::TerminateIngest,
    ];
    let mut rows = Vec::new();
    for (index, fault) in faults.into_iter().enumerate() {
        rows.push(run_scenario(&env, &mut system, index, fault).await);
    }
    let mut table = String::from(
        "\n| scenario | accepted (2xx) | of them sent during the fault | stored | lost | duplicated | not accepted | subscribers in order | stale views | drained after repair |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in &rows {
        table += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} s |\n",
            row.scenario,
            row.accepted,
            row.accepted_through_fault,
            row.stored,
            row.lost,
            row.duplicated,
            row.not_accepted,
            row.subscribers_ok,
            row.stale_views,
            row.drained_in.as_secs_f64()
        );
    }
    println!("{table}");
    let failures: BTreeMap<&str, Vec<String>> = rows
        .iter()
        .map(|r| (r.scenario, r.failures()))
        .filter(|(_, failures)| !failures.is_empty())
        .collect();
    assert!(failures.is_empty(), "the fault suite failed: {failures:#?}");
    drop(system.broadcaster);
}
