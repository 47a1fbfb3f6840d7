//! Logging set-up shared by the binaries: to stderr, so stdout carries only
//! what a script may parse (the listening address). `RUST_LOG` overrides the level.

use tracing_subscriber::EnvFilter;

pub fn init(service: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "info,{service}=info,shared=info,lapin=warn,sqlx=warn"
        ))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_writer(std::io::stderr)
        .try_init();
}
