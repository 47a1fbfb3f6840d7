//! Logging set-up shared by the binaries: to stderr, so stdout carries only
//! what a script may parse (the listening address). `RUST_LOG` overrides the
//! level; `LOG_FORMAT=json` writes one JSON object per line, with the fields
//! of the spans it happened in (a message's `trace_id`, say).

use tracing_subscriber::EnvFilter;

pub fn init(service: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "info,{service}=info,shared=info,lapin=warn,sqlx=warn"
        ))
    });
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// Raises this process's open-files limit to the most it may have: a service
/// holding thousands of sockets must not stop at a default soft limit of
/// 1,024. Logs what it got, since connections beyond it are refused.
pub fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "open files limit"),
        Err(error) => tracing::warn!(%error, "could not raise the open files limit"),
    }
}
