//! Every binary's command line, as an operator meets it: `--help` says
//! what it is and (for the services) lists its environment variables
//! from the README's table; a wrong flag is one line and status 2; the
//! benchmark, and each service at start-up, with a store nothing serves
//! ends within seconds, naming it, instead of waiting.

use std::process::{Command, Output};
use std::time::{Duration, Instant};
use testkit::TestEnv;

const BINARIES: [&str; 5] = ["ingest", "broadcaster", "workers", "dt-bench", "dt-sim"];

fn run(binary: &str, args: &[&str]) -> Output {
    Command::new(testkit::bins::path(binary))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the binary runs")
}

#[test]
fn help_says_what_each_binary_is_and_the_services_list_their_settings() {
    let expected: [(&str, &[&str]); 5] = [
        (
            "ingest",
            &[
                "Usage: ingest",
                "INGEST_LISTEN",
                "JWT_SECRET",
                "DATABASE_URL",
            ],
        ),
        (
            "broadcaster",
            &["Usage: broadcaster", "WS_MAX_CONNECTIONS", "REDIS_URL"],
        ),
        (
            "workers",
            &[
                "Usage: workers",
                "dlq",
                "WORKER_POOLS",
                "WEBHOOK_SECRET_KEY",
            ],
        ),
        (
            "dt-bench",
            &["Usage: dt-bench", "webhooks", "--no-baselines"],
        ),
        ("dt-sim", &["Usage: dt-sim", "--couriers"]),
    ];
    for (binary, needles) in expected {
        let help = run(binary, &["--help"]);
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(help.status.success(), "{binary} --help: {help:?}");
        for needle in needles {
            assert!(
                text.contains(needle),
                "{binary} --help lacks {needle}:\n{text}"
            );
        }
    }
    // Broadcaster settings are not the API's, and the other way round.
    let ingest = String::from_utf8_lossy(&run("ingest", &["--help"]).stdout).into_owned();
    assert!(!ingest.contains("WS_MAX_CONNECTIONS"));
    let dlq = run("workers", &["dlq", "--help"]);
    assert!(String::from_utf8_lossy(&dlq.stdout).contains("redrive"));
}

#[test]
fn a_wrong_argument_is_one_line_and_status_2_never_a_backtrace() {
    for binary in BINARIES {
        let refused = run(binary, &["--no-such-flag"]);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "{binary}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{binary}: {stderr}");
        assert!(
            stderr.starts_with(&format!("{binary}: unexpected argument '--no-such-flag'")),
            "{binary}: {stderr}"
        );
    }
    let missing = run("workers", &["dlq", "redrive"]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("<id>"), "{stderr}");
}

/// For each store, its variable pointing at a port nothing listens on.
fn stores_nothing_serves() -> [(&'static str, String, &'static str); 4] {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    [
        (
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{closed}/x"),
            "PostgreSQL",
        ),
        (
            "MONGODB_URL",
            format!("mongodb://127.0.0.1:{closed}"),
            "MongoDB",
        ),
        ("REDIS_URL", format!("redis://127.0.0.1:{closed}"), "Redis"),
        (
            "AMQP_URLS",
            format!("amqp://guest:guest@127.0.0.1:{closed}/%2f"),
            "RabbitMQ",
        ),
    ]
}

/// The output of `command`, which must end within `limit` (a service that
/// would run on is killed, and the test fails saying so).
fn ended_within(mut command: Command, limit: Duration, service: &str) -> Output {
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the service runs");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("the service's status").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{service} still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("the service's output")
}

#[tokio::test]
async fn a_service_whose_store_does_not_answer_at_start_exits_1_naming_it() {
    let env = TestEnv::new().await;
    for service in ["ingest", "broadcaster", "workers"] {
        for (variable, url, store) in stores_nothing_serves() {
            let started = Instant::now();
            let mut command = Command::new(testkit::bins::path(service));
            command
                .envs(env.service_env())
                .env(variable, &url)
                .env("STARTUP_WAIT_S", "2")
                .env("RUST_BACKTRACE", "1");
            let ended = ended_within(command, Duration::from_secs(20), service);
            let stderr = String::from_utf8_lossy(&ended.stderr);
            let waited = started.elapsed();
            assert!(
                (Duration::from_secs(2)..Duration::from_secs(12)).contains(&waited),
                "{service}, {store}: ended after {waited:?}"
            );
            assert_eq!(ended.status.code(), Some(1), "{service}, {store}: {stderr}");
            // The logs (stderr too) end with the one line that says why.
            let last = stderr.lines().last().unwrap_or_default();
            assert!(
                last.starts_with(&format!("{service}: start-up: {store} at "))
                    && last.contains("STARTUP_WAIT_S"),
                "{stderr}"
            );
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
    }
    drop(env);
}

#[tokio::test]
async fn the_benchmark_with_a_store_nothing_serves_ends_within_seconds_naming_it() {
    let env = TestEnv::new().await;
    // dt-bench has no use for Redis.
    for (variable, url, store) in stores_nothing_serves()
        .into_iter()
        .filter(|(_, _, store)| *store != "Redis")
    {
        let started = Instant::now();
        let ended = Command::new(testkit::bins::path("dt-bench"))
            .args(["baselines", "--smoke"])
            .envs(env.service_env())
            .env(variable, &url)
            .env("DT_BENCH_TOKEN", "unused: the stores are reached first")
            .env("RUST_BACKTRACE", "1")
            .output()
            .expect("dt-bench runs");
        let stderr = String::from_utf8_lossy(&ended.stderr);
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{store}: took {:?}",
            started.elapsed()
        );
        assert_eq!(ended.status.code(), Some(1), "{store}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{store}: {stderr}");
        assert!(
            stderr.starts_with("dt-bench: ") && stderr.contains(store),
            "{stderr}"
        );
    }
    drop(env);
}
