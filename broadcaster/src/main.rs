use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::telemetry::init("broadcaster");
    let listen: std::net::SocketAddr = shared::config::var(
        "BROADCASTER_LISTEN",
        "127.0.0.1:8081".parse().context("default address")?,
    )?;
    tracing::warn!(%listen, "broadcaster is a placeholder: WebSocket delivery is not implemented yet");
    shared::shutdown::on_signal().cancelled().await;
    Ok(())
}
