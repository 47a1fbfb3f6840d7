use anyhow::Context;
use std::process::ExitCode;

/// Every request allocates (headers, bodies, JSON): mimalloc's per-thread
/// heaps cost a fraction of glibc's malloc there (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // `--help` lists the settings; any argument is refused.
    shared::help::parse(
        clap::Command::new("ingest").about("DeliverTrack's HTTP API: every write becomes a confirmed RabbitMQ message before it is answered; reads come from cached views. Configured by environment variables only."),
        "ingest",
        include_str!("../../README.md"),
    );
    let telemetry = shared::telemetry::init("ingest");
    let outcome = run().await;
    telemetry.shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        // One line, whatever the log format: what an operator reads first.
        Err(error) => shared::help::fail("ingest", &format!("{error:#}")),
    }
}

async fn run() -> anyhow::Result<()> {
    shared::telemetry::return_large_blocks_to_the_system();
    shared::telemetry::raise_open_files_limit();
    let config = ingest::IngestConfig::from_env().context("configuration")?;
    let wait = shared::reach::wait_from_env().context("configuration")?;
    shared::reach::every_store(&config.common, wait)
        .await
        .context("start-up")?;
    let shutdown = shared::shutdown::on_signal();
    let app = ingest::Application::build(config, shutdown)
        .await
        .context("start-up")?;
    println!("ingest listening on http://{}", app.local_addr());
    app.run().await?;
    Ok(())
}
