//! The `ingest` binary as an operator runs it: configuration errors are one
//! clear line, and SIGTERM stops it cleanly with exit status 0.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::{KillOnDrop, TestEnv};

#[test]
fn a_malformed_variable_stops_start_up_naming_it() {
    let output = Command::new(testkit::bins::path("ingest"))
        .env("INGEST_LISTEN", "not-an-address")
        .output()
        .expect("run ingest");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("INGEST_LISTEN"), "{stderr}");
    let output = Command::new(testkit::bins::path("ingest"))
        .env("DATABASE_URL", "localhost/db")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("DATABASE_URL"));
}

#[tokio::test]
async fn sigterm_stops_it_cleanly() {
    let env = TestEnv::new().await;
    let mut child = Command::new(testkit::bins::path("ingest"))
        .env("INGEST_LISTEN", "127.0.0.1:0")
        .env("DATABASE_URL", &env.config.database_url)
        .env("AMQP_PREFIX", env.topology().prefix())
        .env("REDIS_PREFIX", &env.config.redis_prefix)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn ingest");
    let pid = child.id();
    let _kill_on_panic = KillOnDrop(pid);
    let stdout = child.stdout.take().unwrap();
    let (first_line, mut lines) = tokio::sync::mpsc::channel(1);
    // Reads stdout to its end, so the child never writes into a closed pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = first_line.try_send(line);
        }
    });
    let line = tokio::time::timeout(Duration::from_secs(15), lines.recv())
        .await
        .expect("ingest starts")
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let health = reqwest::get(format!("{url}/api/v1/stats")).await.unwrap();
    assert_eq!(health.status(), 200);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(
        Duration::from_secs(15),
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await
    .expect("ingest exits in time")
    .unwrap()
    .unwrap();
    assert_eq!(exit.code(), Some(0));
}
