//! `workers`: runs the worker pools; `workers dlq ...` inspects and re-drives
//! the dead-letter queue.

use anyhow::{bail, Context};
use workers::dlq::{self, Selection};

const USAGE: &str = "usage:
  workers                        run the worker pools (WORKER_POOLS, WORKER_SHARDS)
  workers dlq list [--limit N]   list dead letters with their reasons (default 100)
  workers dlq redrive --all      send every dead letter back where it was going
  workers dlq redrive ID         send the dead letter(s) with this id back";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let telemetry = shared::telemetry::init("workers");
    let outcome = run().await;
    telemetry.shutdown();
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One line, whatever the log format: what an operator reads first.
            eprintln!("workers: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    shared::telemetry::return_large_blocks_to_the_system();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // The dead-letter tools move messages as they are: the broker is all
    // they need (no signing key, no stores).
    let broker = || shared::config::broker_from_env().context("configuration");
    match args.as_slice() {
        [] => {
            let config = workers::WorkerConfig::from_env().context("configuration")?;
            config.require_bootstrap_admin().context("configuration")?;
            let shutdown = shared::shutdown::on_signal();
            workers::run(config, shutdown).await?;
        }
        ["dlq", "list", rest @ ..] => {
            let limit = match rest {
                [] => 100,
                ["--limit", n] => n.parse().context("--limit takes a number up to 65535")?,
                _ => bail!("{USAGE}"),
            };
            let (brokers, topology) = broker()?;
            let letters = dlq::list(&brokers, &topology, limit)
                .await
                .context("dlq list")?;
            println!("{:<38} {:<28} {:>7}  reason", "id", "from queue", "bytes");
            for letter in &letters {
                println!(
                    "{:<38} {:<28} {:>7}  {}",
                    letter.id, letter.queue, letter.bytes, letter.reason
                );
            }
            println!("{} dead letter(s)", letters.len());
        }
        ["dlq", "redrive", target] => {
            let selection = match *target {
                "--all" => Selection::All,
                id => Selection::Id(id.to_owned()),
            };
            let (brokers, topology) = broker()?;
            let count = dlq::redrive(&brokers, &topology, &selection)
                .await
                .context("dlq redrive")?;
            println!("{count} dead letter(s) re-driven");
        }
        ["--help" | "-h" | "help"] => println!("{USAGE}"),
        _ => bail!("{USAGE}"),
    }
    Ok(())
}
