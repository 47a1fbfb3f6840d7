use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::telemetry::init("ingest");
    let config = ingest::IngestConfig::from_env().context("configuration")?;
    let shutdown = shared::shutdown::on_signal();
    let app = ingest::Application::build(config, shutdown)
        .await
        .context("start-up")?;
    println!("ingest listening on http://{}", app.local_addr());
    app.run().await;
    Ok(())
}
