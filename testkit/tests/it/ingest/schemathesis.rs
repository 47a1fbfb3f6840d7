//! Property-based testing of the REST API against its own OpenAPI document
//! with schemathesis: no 5xx, and every response as documented (status code,
//! content type, headers, body schema). Bounded in examples and time.
//!
//! Run by `scripts/test.sh`, which installs schemathesis and points
//! `SCHEMATHESIS` at it; alone: `SCHEMATHESIS=.local/schemathesis-venv/bin/schemathesis
//! cargo test -p testkit --test it -- --ignored schemathesis --nocapture`.

use std::process::Command;
use testkit::app::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs schemathesis (scripts/test.sh installs it and runs this)"]
async fn schemathesis_finds_no_server_error_and_no_undocumented_response() {
    let schemathesis = std::env::var("SCHEMATHESIS")
        .expect("SCHEMATHESIS must name the schemathesis executable (scripts/test.sh sets it)");
    let app = TestApp::spawn().await;
    let origin = app.base.trim_end_matches("/api/v1").to_owned();
    let scratch = std::env::temp_dir().join(format!("schemathesis-{}", app.env.id));
    std::fs::create_dir_all(&scratch).unwrap();
    let max_examples = std::env::var("SCHEMATHESIS_MAX_EXAMPLES").unwrap_or_else(|_| "40".into());
    let authorization = format!("Authorization: Bearer {}", app.env.token(&app.admin));
    let run = tokio::task::spawn_blocking(move || {
        Command::new("timeout")
            .arg("600")
            .arg(&schemathesis)
            .args(["--no-color", "run"])
            .arg(format!("{origin}/api/v1/openapi.json"))
            .args(["--url", &origin])
            // As an admin, so every operation is reachable; schemathesis
            // also checks that leaving the header out is refused.
            .args(["-H", &authorization])
            // Everything but the checks that require the schema to express
            // every validation rule (cross-field rules, timestamp windows).
            .args([
                "--exclude-checks",
                "positive_data_acceptance,negative_data_rejection",
            ])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--max-examples", &max_examples])
            // One worker: with two threads, CPython 3.11's ast.parse (which
            // hypothesis calls to describe its filters) can fail with
            // "AST constructor recursion depth mismatch", and schemathesis
            // reports its own crash as an error of an operation.
            .args(["--request-timeout", "15", "--workers", "1"])
            .current_dir(&scratch)
            .status()
    })
    .await
    .unwrap()
    .expect("schemathesis runs");
    let _ =
        std::fs::remove_dir_all(std::env::temp_dir().join(format!("schemathesis-{}", app.env.id)));
    assert!(
        run.success(),
        "schemathesis found problems (see its report above)"
    );
    app.shutdown().await;
}
