use anyhow::Context;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    // `--help` lists the settings; any argument is refused.
    shared::help::parse(
        clap::Command::new("broadcaster").about("DeliverTrack's WebSocket server: result events to subscribed watchers. Configured by environment variables only."),
        "broadcaster",
        include_str!("../../README.md"),
    );
    let telemetry = shared::telemetry::init("broadcaster");
    let outcome = run().await;
    telemetry.shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        // One line, whatever the log format: what an operator reads first.
        Err(error) => shared::help::fail("broadcaster", &format!("{error:#}")),
    }
}

async fn run() -> anyhow::Result<()> {
    shared::telemetry::return_large_blocks_to_the_system();
    shared::telemetry::raise_open_files_limit();
    let config = broadcaster::BroadcasterConfig::from_env().context("configuration")?;
    let wait = shared::reach::wait_from_env().context("configuration")?;
    shared::reach::every_store(&config.common, wait)
        .await
        .context("start-up")?;
    let shutdown = shared::shutdown::on_signal();
    let app = broadcaster::Application::build(config, shutdown)
        .await
        .context("start-up")?;
    println!("broadcaster listening on ws://{}/ws", app.local_addr());
    app.run().await;
    Ok(())
}
