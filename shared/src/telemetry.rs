//! Logging set-up shared by the binaries. `RUST_LOG` overrides the default level.

use tracing_subscriber::EnvFilter;

pub fn init(service: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("info,{service}=info,shared=info,lapin=warn,sqlx=warn")));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(true).try_init();
}
