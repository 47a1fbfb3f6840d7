//! The `ingest` binary as an operator runs it: configuration errors are one
//! clear line, and SIGTERM stops it cleanly with exit status 0.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::{KillOnDrop, TestEnv};

const SECRET: &str = "a test secret of at least thirty-two bytes";
const SIGNING_KEY: &str = "a test signing key of at least 32 bytes";
const WEBHOOK_KEY: &str = "a test webhook key of at least 32 bytes";

/// A service binary with all its secrets set.
fn service(name: &str) -> Command {
    let mut command = Command::new(testkit::bins::path(name));
    command
        .env("JWT_SECRET", SECRET)
        .env("MESSAGE_SIGNING_KEY", SIGNING_KEY)
        .env("WEBHOOK_SECRET_KEY", WEBHOOK_KEY)
        .env_remove("AUTH_DISABLED")
        .env_remove("RUST_LOG");
    command
}

#[test]
fn a_malformed_variable_stops_start_up_naming_it() {
    let output = service("ingest")
        .env("INGEST_LISTEN", "not-an-address")
        .output()
        .expect("run ingest");
    refused_naming(&output, "INGEST_LISTEN");
    let output = service("ingest")
        .env("DATABASE_URL", "localhost/db")
        .output()
        .expect("run ingest");
    refused_naming(&output, "DATABASE_URL");
}

/// Start-up was refused the way an operator expects: exit status 1 (not a
/// signal, not a panic), one line naming the variable.
fn refused_naming(output: &std::process::Output, variable: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{variable}: {stderr}");
    assert!(stderr.contains(variable), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("ingest:"))
        .collect();
    assert_eq!(said.len(), 1, "one line: {stderr}");
    assert!(said[0].contains(variable), "{stderr}");
}

#[test]
fn without_a_token_secret_the_services_refuse_to_start_unless_auth_is_disabled() {
    for service in ["ingest", "broadcaster"] {
        let output = self::service(service)
            .env_remove("JWT_SECRET")
            .output()
            .expect("run the service");
        assert!(
            !output.status.success(),
            "{service} started without JWT_SECRET"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("JWT_SECRET"), "{service}: {stderr}");
        let short = self::service(service)
            .env("JWT_SECRET", "too short")
            .output()
            .expect("run the service");
        assert!(!short.status.success(), "{service} took a short secret");
    }
    // The key every webhook secret is derived from has no default either:
    // ingest shows secrets at registration, the webhook pool signs with them.
    for service in ["ingest", "workers"] {
        let output = self::service(service)
            .env_remove("WEBHOOK_SECRET_KEY")
            .output()
            .expect("run the service");
        assert!(
            !output.status.success(),
            "{service} started without WEBHOOK_SECRET_KEY"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("WEBHOOK_SECRET_KEY"), "{service}: {stderr}");
    }
    let output = service("workers")
        .env_remove("BOOTSTRAP_ADMIN_EMAIL")
        .output()
        .expect("run workers");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("BOOTSTRAP_ADMIN_EMAIL"), "{stderr}");
}

#[tokio::test]
async fn sigterm_stops_it_cleanly() {
    let env = TestEnv::new().await;
    let mut child = Command::new(testkit::bins::path("ingest"))
        .envs(env.service_env())
        .env("INGEST_LISTEN", "127.0.0.1:0")
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
    let stats = format!("{url}/api/v1/stats");
    let anonymous = reqwest::get(&stats).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let dispatcher = env.account(shared::auth::Role::Dispatcher).await;
    let signed = testkit::app::client_with_token(&env.token(&dispatcher))
        .get(&stats)
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200);

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
