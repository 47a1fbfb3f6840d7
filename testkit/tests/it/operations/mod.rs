//! Operating it: the binaries' command lines, metrics and traces, stats, the audit trail, dead letters, the topology's definitions, the workers binary, the benchmark's smoke run.

mod audit;
mod bench_smoke;
mod command_lines;
mod definitions;
mod dlq;
mod metrics;
mod reliability;
mod scaling;
mod system;
mod tracing;
mod workers_binary;
