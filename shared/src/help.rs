//! The services' command lines: `--help` (and `--version`) answered, a
//! wrong argument refused in one line with exit status 2. Their settings
//! are environment variables, documented once, in README.md's
//! configuration table; `--help` lists the rows that name the service (or
//! `all`), read from that table as it was when the binary was built, so
//! the help cannot drift from the documentation.

use clap::error::ErrorKind;
use clap::{ArgMatches, Command};

/// `service`'s settings from the README's configuration table: one entry
/// per row whose "used by" names it or says `all`.
pub fn environment(readme: &str, service: &str) -> String {
    let mut out = String::from("Environment (see README.md, \"Configuration\"):\n");
    let rows = readme
        .lines()
        .skip_while(|line| !line.starts_with("| variable | default | used by |"))
        .skip(2)
        .take_while(|line| line.starts_with("| `"));
    for row in rows {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
        let [names, meaning, used_by] = cells.as_slice() else {
            continue;
        };
        let used = used_by
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
            .any(|word| word == service || word == "all");
        if used {
            out.push_str(&format!(
                "  {}\n      {}\n",
                names.replace('`', ""),
                meaning.replace('`', "")
            ));
        }
    }
    out
}

/// Parses the process's arguments against `command`, with the service's
/// settings (from `readme`: the binary includes README.md itself, so a
/// README edit relinks the binaries, not every crate) after the options
/// in `--help`. Help and version are printed
/// and the process ends (status 0); anything else wrong is one line on
/// standard error and status 2.
pub fn parse(command: Command, service: &str, readme: &str) -> ArgMatches {
    let command = command
        .version(env!("CARGO_PKG_VERSION"))
        .after_long_help(environment(readme, service));
    command
        .try_get_matches()
        .unwrap_or_else(|error| refuse(error, service))
}

/// A command line that did not parse: help or version printed (status
/// 0), or one line on standard error (status 2) instead of clap's usage
/// block.
pub fn refuse(error: clap::Error, program: &str) -> ! {
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = error.print();
        let status = if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            2
        } else {
            0
        };
        std::process::exit(status)
    }
    eprintln!(
        "{program}: {}; try `{program} --help`",
        one_line(&error.to_string())
    );
    std::process::exit(2)
}

/// Ends a process that failed: `{program}: {reason}` as the last line on
/// standard error, status 1. It exits at once rather than returning from
/// `main`: the runtime's teardown would cancel the task a broker connection
/// attempt left behind, and lapin's I/O thread would panic after the line
/// that says why.
pub fn fail(program: &str, reason: &str) -> ! {
    let words: Vec<&str> = reason.split_whitespace().collect();
    eprintln!("{program}: {}", words.join(" "));
    std::process::exit(1)
}

/// clap's message without its usage block and tips, on one line.
fn one_line(rendered: &str) -> String {
    let first = rendered.split("\n\n").next().unwrap_or(rendered);
    let words: Vec<&str> = first.split_whitespace().collect();
    words.join(" ").trim_start_matches("error: ").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_gets_its_rows_and_the_shared_ones_only() {
        let readme = "intro\n\n| variable | default | used by |\n|---|---|---|\n\
            | `DATABASE_URL` | `postgres://x` | all |\n\
            | `INGEST_LISTEN` | `127.0.0.1:8080` | ingest |\n\
            | `A` / `B` | `1` / `2` | ingest, workers (webhook pool) |\n\
            | `WS_MAX` | `5` | broadcaster |\n\nafter\n| `NOT_A_ROW` | x | all |\n";
        let help = environment(readme, "ingest");
        assert!(
            help.contains("  DATABASE_URL\n      postgres://x\n"),
            "{help}"
        );
        assert!(help.contains("  INGEST_LISTEN\n"));
        assert!(help.contains("  A / B\n      1 / 2\n"));
        assert!(!help.contains("WS_MAX") && !help.contains("NOT_A_ROW"));
        let workers = environment(readme, "workers");
        assert!(workers.contains("A / B") && !workers.contains("INGEST_LISTEN"));
    }

    #[test]
    fn clap_messages_become_one_line() {
        let missing = "error: the following required arguments were not provided:\n  <ID>\n\nUsage: workers dlq redrive <ID>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(missing),
            "the following required arguments were not provided: <ID>"
        );
        let unknown = "error: unexpected argument '--x' found\n\n  tip: to pass '--x' as a value, use '-- --x'\n\nUsage: dt-bench\n";
        assert_eq!(one_line(unknown), "unexpected argument '--x' found");
    }

    const README: &str = include_str!("../../README.md");

    #[test]
    fn the_built_in_readme_documents_every_service() {
        for service in ["ingest", "workers", "broadcaster"] {
            let help = environment(README, service);
            assert!(help.contains("DATABASE_URL"), "{service}: {help}");
            assert!(help.lines().count() > 20, "{service}: {help}");
        }
        assert!(environment(README, "ingest").contains("INGEST_LISTEN"));
        assert!(environment(README, "broadcaster").contains("WS_MAX_CONNECTIONS"));
        assert!(environment(README, "workers").contains("WORKER_POOLS"));
    }
}
