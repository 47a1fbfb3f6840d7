use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::telemetry::init("broadcaster");
    shared::telemetry::raise_open_files_limit();
    let config = broadcaster::BroadcasterConfig::from_env().context("configuration")?;
    let shutdown = shared::shutdown::on_signal();
    let app = broadcaster::Application::build(config, shutdown)
        .await
        .context("start-up")?;
    println!("broadcaster listening on ws://{}/ws", app.local_addr());
    app.run().await;
    Ok(())
}
