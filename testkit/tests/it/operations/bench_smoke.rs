//! A short run of every `dt-bench` scenario against an in-process system: the
//! benchmark keeps working, and its own loss checks pass.

use testkit::app::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_benchmark_scenario_runs_and_loses_nothing() {
    let mut app = TestApp::spawn_with(testkit::app::Options::default().with_webhooks(|_| {})).await;
    let env = app.env.service_env();
    let token = app.env.token(&app.admin);
    // One caller holding many sockets, as a load generator does.
    let ws = app
        .broadcaster(|c| {
            c.max_connections = 256;
            c.per_account = 0;
        })
        .await
        .base_url;
    let (api, binary) = (app.base.clone(), testkit::bins::path("dt-bench"));
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(binary)
            .args([
                "all", "--smoke", "--api", &api, "--ws", &ws, "--token", &token,
            ])
            .envs(env)
            .output()
    })
    .await
    .unwrap()
    .expect("dt-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "dt-bench failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for scenario in [
        "baseline",
        "locations-single",
        "locations-batch (json)",
        "locations-batch (msgpack)",
        "package-flow",
        "reads (hot)",
        "reads (cold)",
        "broadcast",
        "broadcast (hot package)",
        "drain (backlog)",
        "couriers (osmand)",
        "geofences",
        "webhooks",
    ] {
        assert!(
            stdout.contains(&format!("| {scenario} |")),
            "{scenario} missing:\n{stdout}"
        );
    }
    assert!(stdout.contains("| signing (status update, "), "{stdout}");
    assert!(!stdout.contains("LOST"), "{stdout}");
    assert!(
        stdout.contains("| couriers (osmand) | courier points applied |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| geofences | points drained with 500 zones |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| webhooks | accepted events delivered |"),
        "{stdout}"
    );
    app.shutdown().await;
}
