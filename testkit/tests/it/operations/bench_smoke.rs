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
    let api = app.base.clone();
    let stdout = dt_bench(
        &[
            "all", "--smoke", "--api", &api, "--ws", &ws, "--token", &token,
        ],
        env,
    )
    .await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_scenario_fills_the_stores_and_measures_each_size() {
    let app = TestApp::spawn().await;
    let env = app.env.service_env();
    let token = app.env.token(&app.admin);
    let charts = tempfile_dir();
    let (api, charts_arg) = (app.base.clone(), charts.to_string_lossy().into_owned());
    let stdout = dt_bench(
        &[
            "scale",
            "--smoke",
            "--no-baselines",
            "--api",
            &api,
            "--token",
            &token,
            "--scale-sizes",
            "3000,1000",
            "--scale-history",
            "2000",
            "--scale-latest",
            "500",
            "--scale-charts",
            &charts_arg,
        ],
        env,
    )
    .await;
    // Each size, in ascending order, with every path measured.
    let first = stdout.find("| scale 1k | filled |").expect(&stdout);
    let second = stdout.find("| scale 3k | filled |").expect(&stdout);
    assert!(first < second, "{stdout}");
    for measure in [
        "feed checkpoint, nothing changed",
        "GET /stats",
        "GET /packages/{tn} (not cached)",
        "GET /packages/{tn}/locations",
        "GET /locations/near (2 km)",
        "feed resume after the flows",
    ] {
        assert!(
            stdout.contains(&format!("| scale 3k | {measure} |")),
            "{measure} missing:\n{stdout}"
        );
    }
    assert!(stdout.contains("| scale 3k: package-flow |"), "{stdout}");
    assert!(stdout.contains("| scale 3k: drain (backlog) |"), "{stdout}");
    assert!(!stdout.contains("LOST"), "{stdout}");
    // The stores hold what the sizes say.
    let filled: i64 =
        sqlx::query_scalar("SELECT count(*) FROM packages WHERE tracking_number LIKE 'SCALE%'")
            .fetch_one(&app.env.pool)
            .await
            .unwrap();
    assert_eq!(filled, 3000);
    for chart in ["scale-latency.svg", "scale-throughput.svg"] {
        let svg = std::fs::read_to_string(charts.join(chart)).expect(chart);
        assert!(
            svg.contains("<svg") && svg.contains("GET /stats") == (chart == "scale-latency.svg"),
            "{chart}"
        );
    }
    let _ = std::fs::remove_dir_all(&charts);
    app.shutdown().await;
}

/// What `dt-bench` with `args` printed, once it succeeded (else the test
/// fails with its output).
async fn dt_bench(args: &[&str], env: Vec<(String, String)>) -> String {
    let (args, binary): (Vec<String>, _) = (
        args.iter().map(|a| (*a).to_owned()).collect(),
        testkit::bins::path("dt-bench"),
    );
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(binary)
            .args(args)
            .envs(env)
            .output()
    })
    .await
    .unwrap()
    .expect("dt-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "dt-bench failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A directory of this test's own under the system's temporary one.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dt-bench-scale-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}
