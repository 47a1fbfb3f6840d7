use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::telemetry::init("workers");
    let config = workers::WorkerConfig::from_env().context("configuration")?;
    let shutdown = shared::shutdown::on_signal();
    workers::run(config, shutdown).await.context("workers")?;
    Ok(())
}
