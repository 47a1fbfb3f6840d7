use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::telemetry::init("ingest");
    shared::telemetry::raise_open_files_limit();
    let config = ingest::IngestConfig::from_env().context("configuration")?;
    let shutdown = shared::shutdown::on_signal();
    let app = ingest::Application::build(config, shutdown)
        .await
        .context("start-up")?;
    println!("ingest listening on http://{}", app.local_addr());
    app.run().await;
    Ok(())
}
