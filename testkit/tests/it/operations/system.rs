//! The three services as processes, as operators run them, for the tests
//! of what operators watch.

use testkit::app::WAIT;
use testkit::metrics::{free_port, Scrape};
use testkit::services::Process;
use testkit::{eventually, TestEnv};

/// The environment of a binary in this test's system, with `extra` on top.
pub(super) fn env_with(env: &TestEnv, extra: &[(&str, String)]) -> Vec<(String, String)> {
    let mut vars = env.service_env();
    vars.extend(
        [
            ("RATE_LIMIT_IP_PER_MIN", "0".to_owned()),
            ("RATE_LIMIT_CALLER_PER_MIN", "0".to_owned()),
        ]
        .into_iter()
        .chain(extra.iter().cloned())
        .map(|(k, v)| (k.to_owned(), v)),
    );
    vars
}

/// The address a process printed on its first line (`... on http://addr`).
pub(super) fn printed_addr(process: &Process) -> String {
    let line = process.first_line.clone().unwrap_or_default();
    line.rsplit("://")
        .next()
        .unwrap_or_default()
        .trim_end_matches("/ws")
        .to_owned()
}

/// A workers process serving its metrics on a port of its own; returns it
/// once `/health` answers.
pub(super) async fn workers(env: &TestEnv, extra: &[(&str, String)]) -> (Process, String) {
    let port = free_port();
    let mut vars = vec![("METRICS_LISTEN", format!("127.0.0.1:{port}"))];
    vars.extend(extra.iter().cloned());
    let process = Process::start_logged("workers", &env_with(env, &vars), false);
    let base = format!("http://127.0.0.1:{port}");
    let health = format!("{base}/health");
    eventually(WAIT, "the workers' health endpoint", || async {
        let answer = reqwest::get(&health).await.ok()?;
        (answer.status() == 200).then_some(())
    })
    .await;
    (process, format!("{base}/metrics"))
}

/// The three services as processes, with `extra` in their environment:
/// ingest, the broadcaster (both on a free port they print) and a workers
/// process (with its metrics URL).
pub(super) struct System {
    pub(super) ingest: Process,
    pub(super) broadcaster: Process,
    pub(super) workers: Process,
    /// `host:port` of each.
    pub(super) ingest_addr: String,
    pub(super) broadcaster_addr: String,
    /// Each one's `/metrics`, on its own operations listener.
    pub(super) ingest_metrics: String,
    pub(super) broadcaster_metrics: String,
    pub(super) workers_metrics: String,
}

pub(super) async fn system(env: &TestEnv, extra: &[(&str, String)]) -> System {
    let start = |name: &str, listen: &'static str| {
        let ops = format!("127.0.0.1:{}", free_port());
        let vars = [
            extra,
            &[
                (listen, "127.0.0.1:0".to_owned()),
                ("METRICS_LISTEN", ops.clone()),
            ],
        ]
        .concat();
        (
            Process::start_logged(name, &env_with(env, &vars), true),
            format!("http://{ops}/metrics"),
        )
    };
    let (ingest, ingest_metrics) = start("ingest", "INGEST_LISTEN");
    let (broadcaster, broadcaster_metrics) = start("broadcaster", "BROADCASTER_LISTEN");
    let (workers, workers_metrics) = workers(env, extra).await;
    System {
        ingest_addr: printed_addr(&ingest),
        broadcaster_addr: printed_addr(&broadcaster),
        ingest,
        broadcaster,
        workers,
        ingest_metrics,
        broadcaster_metrics,
        workers_metrics,
    }
}

pub(super) fn delta(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.value(name, labels) - before.value(name, labels)
}
