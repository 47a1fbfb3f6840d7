//! Logging and trace export shared by the binaries.
//!
//! Logs go to stderr, so stdout carries only what a script may parse (the
//! listening address). `RUST_LOG` sets levels; `LOG_FORMAT=json` writes one
//! JSON object per line, with the fields of the spans it happened in (a
//! message's `trace_id`, say).
//!
//! With `OTEL_EXPORTER_OTLP_ENDPOINT` set (OTLP over HTTP/protobuf, e.g.
//! `http://collector:4318`), spans are also exported, each continuing the
//! trace its request or message carried ([`continue_trace`]), and what a span
//! sends onward names it as the parent ([`outgoing_traceparent`]). Unset,
//! nothing is exported and none of it costs anything.

use crate::trace::TraceParent;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::collections::HashMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Whether spans are exported: without it, continuing and propagating
/// traces is skipped (no per-request or per-message allocations for nothing).
static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn exporting() -> bool {
    EXPORTING.load(std::sync::atomic::Ordering::Relaxed)
}

/// Keeps the trace exporter for the process's life; [`Telemetry::shutdown`]
/// sends what it still holds.
#[must_use = "dropping it stops the trace export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Flushes spans not exported yet (bounded by the exporter's timeout).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(error) = provider.shutdown() {
                eprintln!("trace export did not shut down cleanly: {error}");
            }
        }
    }
}

pub fn init(service: &str) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "info,{service}=info,shared=info,lapin=warn,sqlx=warn"
        ))
    });
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // Colours only for a terminal: a log file gets plain text, and no
    // request pays for escape codes nobody sees.
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt::layer()
        .with_target(true)
        .with_ansi(colours)
        .with_writer(std::io::stderr);
    let logs = if json {
        logs.json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed()
    } else {
        logs.boxed()
    };
    let (provider, problem) = match exporter(service) {
        Ok(provider) => (provider, None),
        Err(problem) => (None, Some(problem)),
    };
    let export = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(format!("delivertrack-{service}")))
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(export)
        .try_init();
    if let Some(problem) = problem {
        tracing::warn!(%problem, "OTLP trace export is off");
    } else if provider.is_some() {
        EXPORTING.store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::info!("exporting traces over OTLP");
    }
    Telemetry { provider }
}

/// The OTLP exporter, when `OTEL_EXPORTER_OTLP_ENDPOINT` asks for one. The
/// exporter reads the standard `OTEL_*` variables itself.
fn exporter(service: &str) -> Result<Option<SdkTracerProvider>, String> {
    let wanted = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        .is_ok_and(|e| !e.trim().is_empty());
    if !wanted {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| e.to_string())?;
    let name =
        std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| format!("delivertrack-{service}"));
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(name)
        .build();
    Ok(Some(
        SdkTracerProvider::builder()
            .with_resource(resource)
            .with_batch_exporter(exporter)
            .build(),
    ))
}

/// Makes `span` continue the trace of `traceparent` (the request's or the
/// message's) in the exported traces. Without export, it does nothing.
pub fn continue_trace(span: &tracing::Span, traceparent: impl std::fmt::Display) {
    if !exporting() {
        return;
    }
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_string())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(parent);
}

/// The `traceparent` for what `span` sends onward: the span itself when it
/// is exported (the collector then links the next hop to it), else
/// `fallback` (the same trace, a fresh parent id).
pub fn outgoing_traceparent(span: &tracing::Span, fallback: &TraceParent) -> String {
    if !exporting() {
        return fallback.to_string();
    }
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier
        .remove("traceparent")
        .filter(|t| TraceParent::parse(t).is_some_and(|t| t.trace_id() == fallback.trace_id()))
        .unwrap_or_else(|| fallback.to_string())
}

/// Makes glibc give large blocks (128 KiB and up: request bodies, location
/// batches) back to the system when they are freed. By default glibc raises
/// that threshold each time such a block is freed, after which large blocks
/// come from its heaps and stay there: a burst of a hundred 1 MiB bodies
/// left ingest 150 MiB larger for good, and each burst after it added more
/// (`dt-bench hostile`, docs/PERFORMANCE.md). Fixing the threshold keeps
/// memory after a burst where it was before. Call it first thing in `main`.
/// An operator's own `MALLOC_MMAP_THRESHOLD_` (which glibc reads at start)
/// is left as it is.
pub fn return_large_blocks_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        const THRESHOLD: libc::c_int = 128 * 1024;
        // SAFETY: mallopt only sets an allocator parameter; it is called
        // with a valid parameter and value, and glibc serializes it.
        let done = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD) };
        if done != 1 {
            tracing::warn!("could not set the allocator's mmap threshold");
        }
    }
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
