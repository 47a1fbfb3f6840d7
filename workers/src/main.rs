//! `workers`: runs the worker pools; `workers dlq ...` inspects and re-drives
//! the dead-letter queue.

use anyhow::Context;
use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};
use workers::dlq::{self, Selection};

fn command() -> Command {
    let list = Command::new("list")
        .about("List dead letters with their reasons")
        .arg(
            Arg::new("limit")
                .long("limit")
                .value_parser(value_parser!(u16))
                .default_value("100")
                .help("At most this many"),
        );
    let redrive = Command::new("redrive")
        .about("Send dead letters back where they were going")
        .arg(
            Arg::new("all")
                .long("all")
                .action(ArgAction::SetTrue)
                .help("Every dead letter"),
        )
        .arg(
            Arg::new("id")
                .required_unless_present("all")
                .conflicts_with("all")
                .help("The dead letter(s) with this id"),
        );
    Command::new("workers")
        .about(
            "DeliverTrack's worker pools (WORKER_POOLS: packages, locations, mail, webhooks): \
             they apply what ingest queued to PostgreSQL and MongoDB and publish the results. \
             Without a subcommand, runs the pools; configured by environment variables only.",
        )
        .subcommand(
            Command::new("dlq")
                .about("Inspect and re-drive the dead-letter queue (needs the broker only)")
                .subcommand_required(true)
                .subcommand(list)
                .subcommand(redrive),
        )
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let matches = shared::help::parse(command(), "workers", include_str!("../../README.md"));
    let telemetry = shared::telemetry::init("workers");
    let outcome = run(&matches).await;
    telemetry.shutdown();
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // One line, whatever the log format: what an operator reads first.
        Err(error) => shared::help::fail("workers", &format!("{error:#}")),
    }
}

async fn run(matches: &ArgMatches) -> anyhow::Result<()> {
    shared::telemetry::return_large_blocks_to_the_system();
    // The dead-letter tools move messages as they are: the broker is all
    // they need (no signing key, no stores).
    let broker = || shared::config::broker_from_env().context("configuration");
    let Some(("dlq", dlq_matches)) = matches.subcommand() else {
        let config = workers::WorkerConfig::from_env().context("configuration")?;
        config.require_bootstrap_admin().context("configuration")?;
        let wait = shared::reach::wait_from_env().context("configuration")?;
        shared::reach::every_store(&config.common, wait)
            .await
            .context("start-up")?;
        let shutdown = shared::shutdown::on_signal();
        workers::run(config, shutdown).await?;
        return Ok(());
    };
    match dlq_matches.subcommand() {
        Some(("list", list)) => {
            let limit = list.get_one::<u16>("limit").copied().unwrap_or(100);
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
        Some(("redrive", redrive)) => {
            let selection = match redrive.get_one::<String>("id") {
                Some(id) if !redrive.get_flag("all") => Selection::Id(id.clone()),
                _ => Selection::All,
            };
            let (brokers, topology) = broker()?;
            let count = dlq::redrive(&brokers, &topology, &selection)
                .await
                .context("dlq redrive")?;
            println!("{count} dead letter(s) re-driven");
        }
        // `subcommand_required`: clap refused anything else already.
        _ => anyhow::bail!("dlq: list or redrive"),
    }
    Ok(())
}
